"""Typed training configuration, grouped by stage; a YAML recipe maps onto it one section per group.

    name, output_dir, seed, num_threads, mixed_precision    the run
    data:       which reports, and how a prompt is built from them
    model:      the base model (a hub id or folder, or the shape of a scratch Llama)
    pretrain:   causal-LM pretraining of a scratch model on training report text
    finetune:   instruction tuning (full or LoRA), evaluation, checkpoints, the final folder
    lora:       the adapters (finetune.method: lora)
    optimizer:  AdamW, shared by both stages
    schedule:   the learning-rate curve, shared by both stages (warm-up length is per stage)

`load_recipe("default")` reads training/recipes/default.yaml; any other argument is a path.
Unknown sections and keys are an error, so a typo never silently falls back to a default; a key
from the old flat layout is named with its new place. Any field can be set from the command line:
`python -m training.train --set finetune.learning_rate=1e-4 --set optimizer.betas=[0.9,0.999]`
(values are read as YAML and checked against the field's type).
"""
from __future__ import annotations

import types
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Mapping, Union, get_args, get_origin, get_type_hints

import yaml

RECIPES_DIR = Path(__file__).resolve().parent / "recipes"
FINETUNE_METHODS = ("lora", "full")
PRECISIONS = ("no", "bf16", "fp16")
FINAL_FORMATS = ("merged", "adapter")


def _positive(section, *names: str) -> None:
    for name in names:
        if getattr(section, name) <= 0:
            raise ValueError(f"{section.SECTION}.{name} must be positive, got {getattr(section, name)}")


def _not_negative(section, *names: str) -> None:
    for name in names:
        if getattr(section, name) < 0:
            raise ValueError(f"{section.SECTION}.{name} must not be negative, got {getattr(section, name)}")


def _at_least_one_when_set(section, *names: str) -> None:
    for name in names:
        if getattr(section, name) is not None and getattr(section, name) < 1:
            raise ValueError(f"{section.SECTION}.{name} must be at least 1 when set")


def _ratio(section, *names: str) -> None:
    for name in names:
        if not 0 <= getattr(section, name) < 1:
            raise ValueError(f"{section.SECTION}.{name} must lie in [0, 1), got {getattr(section, name)}")


@dataclass
class DataConfig:
    """Which reports train and validate, and how a prompt is built from them."""

    SECTION = "data"
    path: str | None = None
    """Report file (None: $RADLLAMA_DATA, else the shared OpenI CSV)."""
    max_train_reports: int | None = None
    """Use only the first N training reports (tests and quick experiments)."""
    max_validate_reports: int | None = None
    """Use only the first N validation reports for the validation loss."""
    max_seq_len: int = 384
    """Longest prompt plus impression in tokens; retrieved examples are dropped to fit."""
    retrieved_examples: int = 0
    """Similar TRAINING reports shown in each prompt (ImpressionGPT-style dynamic prompt)."""
    max_example_words: int = 40
    """Retrieved findings are cut to this many words to bound the prompt length."""

    def __post_init__(self) -> None:
        _positive(self, "max_seq_len", "max_example_words")
        _not_negative(self, "retrieved_examples")
        _at_least_one_when_set(self, "max_train_reports", "max_validate_reports")


@dataclass
class ModelConfig:
    """The base model: a pretrained causal LM, or the shape of a small Llama built from scratch."""

    SECTION = "model"
    name_or_path: str | None = None
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

    def __post_init__(self) -> None:
        _positive(self, "vocab_size", "hidden_size", "num_layers", "num_heads", "intermediate_size",
                  "max_position_embeddings")
        if self.hidden_size % self.num_heads:
            raise ValueError("model.hidden_size must be divisible by model.num_heads")
        if self.vocab_size < 300:
            raise ValueError("model.vocab_size must be at least 300 (256 bytes plus special tokens)")


