"""Impression generator backed by a causal-LM checkpoint folder (merged, or base plus LoRA adapter).

Batched generation with left padding and the KV cache; greedy or beam search; stops at EOS;
deterministic (no sampling). The registry's factories here:

  default      the project's fine-tuned model (models/default/final, or $RADLLAMA_MODEL)
  base         the same base model, prompted with the same template but never instruction-tuned
  model:PATH   any checkpoint folder written by training.train (`?ban_normal_openings`: see
               generation.constrained)
"""
from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterator, Sequence

from core.paths import BUILD_COMMAND_TEXT, BUILD_TIME_TEXT, FINAL_META, default_model_dir
from core.prompt import extract_impression
from core.records import Report
from generation.base import GenerationSettings, GeneratorBase
from generation.constrained import ConstrainedConfig, decode_constrained
from generation.greedy_decode import greedy_token_ids
from generation.prompting import PromptBuilder, TokenizedPrompts
from generation.rerank import RerankConfig, nearest_distinct, rerank
from generation.spec_options import flag, split_options

TRAIN_HINT = f"Build it with `{BUILD_COMMAND_TEXT}` ({BUILD_TIME_TEXT})."


DTYPE_ENV = "RADLLAMA_DTYPE"
DTYPES = ("float32", "bfloat16", "auto")


class ModelNotFound(FileNotFoundError):
    pass


