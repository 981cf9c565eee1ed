"""Strategy "constrained" (generation.constrained): the model's own greedy text, decoded again where it
contradicts itself, so the answer never does. Scripted tiny Llamas (tests/support/scripted_lm.py) write
known texts; the real LMGenerator, tokenizer and greedy decoder do the rest."""
from __future__ import annotations

import pytest

from core.consistency import DENIES_FINDINGS, NORMAL_STUDY, check, make_consistent
from core.prompt import build_prompt
from generation.base import STRATEGIES, GenerationSettings
from generation.constrained import ConstrainedConfig, decode_constrained, qualified_opening, word_tokens
from generation.project_lm import LMGenerator
from generation.prompting import PromptBuilder
from tests.support.scripted_lm import scripted_llama, scripted_tokenizer

PNEUMOTHORAX = "Large left pneumothorax."
NORMAL = "Heart normal."
CONTRADICTING = "Large left pneumothorax. No acute cardiopulmonary abnormality"
GREEDY = GenerationSettings("greedy", max_new_tokens=40)
CONSTRAINED = GenerationSettings("constrained", max_new_tokens=40)


@pytest.fixture(autouse=True)
def _single_thread(one_torch_thread):
    yield


@pytest.fixture(scope="module")
def tok():
    return scripted_tokenizer()


def _generator(tok, paths, **kwargs) -> LMGenerator:
    return LMGenerator(scripted_llama(tok, paths), tok, PromptBuilder(), name="scripted", **kwargs)


def _prompt(findings: str, impression: str = "") -> str:
    return build_prompt(findings) + impression


def test_a_normal_statement_after_a_finding_is_written_again_qualified(tok):
    gen = _generator(tok, [(_prompt(PNEUMOTHORAX), CONTRADICTING),
                           (_prompt(PNEUMOTHORAX, "Large left pneumothorax. Otherwise, no"),
                            " acute cardiopulmonary abnormality")])
    greedy = gen.generate([PNEUMOTHORAX, NORMAL], GREEDY)
    assert greedy == [CONTRADICTING, CONTRADICTING]
    assert [c.kind for c in check(greedy[0], PNEUMOTHORAX).contradictions] == [NORMAL_STUDY]
    out = gen.generate([PNEUMOTHORAX, NORMAL], CONSTRAINED)
    # the model's own continuation (no final period: make_consistent's rewrite would end with one)
    assert out == ["Large left pneumothorax. Otherwise, no acute cardiopulmonary abnormality"] * 2
    assert all(check(text, f).consistent for text, f in zip(out, [PNEUMOTHORAX, NORMAL], strict=True))


def test_a_denial_is_written_again_without_its_opening_word_only_where_it_contradicts(tok):
    gen = _generator(tok, [(_prompt(PNEUMOTHORAX), "Mild cardiomegaly. No pneumothorax"),
                           (_prompt(PNEUMOTHORAX, "Mild cardiomegaly."), " Old fracture")])
    assert gen.generate([PNEUMOTHORAX, NORMAL], GREEDY) == ["Mild cardiomegaly. No pneumothorax"] * 2
    assert [c.kind for c in check("Mild cardiomegaly. No pneumothorax", PNEUMOTHORAX).contradictions] == [DENIES_FINDINGS]
    out = gen.generate([PNEUMOTHORAX, NORMAL], CONSTRAINED)
    # findings with a pneumothorax: " No" is banned after "Mild cardiomegaly.", the model's next choice follows;
    # normal findings: nothing contradicts, the greedy text stays
    assert out == ["Mild cardiomegaly. Old fracture", "Mild cardiomegaly. No pneumothorax"]


def test_a_normal_statement_before_the_finding_is_banned_as_the_opening(tok):
    gen = _generator(tok, [(_prompt(PNEUMOTHORAX), "No acute cardiopulmonary abnormality. Mild cardiomegaly"),
                           (_prompt(PNEUMOTHORAX), "Large left pneumothorax")])
    assert check(gen.generate([PNEUMOTHORAX], GREEDY)[0]).contradictions[0].kind == NORMAL_STUDY
    assert gen.generate([PNEUMOTHORAX], CONSTRAINED) == ["Large left pneumothorax"]


def test_what_the_model_cannot_fix_is_repaired_by_make_consistent(tok):
    """After "Otherwise, no" this model writes EOS at once: the answer is the rule-based repair."""
    gen = _generator(tok, [(_prompt(PNEUMOTHORAX), CONTRADICTING),
                           (_prompt(PNEUMOTHORAX, "Large left pneumothorax. Otherwise, no"), "")])
    out = gen.generate([PNEUMOTHORAX], CONSTRAINED)
    assert out == [make_consistent(CONTRADICTING, PNEUMOTHORAX)]
    assert out[0].endswith("Otherwise, no acute cardiopulmonary abnormality.") and check(out[0], PNEUMOTHORAX).consistent