@dataclass
class PretrainConfig:
    """Causal-LM pretraining of a scratch model on training-split report text (one micro-batch per step)."""

    SECTION = "pretrain"
    epochs: float = 0.0
    """Passes over the packed training text (0: no pretraining)."""
    max_steps: int | None = None
    """Most optimizer steps (None: epochs decide); the learning-rate schedule ends there."""
    learning_rate: float = 1e-3
    """Peak learning rate."""
    warmup_ratio: float = 0.05
    """Share of optimizer steps spent warming up."""
    batch_size: int = 16
    """Packed sequences per optimizer step (per process)."""
    seq_len: int = 256
    """Tokens per packed sequence."""
    log_every_steps: int = 10
    """Optimizer steps between logged training losses."""

    def __post_init__(self) -> None:
        _positive(self, "learning_rate", "batch_size", "seq_len", "log_every_steps")
        _not_negative(self, "epochs")
        _ratio(self, "warmup_ratio")
        _at_least_one_when_set(self, "max_steps")


@dataclass
class FinetuneConfig:
    """Instruction tuning on findings -> impression: the schedule, evaluation, checkpoints, the final folder."""

    SECTION = "finetune"
    method: str = "lora"
    """"lora" (adapters on lora.target_modules) or "full" (all weights train)."""
    epochs: float = 3.0
    """Maximum passes over the training reports (early stopping may end sooner)."""
    max_steps: int | None = None
    """Most optimizer steps (None: epochs decide); the learning-rate schedule ends there, so the
    same recipe and seed give the same model on the same machine kind (docs/reproducible-builds.md)."""
    learning_rate: float = 3e-4
    """Peak learning rate (linear warm-up, cosine decay to schedule.min_lr_ratio of it)."""
    warmup_ratio: float = 0.05
    """Share of optimizer steps spent warming up."""
    per_device_batch_size: int = 8
    """Examples per forward pass on one device."""
    effective_batch_size: int = 8
    """Examples per optimizer step over all devices; gradient accumulation makes up the rest."""
    abnormal_oversample: int = 1
    """Copies of each training report whose findings state a clinically significant observation
    (core.omissions.positives) in the tuning examples; 1: no oversampling."""
    restate_findings: bool = False
    """Tune on targets that restate the abnormal findings: each training impression repaired with
    core.consistency.complete_consistently (omitted findings sentences in front in impression style,
    normal statements qualified by "Otherwise,"). Validation loss stays on the original impressions."""
    eval_every_steps: int = 50
    """Optimizer steps between validation-loss evaluations (and checkpoints)."""
    early_stopping_patience: int = 3
    """Evaluations without a better validation loss before training stops (0: never stop)."""
    keep_checkpoints: int = 2
    """Step folders kept besides the best one."""
    log_every_steps: int = 10
    """Optimizer steps between logged training losses (metrics.jsonl and the progress bar)."""
    max_minutes: float | None = None
    """Opt-in wall-clock budget (None: none). When it cuts training the model depends on the
    machine's speed: the build says so loudly and records it in final/radllama.json."""
    gradient_checkpointing: bool = False
    """Trade compute for memory (large models)."""
    final_format: str = "merged"
    """final/ holds the merged model ("merged") or the base path plus adapter ("adapter")."""

    def __post_init__(self) -> None:
        if self.method not in FINETUNE_METHODS:
            raise ValueError(f"finetune.method must be one of {FINETUNE_METHODS}, not {self.method!r}")
        if self.final_format not in FINAL_FORMATS:
            raise ValueError(f"finetune.final_format must be one of {FINAL_FORMATS}, not {self.final_format!r}")
        if self.final_format == "adapter" and self.method != "lora":
            raise ValueError("finetune.final_format 'adapter' needs finetune.method 'lora'")
        _positive(self, "epochs", "learning_rate", "per_device_batch_size", "effective_batch_size",
                  "eval_every_steps", "log_every_steps")
        _not_negative(self, "early_stopping_patience", "keep_checkpoints")
        _ratio(self, "warmup_ratio")
        _at_least_one_when_set(self, "max_steps")
        if self.effective_batch_size % self.per_device_batch_size:
            raise ValueError("finetune.effective_batch_size must be a multiple of finetune.per_device_batch_size")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ValueError("finetune.max_minutes must be positive when set")
        if self.abnormal_oversample < 1:
            raise ValueError("finetune.abnormal_oversample must be at least 1")