def cpu_has_fast_bf16() -> bool:
    """True on CPUs with native bf16 matrix units (AMX or AVX512-BF16), where bf16 beats fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="ignore")
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def resolve_dtype(name: str | None = None, fallback: str = "float32") -> str:
    """The inference dtype for `name` (default: $RADLLAMA_DTYPE, else `fallback`); "auto" picks
    bfloat16 where the CPU computes it natively and float32 elsewhere."""
    name = name or os.environ.get(DTYPE_ENV) or fallback
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, not {name!r}")
    if name == "auto":
        return "bfloat16" if cpu_has_fast_bf16() else "float32"
    return name


def _require_model_dir(path: Path) -> Path:
    if not (path / "config.json").exists() and not (path / "adapter_config.json").exists():
        raise ModelNotFound(f"no model at {path}. {TRAIN_HINT}")
    return path


def _read_meta(path: Path) -> dict:
    meta_file = path / FINAL_META
    return json.loads(meta_file.read_text()) if meta_file.exists() else {}


def _resolve_base(path: Path, meta: dict) -> str:
    base = meta.get("base_model")
    if not base:
        raise ModelNotFound(f"{path} holds an adapter but {FINAL_META} names no base model")
    local = (path / base).resolve()
    return str(local) if local.exists() else base


def load_model_and_tokenizer(path: Path):
    """Model (eval mode) and tokenizer from a final/base folder; adapters are applied to their base."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = _require_model_dir(Path(path))
    meta = _read_meta(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    if (path / "adapter_config.json").exists():
        from peft import PeftModel
        base = AutoModelForCausalLM.from_pretrained(_resolve_base(path, meta))
        model = PeftModel.from_pretrained(base, path)
    else:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    model.eval()
    return model, tokenizer


THREADS_ENV = "RADLLAMA_INFERENCE_THREADS"
SMALL_MODEL_PARAMETERS = 100_000_000


@dataclass
class LMGenerator(TokenizedPrompts, GeneratorBase):
    """Writes impressions with a causal LM, many reports per forward pass."""

    model: object
    tokenizer: object
    prompts: PromptBuilder = field(default_factory=PromptBuilder)
    name: str = "default"
    kind: str = "model"
    batch_size: int = 32
    max_prompt_tokens: int | None = None
    source: str = ""
    rerank_config: RerankConfig = field(default_factory=RerankConfig)
    constrained_config: ConstrainedConfig = field(default_factory=ConstrainedConfig)
    libraries = ("torch", "transformers", "peft")

    def tune_inference_threads(self) -> None:
        """One torch thread for small models answering single requests (unless $RADLLAMA_INFERENCE_THREADS).

        A small model answering one request spends its time in per-token overhead, not in large
        matrix products; with two or more OpenMP threads on a busy CPU the threads spin against
        each other. Measured on 2 shared cores: 0.05 s per impression with one thread, about 1.9 s
        with two. The setting is process-wide: large models keep torch's default.
        """
        import torch

        threads = os.environ.get(THREADS_ENV)
        if threads:
            torch.set_num_threads(max(1, int(threads)))
        elif sum(p.numel() for p in self.model.parameters()) < SMALL_MODEL_PARAMETERS:
            torch.set_num_threads(1)

    def _tokenize(self, texts: Sequence[str]):
        enc = self.tokenizer(list(texts), return_tensors="pt", padding=True, add_special_tokens=self.special_tokens,
                             padding_side="left")
        return enc.to(self.model.device)

    def _encode(self, findings: Sequence[str], max_new_tokens: int):
        return self._tokenize(self._prompts(findings, max_new_tokens))

    def _context_length(self) -> int:
        return int(getattr(self.model.config, "max_position_embeddings", 2048) or 2048)

    def _generate_kwargs(self, settings: GenerationSettings) -> dict:
        beams = settings.num_beams if settings.strategy == "beam" else 1
        return {"max_new_tokens": settings.max_new_tokens, "do_sample": False, "num_beams": beams,
                "eos_token_id": self.tokenizer.eos_token_id, "pad_token_id": self.tokenizer.pad_token_id,
                "use_cache": True}

    def _generate(self, findings: list[str], settings: GenerationSettings) -> list[str]:
        """Impressions in input order; batches hold prompts of similar length to save padding.

        strategy "rerank" decodes greedily, then lets the model pick among its own answer and the
        impressions of the nearest training reports (generation.rerank); "constrained" decodes
        greedily and again where the model's text contradicts itself (generation.constrained).
        """
        texts = self._prompts(findings, settings.max_new_tokens)
        if settings.strategy == "constrained":
            return decode_constrained(texts, findings, self._continue, self.tokenizer, self.special_tokens,
                                      settings.max_new_tokens, self.constrained_config)
        if settings.strategy != "rerank":
            return self._decode(texts, settings)
        own = self._decode(texts, replace(settings, strategy="greedy"))
        config = self.rerank_config
        retrieved = nearest_distinct(self.prompts.neighbour_impressions(findings, config.search_depth), config.neighbours)
        return rerank(self.model, self.tokenizer, texts, own, retrieved, self.rerank_config, findings)

    def _decode(self, texts: Sequence[str], settings: GenerationSettings) -> list[str]:
        """Greedy or beam continuations of the prompts, cut to the impression."""
        import torch

        kwargs = self._generate_kwargs(settings)
        if kwargs["num_beams"] == 1:  # greedy: finished rows leave the batch (generation.greedy_decode)
            continued = self._continue(texts, [settings.max_new_tokens] * len(texts))
            return [extract_impression(text) for text in continued]
        out: list[str] = [""] * len(texts)
        for idx in self._batches(texts):
            enc = self._tokenize([texts[i] for i in idx])
            with torch.inference_mode():
                new_ids = self.model.generate(**enc, **kwargs)[:, enc["input_ids"].shape[1]:]
            decoded = self.tokenizer.batch_decode(new_ids, skip_special_tokens=True)
            for i, text in zip(idx, decoded, strict=True):
                out[i] = extract_impression(text)
        return out

    def _batches(self, texts: Sequence[str]) -> Iterator[list[int]]:
        """Indices of `texts` in batches of similar token length (less padding)."""
        lengths = [len(ids) for ids in self.tokenizer(list(texts), add_special_tokens=self.special_tokens)["input_ids"]]
        order = sorted(range(len(texts)), key=lambda i: lengths[i])
        for start in range(0, len(order), self.batch_size):
            yield order[start:start + self.batch_size]

    def _continue(self, texts: Sequence[str], limits: Sequence[int],
                  banned: Sequence[set[tuple[int, ...]]] | None = None) -> list[str]:
        """The raw greedy continuation of each text (at most limits[i] tokens; banned[i]: token sequences
        it may not begin with, generation.greedy_decode)."""
        out: list[str] = [""] * len(texts)
        for idx in self._batches(texts):
            enc = self._tokenize([texts[i] for i in idx])
            new_ids = greedy_token_ids(self.model, enc["input_ids"], enc["attention_mask"], [limits[i] for i in idx],
                                       self.tokenizer.eos_token_id, [banned[i] for i in idx] if banned else None)
            for i, text in zip(idx, self.tokenizer.batch_decode(new_ids, skip_special_tokens=True), strict=True):
                out[i] = text
        return out

    def stream(self, findings: str, settings: GenerationSettings = GenerationSettings()) -> Iterator[str]:
        """Partial impressions as tokens arrive (for the demo); the last one is the full impression.

        Beam search and reranking finish before they answer: they yield the whole impression once.
        """
        if settings.strategy != "greedy":
            yield self.generate([findings], settings)[0]
            return
        findings = self.prepare(findings, settings).text
        for text in self._stream_text(self._encode([findings], settings.max_new_tokens), settings):
            yield extract_impression(text)

    def _stream_text(self, enc, settings: GenerationSettings) -> Iterator[str]:
        """The growing continuation of one encoded prompt, greedy, as tokens arrive."""
        import torch
        from transformers import TextIteratorStreamer

        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        kwargs = {**self._generate_kwargs(settings), "num_beams": 1, "streamer": streamer}
        failure: list[BaseException] = []

        def run() -> None:
            try:
                with torch.inference_mode():
                    self.model.generate(**enc, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                failure.append(exc)
                streamer.end()

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        text = ""
        for piece in streamer:
            text += piece
            yield text
        worker.join()
        if failure:
            raise RuntimeError(f"generation failed: {failure[0]}") from failure[0]

    def _describe(self) -> dict:
        params = sum(p.numel() for p in self.model.parameters())
        dtype = str(next(self.model.parameters()).dtype).removeprefix("torch.")
        return {"model": self.source, "parameters": params, "dtype": dtype, "decoding": "deterministic (no sampling)",
                "rerank": asdict(self.rerank_config), "constrained": asdict(self.constrained_config),
                **self.prompts.describe()}


def load_checkpoint_generator(path: str | Path, train: Sequence[Report] | None = None, name: str | None = None,
                              use_examples: bool = True, dtype: str | None = None) -> LMGenerator:
    """A generator for a final (or base) folder. Retrieved examples, when the model was trained
    with them, come from `train` (default: the training split the model was trained on).

    dtype: float32, bfloat16 (weights cast; about twice as fast on CPUs with AMX, outputs may
    differ in rare near-ties) or auto; default $RADLLAMA_DTYPE, else float32.
    """
    dtype = resolve_dtype(dtype)
    path = _require_model_dir(Path(path))
    meta = _read_meta(path)
    k = int(meta.get("retrieved_examples", 0)) if use_examples else 0
    if k and not train:
        from reports.dataset import load_split
        train = load_split(meta.get("data")).train
        if meta.get("max_train_reports"):
            train = train[: meta["max_train_reports"]]
    builder = PromptBuilder(list(train or []) if k else [], k, int(meta.get("max_example_words", 40)))
    model, tokenizer = load_model_and_tokenizer(path)
    if dtype != "float32":
        import torch
        model.to(getattr(torch, dtype))
    return LMGenerator(model, tokenizer, builder, name=name or path.name, source=str(path))


def base_model_dir(final_dir: Path) -> Path:
    """The un-tuned base beside a final folder (scratch recipes save it as RUN/base)."""
    final_dir = _require_model_dir(final_dir)
    meta = _read_meta(final_dir)
    ref = meta.get("base_model", "../base")
    local = (final_dir / ref).resolve()
    if not local.exists():
        raise ModelNotFound(f"base model {ref} of {final_dir} is not a local folder. {TRAIN_HINT}")
    return local


def default_system(spec: str, train: Sequence[Report]) -> LMGenerator:
    # bf16 where the CPU has AMX/AVX512-BF16: ~2x faster; validation/test ROUGE of rerank unchanged (README)
    return load_checkpoint_generator(default_model_dir(), train=train, name=spec, dtype=resolve_dtype(fallback="auto"))


def base_system(spec: str, train: Sequence[Report]) -> LMGenerator:
    return load_checkpoint_generator(base_model_dir(default_model_dir()), train=train, name=spec,
                                     use_examples=False, dtype=resolve_dtype(fallback="auto"))


CHECKPOINT_OPTIONS = {"ban_normal_openings": "strategy constrained: an impression of abnormal findings may not open "
                                             "with a whole-study normal word (generation.constrained)"}


def checkpoint_system(spec: str, train: Sequence[Report]) -> LMGenerator:
    """`model:PATH[?ban_normal_openings]`: a folder written by training.train (final/, base/ or a step checkpoint)."""
    raw_path, options = split_options(spec.split(":", 1)[1], CHECKPOINT_OPTIONS, spec)
    generator = load_checkpoint_generator(Path(raw_path).expanduser(), train=train, name=spec)
    if flag(options, "ban_normal_openings"):
        generator.constrained_config = ConstrainedConfig(ban_normal_openings=True)
    return generator
