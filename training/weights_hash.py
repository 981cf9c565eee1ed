"""SHA-256 of a model folder's weights, and the environment a build's weights depend on.

    python -m training.weights_hash models/default/final                        # hash, compared with the build's
    python -m training.weights_hash models/default/final --expect 6737f885f13b04a7  # exit 1 when it differs

What is guaranteed: the same recipe and seed give bit-identical weights on the same kind of machine
(the CPU instruction set torch dispatches to, e.g. AVX2 vs AVX512) with the same library versions
and the recipe's `num_threads` (the default recipe pins 2). A different processor or torch version may pick other kernels, whose float
sums round differently: the model is equally good but its hash differs. `training.train` records
the hash and this environment in final/radllama.json; this command recomputes the hash and names
what differs from the recorded environment when the hashes do not match.

The hash covers every tensor of every *.safetensors file in the folder, in name order (name bytes,
then the tensor's bytes), so it does not depend on file layout or safetensors metadata.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
from pathlib import Path

from core.paths import FINAL_META

LIBRARIES = ("torch", "transformers", "peft", "accelerate", "tokenizers", "safetensors")


def state_dict_sha256(folder: str | Path) -> str:
    """Hex SHA-256 over all tensors of the folder's *.safetensors files, sorted by tensor name."""
    from safetensors.torch import load_file

    files = sorted(Path(folder).glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{folder}: no *.safetensors weights")
    weights = {}
    for f in files:
        weights.update(load_file(str(f)))
    digest = hashlib.sha256()
    for name in sorted(weights):
        digest.update(name.encode())
        digest.update(weights[name].contiguous().numpy().tobytes())
    return digest.hexdigest()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def build_environment() -> dict[str, str]:
    """What decides the bits of a build besides recipe and seed: machine kind and library versions."""
    from importlib.metadata import PackageNotFoundError, version

    import torch

    env = {"python": platform.python_version(), "machine": platform.machine(), "cpu": _cpu_model(),
           "torch_cpu_capability": torch.backends.cpu.get_cpu_capability()}
    for lib in LIBRARIES:
        try:
            env[lib] = version(lib)
        except PackageNotFoundError:
            env[lib] = "not installed"
    return env


def compare(folder: str | Path, expect: str | None = None) -> tuple[bool, list[str]]:
    """(all hashes agree, report lines) for a model folder, against --expect and the recorded build."""
    folder = Path(folder)
    actual = state_dict_sha256(folder)
    lines = [f"weights sha256 {actual}  ({folder})"]
    ok = True
    if expect:
        same = actual.startswith(expect.strip().lower())
        ok &= same
        lines.append(f"expected {expect}: {'same' if same else 'DIFFERENT'}")
    meta_file = folder / FINAL_META
    meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    recorded = meta.get("weights_sha256")
    if recorded:
        same = recorded == actual
        ok &= same
        lines.append(f"recorded at build time {recorded}: {'same' if same else 'DIFFERENT (the files changed)'}")
    built_with = meta.get("built_with") or {}
    now = build_environment()
    changed = [f"  {k}: built with {built_with[k]}, here {now.get(k)}" for k in built_with if built_with[k] != now.get(k)]
    if built_with:
        lines.append("environment: same as the build's" if not changed
                     else "environment differs from the build's (a rebuild here may give other bits):")
        lines.extend(changed)
    return ok, lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", help="a model folder (e.g. models/default/final)")
    p.add_argument("--expect", help="hash or hash prefix to compare with (e.g. from the README)")
    args = p.parse_args(argv)
    try:
        ok, lines = compare(args.folder, args.expect)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
