"""Baselines every model must beat: constant, lead sentence, TF-IDF retrieval."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from core.cleaning import split_sentences
from generation.base import GenerationSettings, GeneratorBase
from core.records import Report

NORMAL_IMPRESSION = "No acute cardiopulmonary abnormality."


@dataclass
class ConstantGenerator(GeneratorBase):
    """Always the most common normal impression."""

    text: str = NORMAL_IMPRESSION
    name: str = "constant"
    kind: str = "baseline"

    def _generate(self, findings: list[str], settings: GenerationSettings) -> list[str]:
        return [self.text for _ in findings]

    def _describe(self) -> dict:
        return {"text": self.text}


@dataclass
class LeadGenerator(GeneratorBase):
    """The first sentence of the findings."""

    name: str = "lead"
    kind: str = "baseline"

    def _generate(self, findings: list[str], settings: GenerationSettings) -> list[str]:
        return [next(iter(split_sentences(f)), f.strip()) for f in findings]

    def _describe(self) -> dict:
        return {"sentences": 1}


@dataclass
class RetrievalIndex:
    """TF-IDF (word 1-2 grams, sublinear tf) over training findings; cosine nearest neighbours."""

    reports: list[Report]
    _vectorizer: object = field(init=False, repr=False)
    _matrix: object = field(init=False, repr=False)

    def __post_init__(self) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        if not self.reports:
            raise ValueError("retrieval needs at least one training report")
        self._vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True)
        self._matrix = self._vectorizer.fit_transform([r.findings for r in self.reports])

    def nearest(self, findings: Sequence[str], k: int = 1, exclude_self: bool = False) -> list[list[int]]:
        """Indices of the k most similar training reports for each query.

        exclude_self skips neighbours whose findings equal the query (used when building training
        prompts, so a model never learns to copy its own answer).
        """
        return [[j for j, _ in row] for row in self.nearest_scored(findings, k, exclude_self)]

    def nearest_scored(self, findings: Sequence[str], k: int = 1,
                       exclude_self: bool = False) -> list[list[tuple[int, float]]]:
        """(index, cosine similarity) of the k most similar training reports for each query, best first."""
        import numpy as np

        if not findings:
            return []
        sims = (self._vectorizer.transform(list(findings)) @ self._matrix.T).toarray()
        out: list[list[tuple[int, float]]] = []
        for row, query in zip(sims, findings, strict=True):
            order = np.argsort(-row, kind="stable")
            picked: list[tuple[int, float]] = []
            for j in order:
                if exclude_self and self.reports[j].findings == query:
                    continue
                picked.append((int(j), float(row[j])))
                if len(picked) == k:
                    break
            out.append(picked)
        return out


@dataclass
class RetrievalGenerator(GeneratorBase):
    """The impression of the most similar training findings."""

    train: list[Report]
    name: str = "retrieval"
    kind: str = "baseline"
    _index: RetrievalIndex | None = field(default=None, init=False, repr=False)

    @property
    def index(self) -> RetrievalIndex:
        if self._index is None:
            self._index = RetrievalIndex(self.train)
        return self._index

    libraries = ("scikit-learn",)

    def _generate(self, findings: list[str], settings: GenerationSettings) -> list[str]:
        return [self.train[n[0]].impression for n in self.index.nearest(findings, k=1)]

    def _describe(self) -> dict:
        return {"train_reports": len(self.train), "features": "tfidf word 1-2gram, sublinear tf, cosine"}


def constant(spec: str, train: Sequence[Report]) -> ConstantGenerator:
    return ConstantGenerator()


def lead(spec: str, train: Sequence[Report]) -> LeadGenerator:
    return LeadGenerator()


def retrieval(spec: str, train: Sequence[Report]) -> RetrievalGenerator:
    if not train:
        raise ValueError("the retrieval baseline needs training reports (no report data was loaded)")
    return RetrievalGenerator(list(train))
