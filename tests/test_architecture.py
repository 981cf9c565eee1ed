"""The layering the README promises, checked on the source: UI -> services -> db / generation / reports -> core."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at top level or inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def files_in(*packages: str) -> list[Path]:
    return [p for pkg in packages for p in sorted((ROOT / pkg).rglob("*.py"))]


def importers_of(prefix: str, packages: tuple[str, ...]) -> list[str]:
    return [f"{p.relative_to(ROOT)} imports {m}" for p in files_in(*packages) for m in sorted(imported_modules(p))
            if m == prefix or m.startswith(prefix + ".")]


def test_demo_and_rating_never_import_training():
    assert importers_of("training", ("demo", "rating")) == []


@pytest.mark.parametrize("lower, higher", [("generation", "demo"), ("generation", "rating"), ("generation", "training"),
                                            ("reports", "demo"), ("reports", "rating"), ("reports", "training"),
                                            ("reports", "generation"), ("db", "demo"), ("db", "generation"),
                                            ("db", "training")])
def test_lower_layers_never_import_higher_ones(lower, higher):
    assert importers_of(higher, (lower,)) == []


@pytest.mark.parametrize("lower, higher", [("db", "rating"), ("db", "reports"), ("core", "reports"),
                                            ("demo", "rating"), ("rating", "demo"),
                                            ("training", "demo"), ("training", "rating")])
def test_sibling_and_lower_layers_stay_apart(lower, higher):
    """Rules nothing breaks yet: db knows no study logic or report readers, core no readers, the demo and
    the rating study never reach into each other, training never into the apps."""
    assert importers_of(higher, (lower,)) == []


def test_the_layer_check_sees_imports_inside_functions(tmp_path, monkeypatch):
    """The rules above can fail: a lazy import inside a function is found too."""
    pkg = tmp_path / "db"
    pkg.mkdir()
    (pkg / "bad.py").write_text("def f():\n    from rating.service import RatingService\n")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert importers_of("rating", ("db",)) == ["db/bad.py imports rating.service"]


def test_core_is_pure():
    heavy = ("torch", "gradio", "sqlalchemy", "transformers", "demo", "rating", "training", "generation", "db")
    found = [line for h in heavy for line in importers_of(h, ("core",))]
    assert found == []


def test_registry_import_loads_no_backend_and_no_torch():
    code = ("import sys, generation.registry as r; "
            "print(sorted(m for m in sys.modules if m.startswith(('torch', 'generation.', 'transformers', 'openai'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['generation.base', 'generation.registry']"


def test_every_registered_factory_exists():
    """A registry entry that names a missing module or function fails here, not in front of a user."""
    import importlib

    from generation import registry

    for target in list(registry.NAMED.values()) + list(registry.PREFIXED.values()):
        module, function = target.split(":")
        spec = importlib.util.find_spec(module)
        assert spec is not None, f"{target}: no module {module}"
        assert f"def {function}(" in Path(spec.origin).read_text(), f"{target}: no function {function}"


ANALYSIS_LAYERS = ("config", "bootstrap", "metrics", "load", "protocol_load", "scores", "agreement", "comparisons",
                   "metric_validity", "protocol_stats", "progress", "summary", "protocol_study", "tables", "figures",
                   "protocol_figures", "xlsx", "report", "protocol_files", "export", "service")
"""rating/analysis modules from the bottom up: a module imports only modules listed before it."""
ANALYSIS_PURE = ("config", "bootstrap", "scores", "agreement", "comparisons", "metric_validity", "protocol_stats",
                 "progress", "tables", "figures", "protocol_figures", "xlsx", "report", "protocol_files")
"""Statistics, tables and files from DataFrames: no database, no UI."""
ANALYSIS_MAY_IMPORT = ("rating.shared_texts", "rating.csv_safety", "rating.tells")
"""Pure helpers of rating/ the analysis uses."""
PROTOCOL_DOMAIN = ("rating.protocols.gold", "rating.protocols.service")
"""What protocol_study and export read of the protocols' own package (which study uses which protocols, the gold
answers); the protocols' analysis itself lives in this package (protocol_load/stats/study/figures/files)."""


def test_analysis_package_layers():
    """rating/analysis: every module is listed, imports point down the list, never into the rater
    or admin UI, and the statistics modules touch neither the database nor a UI toolkit."""
    folder = ROOT / "rating" / "analysis"
    modules = sorted(p.stem for p in folder.glob("*.py") if p.stem != "__init__")
    assert sorted(ANALYSIS_LAYERS) == modules, "add the new module to ANALYSIS_LAYERS at its level"
    wrong = []
    for name in ANALYSIS_LAYERS:
        level = ANALYSIS_LAYERS.index(name)
        for m in imported_modules(folder / f"{name}.py"):
            if m.startswith("rating.analysis."):
                target = m.split(".")[2]
                if ANALYSIS_LAYERS.index(target) >= level:
                    wrong.append(f"{name} imports {m} (same level or above)")
            elif m.startswith("rating.") and m not in ANALYSIS_MAY_IMPORT and not (
                    name in ("protocol_study", "export") and m in PROTOCOL_DOMAIN):
                wrong.append(f"{name} imports {m} (outside the analysis package)")
            elif m.split(".")[0] in ("gradio", "demo", "generation", "training", "app", "torch"):
                wrong.append(f"{name} imports {m}")
            elif name in ANALYSIS_PURE and (m.startswith("sqlalchemy") or m.startswith("db.") and m != "db.models"):
                wrong.append(f"{name} imports {m} (a statistics module needs no database)")
    assert wrong == []


def test_only_the_analysis_tab_and_app_use_the_analysis_service():
    users = importers_of("rating.analysis", ("rating", "demo", "generation", "db", "core", "reports"))
    allowed = ("rating/analysis/", "rating/export.py", "rating/ui/analysis_tab.py")
    outside = [u for u in users if not u.startswith(allowed)]
    assert outside == []