@dataclass
class LoraConfig:
    """LoRA adapters (peft), used when finetune.method is "lora"."""

    SECTION = "lora"
    r: int = 8
    """Rank."""
    alpha: int = 16
    """Scaling numerator (scale = alpha / r)."""
    dropout: float = 0.05
    """Dropout on the adapter input."""
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])
    """Module names that receive adapters."""

    def __post_init__(self) -> None:
        _positive(self, "r", "alpha")
        _ratio(self, "dropout")
        if not self.target_modules:
            raise ValueError("lora.target_modules must name at least one module")


@dataclass
class OptimizerConfig:
    """AdamW for both stages; no weight decay on biases and norms (tensors of one dimension)."""

    SECTION = "optimizer"
    weight_decay: float = 0.01
    """Decoupled weight decay on weight matrices."""
    betas: tuple[float, float] = (0.9, 0.95)
    """Adam's decay rates of the first and second moment (0.95: as Llama's pretraining)."""
    max_grad_norm: float = 1.0
    """Gradients are clipped to this global L2 norm before each step."""

    def __post_init__(self) -> None:
        _not_negative(self, "weight_decay")
        _positive(self, "max_grad_norm")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"optimizer.betas must be two numbers in [0, 1), got {list(self.betas)}")
        self.betas = (float(self.betas[0]), float(self.betas[1]))


@dataclass
class ScheduleConfig:
    """The learning-rate curve of both stages: linear warm-up, then cosine decay to a floor."""

    SECTION = "schedule"
    min_lr_ratio: float = 0.1
    """The floor: the learning rate decays to this fraction of the stage's peak, not to zero."""

    def __post_init__(self) -> None:
        _ratio(self, "min_lr_ratio")


SECTIONS: dict[str, type] = {"data": DataConfig, "model": ModelConfig, "pretrain": PretrainConfig,
                             "finetune": FinetuneConfig, "lora": LoraConfig, "optimizer": OptimizerConfig,
                             "schedule": ScheduleConfig}


@dataclass
class TrainConfig:
    """Everything one training run needs. Paths are relative to the project root unless absolute."""

    name: str = "default"
    """Recipe name, recorded in checkpoints and the metrics log."""
    output_dir: str = "models/default"
    """Run folder: tokenizer/, base/, checkpoints/step-NNNNNN/, final/, metrics.jsonl."""
    seed: int = 0
    """Seed for torch, shuffling and model initialisation."""
    num_threads: int | None = None
    """torch CPU threads (None: all cores)."""
    mixed_precision: str = "no"
    """Accelerate mixed precision: "no", "bf16" or "fp16"."""
    data: DataConfig = field(default_factory=DataConfig)
    """Which reports, and how a prompt is built from them."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """The base model."""
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    """Pretraining of a scratch model."""
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    """Instruction tuning."""
    lora: LoraConfig = field(default_factory=LoraConfig)
    """LoRA adapters (finetune.method: lora)."""
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    """AdamW, both stages."""
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    """Learning-rate curve, both stages."""

    def __post_init__(self) -> None:
        if self.mixed_precision not in PRECISIONS:
            raise ValueError(f"mixed_precision must be one of {PRECISIONS}, not {self.mixed_precision!r}")
        if self.num_threads is not None and self.num_threads < 1:
            raise ValueError("num_threads must be at least 1 when set")
        if self.from_scratch and self.data.max_seq_len > self.model.max_position_embeddings:
            raise ValueError("data.max_seq_len exceeds model.max_position_embeddings")

    @property
    def from_scratch(self) -> bool:
        return self.model.name_or_path is None

    def gradient_accumulation_steps(self, num_processes: int = 1) -> int:
        ft = self.finetune
        per_step = ft.per_device_batch_size * num_processes
        if ft.effective_batch_size % per_step:
            raise ValueError(f"finetune.effective_batch_size {ft.effective_batch_size} is not a multiple of "
                             f"{ft.per_device_batch_size} x {num_processes} processes")
        return ft.effective_batch_size // per_step

    def loop_spec(self, stage: str, num_processes: int = 1) -> LoopSpec:
        """What the optimisation loop needs for one stage ("pretrain" or "finetune")."""
        shared = dict(seed=self.seed, weight_decay=self.optimizer.weight_decay, betas=self.optimizer.betas,
                      max_grad_norm=self.optimizer.max_grad_norm, min_lr_ratio=self.schedule.min_lr_ratio)
        if stage == "pretrain":
            p = self.pretrain
            return LoopSpec(stage=stage, epochs=p.epochs, max_steps=p.max_steps, batch_size=p.batch_size,
                            accumulation=1, learning_rate=p.learning_rate, warmup_ratio=p.warmup_ratio,
                            log_every=p.log_every_steps, **shared)
        if stage == "finetune":
            f = self.finetune
            return LoopSpec(stage=stage, epochs=f.epochs, max_steps=f.max_steps, batch_size=f.per_device_batch_size,
                            accumulation=self.gradient_accumulation_steps(num_processes),
                            learning_rate=f.learning_rate, warmup_ratio=f.warmup_ratio, log_every=f.log_every_steps,
                            eval_every=f.eval_every_steps, patience=f.early_stopping_patience,
                            max_minutes=f.max_minutes, **shared)
        raise ValueError(f"no stage {stage!r}: pretrain or finetune")

    def run_dir(self, root: Path | None = None) -> Path:
        p = Path(self.output_dir)
        if p.is_absolute() or root is None:
            return p
        return root / p

    def to_dict(self) -> dict:
        out = asdict(self)
        out["optimizer"]["betas"] = list(self.optimizer.betas)  # YAML and JSON have lists, not tuples
        return out

    def to_yaml(self, path: Path) -> None:
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))

    def with_values(self, overrides: Mapping[str, object]) -> TrainConfig:
        """A copy with dotted keys set ("finetune.learning_rate": 1e-4, "seed": 1), each checked."""
        return config_from_dict(_merge(self.to_dict(), overrides))


@dataclass(kw_only=True)
class LoopSpec:
    """One stage's schedule as the loop runs it (built by TrainConfig.loop_spec; tests build their own)."""

    stage: str
    epochs: float
    batch_size: int
    accumulation: int
    learning_rate: float
    warmup_ratio: float
    seed: int
    max_steps: int | None = None
    eval_every: int = 0
    patience: int = 0
    max_minutes: float | None = None
    log_every: int = 10
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.95)
    max_grad_norm: float = 1.0
    min_lr_ratio: float = 0.1


