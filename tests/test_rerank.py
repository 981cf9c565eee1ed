"""The `rerank` decoding strategy: candidate likelihoods, the pick, and its wiring into LMGenerator."""
from __future__ import annotations


import pytest
import torch

from generation.base import GenerationSettings
from tests.support.tiny_lm import tiny_final_folder, tiny_reports

FINDINGS = ["Heart size normal. Lungs clear.", "Large right pleural effusion. Heart size is normal.",
            "Cardiomegaly. Pulmonary vascular congestion."]


@pytest.fixture(autouse=True)
def _single_thread(one_torch_thread):
    yield


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    from generation.project_lm import load_checkpoint_generator

    folder = tiny_final_folder(tmp_path_factory.mktemp("final"), seed=5, retrieved_examples=1, max_example_words=6)
    return load_checkpoint_generator(folder, train=tiny_reports(16))


def _mean_lp_alone(generator, prompt: str, target: str) -> float:
    """The same quantity without batching or padding: one sequence, every position's logits."""
    tok = generator.tokenizer
    p = tok(prompt, add_special_tokens=True)["input_ids"]
    t = tok(target, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    with torch.inference_mode():
        logits = generator.model(input_ids=torch.tensor([p + t])).logits[0].float()
    lp = torch.log_softmax(logits[len(p) - 1:-1], -1)
    return float(lp[torch.arange(len(t)), torch.tensor(t)].mean())


def test_batched_likelihoods_match_one_sequence_at_a_time(generator):
    from generation.rerank import mean_log_likelihoods

    prompts = generator.prompts.prompts(FINDINGS)
    targets = ["No acute disease.", "Large right pleural effusion with a much longer impression text.", ""]
    batched = mean_log_likelihoods(generator.model, generator.tokenizer, prompts, targets, batch_size=3)
    alone = [_mean_lp_alone(generator, p, t) for p, t in zip(prompts, targets)]
    assert batched == pytest.approx(alone, abs=1e-4)
    assert len(set(round(x, 4) for x in batched)) == 3  # distinct texts, distinct scores


def test_rerank_picks_the_best_scored_candidate(generator):
    from generation.rerank import RerankConfig, mean_log_likelihoods, rerank

    prompt = generator.prompts.prompts(FINDINGS[:1])
    own = ["Model text."]
    retrieved = [{"No acute disease.": 0.9, "Congestive heart failure.": 0.2}]
    texts = ["No acute disease.", "Congestive heart failure.", "Model text."]
    lps = dict(zip(texts, mean_log_likelihoods(generator.model, generator.tokenizer, prompt * 3, texts)))
    by_model = rerank(generator.model, generator.tokenizer, prompt, own, retrieved,
                      RerankConfig(similarity_weight=0, consensus_weight=0))
    assert by_model == [max(texts, key=lps.get)]
    by_similarity = rerank(generator.model, generator.tokenizer, prompt, own, retrieved,
                           RerankConfig(similarity_weight=1e6))
    assert by_similarity == ["No acute disease."]
    # the model's own text wins when it is the only candidate (no forward pass needed)
    assert rerank(generator.model, generator.tokenizer, prompt, own, [{}]) == own


def test_rerank_strategy_answers_from_the_candidates(generator):
    greedy = generator.generate(FINDINGS, GenerationSettings(max_new_tokens=8))
    settings = GenerationSettings(strategy="rerank", max_new_tokens=8)
    reranked = generator.generate(FINDINGS, settings)
    assert reranked == generator.generate(FINDINGS, settings)  # deterministic
    from core.impression_style import without_deid_marks
    from core.omissions import check, complete
    from generation.rerank import nearest_distinct

    config = generator.rerank_config
    pools = nearest_distinct(generator.prompts.neighbour_impressions(FINDINGS, config.search_depth), config.neighbours)
    assert all(len(pool) <= config.neighbours for pool in pools)
    # a candidate, completed with the findings sentences of the positive observations it leaves out
    assert all(r in {without_deid_marks(complete(f, c)) for c in [g, *pool]}
               for r, f, g, pool in zip(reranked, FINDINGS, greedy, pools))
    assert all(check(f, r).complete for f, r in zip(FINDINGS, reranked))
    assert list(generator.stream(FINDINGS[0], settings)) == [reranked[0]]  # one whole answer
    assert generator.describe()["rerank"]["neighbours"] == generator.rerank_config.neighbours


def test_neighbour_impressions_are_distinct_with_their_best_similarity(generator):
    pools = generator.prompts.neighbour_impressions(["Heart size normal. Lungs clear."], k=6)
    assert len(pools) == 1 and 1 <= len(pools[0]) <= 6
    assert all(0 < s <= 1 for s in pools[0].values())
    assert "No acute disease." in pools[0]


def test_unknown_strategy_and_bad_config_are_refused():
    from generation.rerank import RerankConfig

    with pytest.raises(ValueError, match="rerank"):
        GenerationSettings(strategy="sample")
    with pytest.raises(ValueError, match="similarity_weight"):
        RerankConfig(similarity_weight=-1)


def test_consistency_term_prefers_the_candidate_that_keeps_the_findings_and_completion_adds_the_rest(generator):
    from generation.rerank import RerankConfig, rerank

    findings = ["Large right pleural effusion. Heart size is normal."]
    prompt = generator.prompts.prompts(findings)
    own = ["Model text."]
    retrieved = [{"No acute disease.": 0.9, "Large right pleural effusion.": 0.1}]
    plain = RerankConfig(similarity_weight=8, complete_omissions=False, score_rewrites=False)
    assert rerank(generator.model, generator.tokenizer, prompt, own, retrieved, plain, findings) == ["No acute disease."]
    weighted = RerankConfig(similarity_weight=8, omission_weight=100, complete_omissions=False, score_rewrites=False)
    assert rerank(generator.model, generator.tokenizer, prompt, own, retrieved, weighted,
                  findings) == ["Large right pleural effusion."]
    completed = rerank(generator.model, generator.tokenizer, prompt, own, retrieved,
                       RerankConfig(similarity_weight=8), findings)
    assert completed == ["Large right pleural effusion. Otherwise, no acute disease."]  # never a bare "No acute ..."
    with pytest.raises(ValueError, match="omission_weight"):
        RerankConfig(omission_weight=-1)


def test_a_normal_boilerplate_candidate_is_rewritten_and_scored_and_the_answer_never_contradicts(generator, monkeypatch):
    """Issue 20: the retrieved "Clear lungs. No acute cardiopulmonary abnormality." beside a pneumothorax. The
    model scores its repaired rewrite; whatever wins, the answer keeps the finding and has no bare normal statement."""
    from core.consistency import check as consistency
    from core.omissions import check
    from generation import rerank as module
    from generation.rerank import RerankConfig, rerank

    findings = ["There is a large left pneumothorax with partial collapse of the left lung. Heart size normal."]
    prompt = generator.prompts.prompts(findings)
    boilerplate = "Clear lungs. No acute cardiopulmonary abnormality."
    scored: list[str] = []
    real = module.mean_log_likelihoods

    def spy(model, tokenizer, prompts, targets, batch_size=32):
        scored.extend(targets)
        return real(model, tokenizer, prompts, targets, batch_size)

    monkeypatch.setattr(module, "mean_log_likelihoods", spy)
    for config in (RerankConfig(), RerankConfig(omission_weight=0, inconsistency_weight=0, similarity_weight=50)):
        out = rerank(generator.model, generator.tokenizer, prompt, ["Model text."], [{boilerplate: 0.9}], config,
                     findings)[0]
        assert check(findings[0], out).complete and consistency(out, findings[0]).consistent, out
        assert out.startswith("A large left pneumothorax with partial collapse of the left lung.")
        assert "Otherwise, no acute cardiopulmonary abnormality." in out and "Clear lungs" not in out
    rewrite = "A large left pneumothorax with partial collapse of the left lung. Otherwise, no acute cardiopulmonary abnormality."
    assert rewrite in scored and boilerplate in scored


def test_nearest_distinct_keeps_the_first_k_impressions_of_a_deeper_search(generator):
    """Many nearest reports share one impression: the candidates are k distinct impressions, most similar first."""
    from generation.rerank import nearest_distinct

    deep = generator.prompts.neighbour_impressions(FINDINGS, 16)
    shallow = generator.prompts.neighbour_impressions(FINDINGS, 4)
    picked = nearest_distinct(deep, 4)
    assert all(list(p) == list(d)[:4] for p, d in zip(picked, deep))
    assert all(p[t] == d[t] for p, d in zip(picked, deep) for t in p)
    # the deeper search finds more distinct alternatives than the 4 nearest reports carry
    assert sum(map(len, picked)) > sum(map(len, shallow))
    with pytest.raises(ValueError, match="search_depth"):
        from generation.rerank import RerankConfig

        RerankConfig(neighbours=8, search_depth=4)


def test_consensus_is_the_similarity_weighted_mean_rouge1_against_the_retrieved_impressions():
    from rouge_score import rouge_scorer

    from generation.rerank import consensus

    scorer = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=True)  # the library itself, as the oracle
    support = {"No acute cardiopulmonary abnormality.": 0.8, "Small right pleural effusion.": 0.2,
               "Ignored, no weight.": 0.0}
    text = "Small right pleural effusions. No acute abnormality."
    expected = (sum(w * scorer.score(t, text)["rouge1"].fmeasure for t, w in support.items())
                / sum(support.values()))
    assert consensus(text, support) == pytest.approx(expected, abs=1e-12)
    assert consensus(text, {}) == 0.0 and consensus(text, {"x": 0.0}) == 0.0
    assert consensus("No acute cardiopulmonary abnormality.", support) > consensus("Small right pleural effusion.",
                                                                                   support)


