"""The default model on abnormal findings: does it keep every positive observation, without contradiction?

    python -m bench.abnormal_examples [--model models/default/final]

Prints, for greedy decoding and for rerank (the default), each impression with the observations
the omission check (core.omissions) finds omitted or added and the contradictions the consistency
check (core.consistency) finds. Then the boilerplate case: rerank offered only the normal
boilerplate "Clear lungs. No acute cardiopulmonary abnormality." besides the model's own text; for
abnormal findings the answer must keep the findings and qualify (or drop) the normal statements.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ABNORMAL = [
    "The heart is enlarged. There is a large right pleural effusion with adjacent atelectasis. No pneumothorax.",
    "Large left pneumothorax with partial collapse of the left lung. Heart size normal.",
    "Acute displaced fracture of the right posterior sixth rib. No pneumothorax. Lungs clear.",
    "A 2.5 cm spiculated nodule in the left upper lobe. Heart size normal. No effusion.",
    "Dense consolidation in the right lower lobe. No pleural effusion. Heart size normal.",
    "Heart size normal. Lungs clear. No pneumothorax or effusion.",
]
BOILERPLATE = "Clear lungs. No acute cardiopulmonary abnormality."
"""A normal boilerplate candidate that must be rewritten for every abnormal findings text."""


def line(label: str, findings: str, out: str) -> str:
    from core.consistency import check as consistency
    from core.omissions import check

    r = check(findings, out)
    c = consistency(out, findings)
    said = "; ".join(f'{x.kind}: "{x.sentence}"' for x in c.contradictions) or "-"
    return (f"{label:10s} | {out} | omitted: {', '.join(r.omitted) or '-'} | added: {', '.join(r.added) or '-'}"
            f" | contradictions: {said}")


def main(argv: list[str] | None = None) -> None:
    from core.paths import default_model_dir
    from generation.base import GenerationSettings
    from generation.project_lm import load_checkpoint_generator
    from generation.rerank import rerank

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=str(default_model_dir()))
    args = p.parse_args(argv)
    gen = load_checkpoint_generator(args.model)
    for strategy in ("greedy", "rerank"):
        for findings, out in zip(ABNORMAL, gen.generate(ABNORMAL, GenerationSettings(strategy)), strict=True):
            print(line(strategy, findings, out))
    greedy = GenerationSettings("greedy")
    prompts = gen._prompts(ABNORMAL, greedy.max_new_tokens)
    own = gen._decode(prompts, greedy)
    boiler = rerank(gen.model, gen.tokenizer, prompts, own, [{BOILERPLATE: 1.0} for _ in ABNORMAL],
                    gen.rerank_config, ABNORMAL)
    print(f'\nrerank offered only "{BOILERPLATE}" besides the model\'s own text:')
    for findings, out in zip(ABNORMAL, boiler, strict=True):
        print(line("boilerplate", findings, out))


if __name__ == "__main__":
    main()
