"""`hf:PATH`: any local Hugging Face causal-LM folder, or a PEFT adapter folder on its base model.

    hf:models/llama2-7b/final                 the llama2-7b recipe's adapter (base from adapter_config.json)
    hf:/models/merged?dtype=float32           a full model folder, weights cast to float32
    hf:/models/chat-model?chat                prompted through the tokenizer's chat template
    hf:/models/x?device=cpu&batch_size=8      device, dtype and batch size overridable

An adapter is applied to its base (`base_model_name_or_path`: a local folder, absolute or
relative to the adapter, or a hub id when the hub is reachable), never merged on disk.
Prompts are the paper's template (core/prompt.py); with `?chat` that text is the user turn of
the tokenizer's chat template. Decoding, batching and streaming are the project model's
(generation.project_lm.LMGenerator, generation.greedy_decode). `can_chat` is true when the
tokenizer has a chat template: the Generate tab then offers follow-up questions.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from core.records import Report
from generation.base import ChatUnavailable, GenerationError, GenerationSettings
from generation.project_lm import FINAL_META, LMGenerator, ModelNotFound, resolve_dtype
from generation.prompting import builder_for_folder
from generation.spec_options import flag, split_options

OPTIONS = {
    "chat": "prompt through the tokenizer's chat template",
    "device": "cpu, cuda or cuda:N (default: cuda when present, else cpu)",
    "dtype": "float32, bfloat16, float16 or auto (default: bfloat16/float16 on CUDA, float32 on CPU)",
    "batch_size": "reports per forward pass (default 32)",
}
TORCH_DTYPES = ("float32", "bfloat16", "float16", "auto")


def _has_tokenizer(folder: Path) -> bool:
    return any((folder / name).exists() for name in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model"))


def resolve_base(adapter: Path) -> str:
    """The base model of a PEFT adapter folder: a local folder (absolute, or relative to the adapter) or a hub id."""
    try:
        base = json.loads((adapter / "adapter_config.json").read_text()).get("base_model_name_or_path")
    except (OSError, ValueError) as exc:
        raise ModelNotFound(f"cannot read {adapter / 'adapter_config.json'}: {exc}") from exc
    if not base:
        raise ModelNotFound(f"{adapter / 'adapter_config.json'} names no base_model_name_or_path")
    for candidate in (Path(base).expanduser(), adapter / base):
        if (candidate / "config.json").exists():
            return str(candidate.resolve())
    return base


def pick_device(requested: str | None) -> str:
    import torch

    if requested:
        if requested.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device {requested!r} was asked for, but torch sees no CUDA device")
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(requested: str | None, device: str) -> str:
    """float32 on CPU (or $RADLLAMA_DTYPE), bfloat16 on CUDA where supported, else float16."""
    import torch

    if requested and requested not in TORCH_DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(TORCH_DTYPES)}, not {requested!r}")
    if device.startswith("cuda"):
        if requested in (None, "auto"):
            return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        return requested
    if requested == "float16":
        return requested
    return resolve_dtype(requested, fallback="float32")


def load_hf_model(path: Path, device: str, dtype: str):
    """(model in eval mode on `device`, tokenizer, base model or "") for a model or adapter folder."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not path.is_dir():
        raise ModelNotFound(f"no folder at {path}")
    is_adapter = (path / "adapter_config.json").exists()
    if not is_adapter and not (path / "config.json").exists():
        raise ModelNotFound(f"{path} holds neither a model (config.json) nor a PEFT adapter (adapter_config.json)")
    base = resolve_base(path) if is_adapter else ""
    try:
        tokenizer = AutoTokenizer.from_pretrained(path if _has_tokenizer(path) else (base or path))
        model = AutoModelForCausalLM.from_pretrained(base or path, dtype=getattr(torch, dtype))
    except OSError as exc:
        where = f"base model {base!r} of the adapter at {path}" if is_adapter else f"the model at {path}"
        raise ModelNotFound(f"cannot load {where}: it is not a local model folder and could not be fetched "
                            f"from the Hugging Face hub ({str(exc).splitlines()[0]})") from exc
    if is_adapter:
        from peft import PeftModel
        model = PeftModel.from_pretrained(model, path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    model.to(device)
    model.eval()
    return model, tokenizer, base


@dataclass
class HFGenerator(LMGenerator):
    """A Hugging Face causal LM (or adapter on its base), decoded like the project model."""

    use_chat_template: bool = False
    adapter: str = ""
    base: str = ""
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.use_chat_template and not self.tokenizer.chat_template:
            raise ValueError(f"{self.name}: ?chat asks for the tokenizer's chat template, but it has none")
        self.special_tokens = not self.use_chat_template

    @property
    def can_chat(self) -> bool:  # type: ignore[override]
        return bool(self.tokenizer.chat_template)

    def _wrap(self, prompt: str) -> str:
        if not self.use_chat_template:
            return prompt
        return self.tokenizer.apply_chat_template([{"role": "user", "content": prompt.rstrip()}],
                                                  add_generation_prompt=True, tokenize=False)

    def chat_unavailable_reason(self) -> str:
        if self.can_chat:
            return ""
        return (f"{self.name}: its tokenizer has no chat template, so it cannot hold a conversation "
                "(follow-up questions need a chat model).")

    def chat(self, messages: Sequence[dict], settings: GenerationSettings = GenerationSettings()) -> Iterator[str]:
        if not self.can_chat:
            raise ChatUnavailable(self.chat_unavailable_reason())
        try:
            text = self.tokenizer.apply_chat_template([dict(m) for m in messages], add_generation_prompt=True,
                                                      tokenize=False)
        except Exception as exc:  # jinja2 TemplateError and friends: the template rejects the conversation
            raise GenerationError(f"{self.name}: its chat template rejects this conversation ({exc})") from exc
        enc = self.tokenizer([text], return_tensors="pt", add_special_tokens=False).to(self.model.device)
        for partial in self._stream_text(enc, settings):
            yield partial.strip()

    def _describe(self) -> dict:
        out = super()._describe()
        out.update({"model": self.base or self.source, "adapter": self.source if self.adapter else None,
                    "device": self.device,
                    "prompt": "tokenizer chat template around the paper's template" if self.use_chat_template
                    else "the paper's template (core/prompt.py)", "can_chat": self.can_chat})
        return out


def hf_system(spec: str, train: Sequence[Report]) -> HFGenerator:
    """`hf:PATH[?chat&device=...&dtype=...&batch_size=N]`."""
    argument = spec.split(":", 1)[1]
    raw_path, options = split_options(argument, OPTIONS, spec)
    path = Path(raw_path).expanduser()
    device = pick_device(options.get("device"))
    dtype = pick_dtype(options.get("dtype"), device)
    model, tokenizer, base = load_hf_model(path, device, dtype)
    prompts = builder_for_folder(path, train, FINAL_META)
    batch_size = int(options.get("batch_size", 32))
    if batch_size < 1:
        raise ValueError(f"{spec}: batch_size must be at least 1")
    return HFGenerator(model, tokenizer, prompts, name=spec, kind="model", batch_size=batch_size,
                       source=str(path.resolve()), use_chat_template=flag(options, "chat"),
                       adapter=str(path.resolve()) if base else "", base=base, device=device)