FLAT_KEYS = {
    "data": "data.path", "max_train_reports": "data.max_train_reports",
    "max_validate_reports": "data.max_validate_reports", "max_seq_len": "data.max_seq_len",
    "retrieved_examples": "data.retrieved_examples", "max_example_words": "data.max_example_words",
    "model_name_or_path": "model.name_or_path", "vocab_size": "model.vocab_size", "hidden_size": "model.hidden_size",
    "num_layers": "model.num_layers", "num_heads": "model.num_heads", "intermediate_size": "model.intermediate_size",
    "max_position_embeddings": "model.max_position_embeddings", "pretrain_epochs": "pretrain.epochs",
    "pretrain_learning_rate": "pretrain.learning_rate", "pretrain_batch_size": "pretrain.batch_size",
    "pretrain_seq_len": "pretrain.seq_len", "pretrain_max_steps": "pretrain.max_steps",
    "finetune_method": "finetune.method", "lora_r": "lora.r", "lora_alpha": "lora.alpha",
    "lora_dropout": "lora.dropout", "lora_target_modules": "lora.target_modules", "epochs": "finetune.epochs",
    "max_steps": "finetune.max_steps", "learning_rate": "finetune.learning_rate",
    "weight_decay": "optimizer.weight_decay", "warmup_ratio": "finetune.warmup_ratio",
    "per_device_batch_size": "finetune.per_device_batch_size",
    "effective_batch_size": "finetune.effective_batch_size", "eval_every_steps": "finetune.eval_every_steps",
    "early_stopping_patience": "finetune.early_stopping_patience", "keep_checkpoints": "finetune.keep_checkpoints",
    "log_every_steps": "finetune.log_every_steps", "max_minutes": "finetune.max_minutes",
    "gradient_checkpointing": "finetune.gradient_checkpointing", "final_format": "finetune.final_format",
    "abnormal_oversample": "finetune.abnormal_oversample", "restate_findings": "finetune.restate_findings",
}
"""Keys of the flat recipes before issue 25 and where they live now (named in the error message)."""


