"""Typed training configuration; a YAML recipe maps onto it one key per field.

`load_recipe("default")` reads training/recipes/default.yaml; any other argument is a path.
Unknown keys are an error, so a typo in a recipe never silently falls back to a default.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

RECIPES_DIR = Path(__file__).resolve().parent / "recipes"
FINETUNE_METHODS = ("lora", "full")
PRECISIONS = ("no", "bf16", "fp16")
FINAL_FORMATS = ("merged", "adapter")


@dataclass
class TrainConfig:
    """Everything one training run needs. Paths are relative to the project root unless absolute."""

    name: str = "default"
    """Recipe name, recorded in checkpoints and the metrics log."""
    output_dir: str = "models/default"
    """Run folder: tokenizer/, base/, checkpoints/step-NNNNNN/, final/, metrics.jsonl."""
    data: str | None = None
    """Report file (None: $RADLLAMA_DATA, else the shared OpenI CSV)."""
    max_train_reports: int | None = None
    """Use only the first N training reports (tests and quick experiments)."""
    max_validate_reports: int | None = None
    """Use only the first N validation reports for the validation loss."""
    seed: int = 0
    """Seed for torch, shuffling and model initialisation."""
    num_threads: int | None = None
    """torch CPU threads (None: all cores)."""

    # --- base model -------------------------------------------------------------------------
    model_name_or_path: str | None = None
    """Hub id or local folder of a pretrained causal LM; None builds and pretrains one from scratch."""
    vocab_size: int = 4096
    """Byte-level BPE vocabulary size (scratch models only; trained on training-split text)."""
    hidden_size: int = 256
    """Scratch LlamaConfig hidden size."""
    num_layers: int = 4
    """Scratch LlamaConfig decoder layers."""
    num_heads: int = 4
    """Scratch LlamaConfig attention heads."""
    intermediate_size: int = 688
    """Scratch LlamaConfig MLP width."""
    max_position_embeddings: int = 512
    """Scratch LlamaConfig context length."""
    pretrain_epochs: float = 0.0
    """Passes of causal-LM pretraining over training-split report text (scratch models)."""
    pretrain_learning_rate: float = 1e-3
    """Peak learning rate of pretraining."""
    pretrain_batch_size: int = 16
    """Sequences per pretraining step."""
    pretrain_seq_len: int = 256
    """Tokens per packed pretraining sequence."""
    pretrain_max_steps: int | None = None
    """Most pretraining optimizer steps (None: pretrain_epochs decide); the schedule ends there."""

    # --- instruction tuning ------------------------------------------------------------------
    finetune_method: str = "lora"
    """"lora" (adapters on lora_target_modules) or "full" (all weights train)."""
    lora_r: int = 8
    """LoRA rank."""
    lora_alpha: int = 16
    """LoRA scaling numerator (scale = alpha / r)."""
    lora_dropout: float = 0.05
    """Dropout on the LoRA input."""
    lora_target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])
    """Module names that receive LoRA adapters."""
    epochs: float = 3.0
    """Maximum passes over the training reports (early stopping may end sooner)."""
    max_steps: int | None = None
    """Most instruction-tuning optimizer steps (None: epochs decide); the learning-rate schedule ends
    there, so the same recipe and seed give the same model on any machine."""
    learning_rate: float = 3e-4
    """Peak learning rate (linear warm-up, cosine decay)."""
    weight_decay: float = 0.01
    """AdamW weight decay."""
    warmup_ratio: float = 0.05
    """Share of optimizer steps spent warming up."""
    per_device_batch_size: int = 8
    """Examples per forward pass on one device."""
    effective_batch_size: int = 8
    """Examples per optimizer step over all devices; gradient accumulation makes up the rest."""
    max_seq_len: int = 384
    """Longest prompt plus impression in tokens; retrieved examples are dropped to fit."""
    abnormal_oversample: int = 1
    """Copies of each training report whose findings state a clinically significant observation
    (core.omissions.positives) in the tuning examples; 1: no oversampling."""
    restate_findings: bool = False
    """Tune on targets that restate the abnormal findings: each training impression repaired with
    core.consistency.complete_consistently (omitted findings sentences in front in impression style,
    normal statements qualified by "Otherwise,"). Validation loss stays on the original impressions."""
    retrieved_examples: int = 0
    """Similar TRAINING reports shown in each prompt (ImpressionGPT-style dynamic prompt)."""
    max_example_words: int = 40
    """Retrieved findings are cut to this many words to bound the prompt length."""
    eval_every_steps: int = 50
    """Optimizer steps between validation-loss evaluations (and checkpoints)."""
    early_stopping_patience: int = 3
    """Evaluations without a better validation loss before training stops (0: never stop)."""
    keep_checkpoints: int = 2
    """Step folders kept besides the best one."""
    log_every_steps: int = 10
    """Optimizer steps between logged training losses (metrics.jsonl and the progress bar)."""
    max_minutes: float | None = None
    """Opt-in wall-clock budget for instruction tuning (None: none). When it cuts training the model
    depends on the machine's speed: the build says so loudly and records it in final/radllama.json."""
    mixed_precision: str = "no"
    """Accelerate mixed precision: "no", "bf16" or "fp16"."""
    gradient_checkpointing: bool = False
    """Trade compute for memory (large models)."""
    final_format: str = "merged"
    """final/ holds the merged model ("merged") or the base path plus adapter ("adapter")."""

    def __post_init__(self) -> None:
        if self.finetune_method not in FINETUNE_METHODS:
            raise ValueError(f"finetune_method must be one of {FINETUNE_METHODS}, not {self.finetune_method!r}")
        if self.mixed_precision not in PRECISIONS:
            raise ValueError(f"mixed_precision must be one of {PRECISIONS}, not {self.mixed_precision!r}")
        if self.final_format not in FINAL_FORMATS:
            raise ValueError(f"final_format must be one of {FINAL_FORMATS}, not {self.final_format!r}")
        if self.final_format == "adapter" and self.finetune_method != "lora":
            raise ValueError("final_format 'adapter' needs finetune_method 'lora'")
        positive = ("vocab_size", "hidden_size", "num_layers", "num_heads", "intermediate_size",
                    "max_position_embeddings", "pretrain_batch_size", "pretrain_seq_len", "lora_r",
                    "lora_alpha", "per_device_batch_size", "effective_batch_size", "max_seq_len",
                    "max_example_words", "eval_every_steps")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.hidden_size % self.num_heads:
            raise ValueError("hidden_size must be divisible by num_heads")
        if self.vocab_size < 300:
            raise ValueError("vocab_size must be at least 300 (256 bytes plus special tokens)")
        if self.effective_batch_size % self.per_device_batch_size:
            raise ValueError("effective_batch_size must be a multiple of per_device_batch_size")
        for name in ("epochs", "learning_rate", "pretrain_learning_rate"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in ("pretrain_epochs", "weight_decay", "early_stopping_patience", "keep_checkpoints",
                     "retrieved_examples"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.abnormal_oversample < 1:
            raise ValueError("abnormal_oversample must be at least 1")
        if not 0 <= self.warmup_ratio < 1 or not 0 <= self.lora_dropout < 1:
            raise ValueError("warmup_ratio and lora_dropout must lie in [0, 1)")
        if not self.lora_target_modules:
            raise ValueError("lora_target_modules must name at least one module")
        for name in ("max_steps", "pretrain_max_steps"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1 when set")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ValueError("max_minutes must be positive when set")
        if self.model_name_or_path is None and self.max_seq_len > self.max_position_embeddings:
            raise ValueError("max_seq_len exceeds max_position_embeddings")

    @property
    def from_scratch(self) -> bool:
        return self.model_name_or_path is None

    def gradient_accumulation_steps(self, num_processes: int = 1) -> int:
        per_step = self.per_device_batch_size * num_processes
        if self.effective_batch_size % per_step:
            raise ValueError(f"effective_batch_size {self.effective_batch_size} is not a multiple of "
                             f"{self.per_device_batch_size} x {num_processes} processes")
        return self.effective_batch_size // per_step

    def run_dir(self, root: Path | None = None) -> Path:
        p = Path(self.output_dir)
        if p.is_absolute() or root is None:
            return p
        return root / p

    def to_dict(self) -> dict:
        return asdict(self)

    def to_yaml(self, path: Path) -> None:
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


def config_from_dict(values: dict) -> TrainConfig:
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown recipe keys: {', '.join(unknown)}")
    return TrainConfig(**values)


def recipe_path(recipe: str | Path) -> Path:
    """A recipe name (file in training/recipes/) or a path to a YAML file."""
    p = Path(recipe)
    if p.suffix in (".yaml", ".yml") and p.exists():
        return p
    named = RECIPES_DIR / f"{recipe}.yaml"
    if named.exists():
        return named
    names = ", ".join(sorted(q.stem for q in RECIPES_DIR.glob("*.yaml")))
    raise FileNotFoundError(f"no recipe {recipe!r}; known recipes: {names} (or a path to a .yaml file)")


def load_recipe(recipe: str | Path, **overrides) -> TrainConfig:
    values = yaml.safe_load(recipe_path(recipe).read_text()) or {}
    if not isinstance(values, dict):
        raise ValueError(f"recipe {recipe} must be a YAML mapping")
    values.update(overrides)
    return config_from_dict(values)
