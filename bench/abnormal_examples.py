"""The default model on abnormal findings: does it keep every positive observation?

    python -m bench.abnormal_examples [--model models/default/final]

Prints, for greedy decoding and for rerank (the default), each impression with the observations
the omission check (core.omissions) finds omitted or added.
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


def main(argv: list[str] | None = None) -> None:
    from core.omissions import check
    from core.paths import default_model_dir
    from generation.base import GenerationSettings
    from generation.project_lm import load_checkpoint_generator

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=str(default_model_dir()))
    args = p.parse_args(argv)
    gen = load_checkpoint_generator(args.model)
    for strategy in ("greedy", "rerank"):
        for findings, out in zip(ABNORMAL, gen.generate(ABNORMAL, GenerationSettings(strategy)), strict=True):
            r = check(findings, out)
            print(f"{strategy:7s} | {out} | omitted: {', '.join(r.omitted) or '-'} | added: {', '.join(r.added) or '-'}")


if __name__ == "__main__":
    main()