def test_consensus_weight_moves_the_pick_to_what_similar_studies_agree_on(generator):
    """Two retrieved impressions nearly tie on similarity; the consensus term picks the one the others echo."""
    from generation.rerank import RerankConfig, rerank

    prompt = generator.prompts.prompts(FINDINGS[:1])
    retrieved = [{"Clear lungs.": 0.50, "No acute cardiopulmonary abnormality.": 0.49,
                  "No acute cardiopulmonary disease.": 0.48, "No acute abnormality.": 0.47}]
    huge = 1e4
    by_similarity = rerank(generator.model, generator.tokenizer, prompt, ["Model text."], retrieved,
                           RerankConfig(similarity_weight=huge, consensus_weight=0))
    by_consensus = rerank(generator.model, generator.tokenizer, prompt, ["Model text."], retrieved,
                          RerankConfig(similarity_weight=huge, consensus_weight=huge))
    assert by_similarity == ["Clear lungs."]
    assert by_consensus == ["No acute cardiopulmonary abnormality."]
    with pytest.raises(ValueError, match="consensus_weight"):
        RerankConfig(consensus_weight=-1)


def test_the_answer_shows_no_deidentification_mark(generator):
    """A retrieved radiologist's impression that kept XXXX is the best candidate: the answer has no XXXX."""
    from core.clinical import label_report
    from generation.rerank import RerankConfig, rerank

    findings = ["Mild bibasilar opacities. Heart size normal."]
    prompt = generator.prompts.prompts(findings)
    chosen = "XXXX bilateral lower lobe opacities. Otherwise, no acute cardiopulmonary abnormality."
    out = rerank(generator.model, generator.tokenizer, prompt, ["Model text."], [{chosen: 1.0}],
                 RerankConfig(similarity_weight=1e4), findings)[0]
    assert "XXXX" not in out and out.startswith("Bilateral lower lobe opacities.")
    assert label_report(out) == label_report(chosen)