def test_normal_opening_ban_for_abnormal_findings_only(tok):
    """ConstrainedConfig.ban_normal_openings: abnormal findings may not open with "No" (rounds=0 isolates the ban)."""
    gen = _generator(tok, [(_prompt(PNEUMOTHORAX), "No acute cardiopulmonary abnormality. Mild cardiomegaly"),
                           (_prompt(PNEUMOTHORAX), "Large left pneumothorax")])
    prompts = [_prompt(PNEUMOTHORAX), _prompt(NORMAL)]

    def run(config):
        return decode_constrained(prompts, [PNEUMOTHORAX, NORMAL], gen._continue, tok, True, 40, config)

    banned = run(ConstrainedConfig(rounds=0, ban_normal_openings=True))
    assert banned[0] == "Large left pneumothorax"
    assert banned[1] == make_consistent("No acute cardiopulmonary abnormality. Mild cardiomegaly", NORMAL)
    assert run(ConstrainedConfig(rounds=0))[0] != "Large left pneumothorax"


def test_word_tokens_are_the_words_own_tokens_in_context(tok):
    after_newline = word_tokens(tok, _prompt(PNEUMOTHORAX), "Mild", True)
    assert after_newline is not None and len(after_newline) == 2  # "Mi" + "ld": only "ld" after "Mi" is banned
    assert tok.decode(list(after_newline)) == "Mild"
    after_sentence = word_tokens(tok, _prompt(PNEUMOTHORAX, "Mild cardiomegaly."), "No", True)
    assert after_sentence is not None and tok.convert_ids_to_tokens(list(after_sentence)) == ["ĠNo"]


def test_qualified_openings():
    assert qualified_opening("No acute cardiopulmonary disease.") == "Otherwise, no"
    assert qualified_opening("Negative chest.") == "Otherwise negative"
    assert qualified_opening("Clear lungs.") == "Lungs otherwise clear"


def test_a_normal_statement_with_its_own_subject_keeps_the_subject_when_written_again():
    from generation.constrained import plan

    redo = plan("Right basal effusion suggestive of infection. Stable cardiomegaly without acute cardiopulmonary "
                "abnormality.", "Right basal effusion.", {})
    assert redo.prefix == "Right basal effusion suggestive of infection. Stable cardiomegaly. Otherwise, no"
    assert plan("Stable cardiomegaly without acute cardiopulmonary abnormality.", "Cardiomegaly.", {}) is None


def test_constrained_equals_greedy_when_greedy_is_consistent(tmp_path):
    from generation.project_lm import load_checkpoint_generator
    from tests.support.tiny_lm import tiny_final_folder, tiny_reports

    gen = load_checkpoint_generator(tiny_final_folder(tmp_path / "final", seed=3), train=tiny_reports(16))
    findings = ["Heart size normal. Lungs clear.", "Large right pleural effusion. Heart size is normal.",
                "Cardiomegaly.", "Left lower lobe airspace opacity."]
    greedy = gen.generate(findings, GenerationSettings("greedy", max_new_tokens=12))
    assert all(check(g, f).consistent for g, f in zip(greedy, findings, strict=True))
    assert gen.generate(findings, GenerationSettings("constrained", max_new_tokens=12)) == greedy


def test_constrained_is_a_strategy_everywhere():
    from training.evaluate import build_parser

    assert "constrained" in STRATEGIES
    assert GenerationSettings("constrained").as_dict()["strategy"] == "constrained"
    assert build_parser().parse_args(["--systems", "default", "--strategy", "constrained"]).strategy == "constrained"
    with pytest.raises(ValueError, match="rounds"):
        ConstrainedConfig(rounds=9)
    with pytest.raises(ValueError, match="single words"):
        ConstrainedConfig(normal_openings=("No acute",))


def test_model_spec_option_turns_the_opening_ban_on(tmp_path):
    from generation import registry as generators
    from tests.support.tiny_lm import tiny_final_folder, tiny_reports

    folder = tiny_final_folder(tmp_path / "final", seed=3)
    assert generators.build(f"model:{folder}", tiny_reports(4)).constrained_config.ban_normal_openings is False
    banned = generators.build(f"model:{folder}?ban_normal_openings", tiny_reports(4))
    assert banned.constrained_config == ConstrainedConfig(ban_normal_openings=True)
    assert banned.describe()["constrained"]["ban_normal_openings"] is True
    with pytest.raises(ValueError, match="unknown option"):
        generators.build(f"model:{folder}?ban_openings", tiny_reports(4))