def _unknown(key: str, known: list[str]) -> ValueError:
    hint = f" (now {FLAT_KEYS[key]})" if key in FLAT_KEYS else ""
    return ValueError(f"unknown recipe key {key!r}{hint}; known here: {', '.join(known)}")


def _coerce(value: object, hint: object, where: str) -> object:
    """`value` (from YAML) as the field's type, or a ValueError naming the field."""
    if get_origin(hint) in (Union, types.UnionType):
        options = [a for a in get_args(hint) if a is not type(None)]
        if value is None and len(options) < len(get_args(hint)):
            return None
        return _coerce(value, options[0], where)
    if value is None:
        raise ValueError(f"{where} must be set (null is not allowed here)")
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ValueError(f"{where} must be true or false, not {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError(f"{where} must be a whole number, not {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ValueError(f"{where} must be a number, not {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ValueError(f"{where} must be text, not {value!r}")
    if get_origin(hint) in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where} must be a list, not {value!r}")
        args = get_args(hint)
        if get_origin(hint) is tuple:
            if len(value) != len(args):
                raise ValueError(f"{where} must have {len(args)} items, not {len(value)}")
            return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
        return [_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"{where}: no rule for type {hint!r}")


def _build(cls: type, values: object, where: str):
    if not isinstance(values, Mapping):
        raise ValueError(f"{where or 'a recipe'} must be a mapping of keys to values, not {values!r}")
    hints = get_type_hints(cls)
    known = [f.name for f in fields(cls)]
    kwargs = {}
    for key, value in values.items():
        if key not in known:
            raise _unknown(f"{where}.{key}" if where else key, known)
        if key in SECTIONS and cls is TrainConfig:
            kwargs[key] = _build(SECTIONS[key], value, key)
        else:
            kwargs[key] = _coerce(value, hints[key], f"{where}.{key}" if where else key)
    return cls(**kwargs)


def config_from_dict(values: Mapping) -> TrainConfig:
    """A TrainConfig from a recipe's nested mapping; every key known, every value of its field's type."""
    return _build(TrainConfig, values, "")


def _merge(values: dict, overrides: Mapping[str, object]) -> dict:
    """`values` with dotted keys set (a copy); an unknown section or key is a ValueError."""
    out = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in values.items()}
    for dotted, value in overrides.items():
        section, _, key = dotted.rpartition(".")
        if not section:
            if key in SECTIONS:
                raise ValueError(f"{key} is a section: set one of its keys, e.g. {key}.{fields(SECTIONS[key])[0].name}")
            out[key] = value
            continue
        if section not in SECTIONS or "." in section:
            raise ValueError(f"unknown section {section!r} in {dotted!r}; sections: {', '.join(SECTIONS)}")
        target = out.setdefault(section, {})
        if not isinstance(target, dict):
            raise ValueError(f"recipe section {section} must be a mapping")
        target[key] = value
    return out


def parse_set(assignment: str) -> tuple[str, object]:
    """`--set section.key=value` -> (dotted key, value read as YAML; text fields keep the text as given)."""
    key, sep, text = assignment.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValueError(f"--set needs KEY=VALUE (e.g. finetune.learning_rate=1e-4), not {assignment!r}")
    section, _, name = key.rpartition(".")
    cls = SECTIONS.get(section, TrainConfig if not section else None)
    hint = get_type_hints(cls).get(name) if cls is not None else None
    if hint is str or (hint == (str | None) and text.strip() not in ("null", "~", "")):
        return key, text
    try:
        return key, yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"--set {key}: cannot read {text!r} ({exc.problem or exc})") from None


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


def load_recipe(recipe: str | Path, overrides: Mapping[str, object] | None = None) -> TrainConfig:
    """The recipe with dotted-key overrides applied (e.g. {"finetune.learning_rate": 1e-4})."""
    values = yaml.safe_load(recipe_path(recipe).read_text()) or {}
    if not isinstance(values, dict):
        raise ValueError(f"recipe {recipe} must be a YAML mapping")
    return config_from_dict(_merge(values, overrides or {}))
