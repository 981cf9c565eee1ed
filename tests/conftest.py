"""Shared fixtures. Privacy switches are set before anything imports gradio or the hub."""
import os
import sys
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402

from core.records import Report  # noqa: E402

SHARED_OPENI = ROOT.parent / "shared" / "data" / "openi" / "indiana_reports.csv"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Before the test's fixtures start anything: remember whether it may start apps and browsers."""
    from tests.support import lanes

    lanes.unmarked_test = None if item.get_closest_marker("slow") else item.nodeid


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item):
    from tests.support import lanes

    lanes.unmarked_test = None


@pytest.fixture
def openi_csv_path() -> Path:
    if not SHARED_OPENI.exists():
        pytest.skip("shared OpenI CSV not present")
    return SHARED_OPENI


@pytest.fixture
def toy_reports() -> list[Report]:
    normal = "No acute cardiopulmonary abnormality."
    rows = [
        ("The heart is normal in size. The lungs are clear. No pleural effusion.", normal),
        ("Heart size normal. Lungs clear. No pneumothorax.", normal),
        ("Large right pleural effusion. Heart size is normal.", "Large right pleural effusion."),
        ("Left lower lobe airspace opacity. Heart normal.", "Left lower lobe pneumonia."),
        ("Cardiomegaly. Pulmonary vascular congestion. Small bilateral effusions.", "Congestive heart failure."),
        ("Right upper lobe nodule measuring 1 cm. Lungs otherwise clear.", "Right upper lobe nodule."),
        ("Sternotomy wires. Heart size normal. Lungs clear.", "No acute disease. Prior sternotomy."),
        ("Hyperexpanded lungs. No focal consolidation.", "Emphysema. No acute process."),
    ]
    return [Report(id=str(i), findings=f, impression=imp, source="toy") for i, (f, imp) in enumerate(rows)]


@pytest.fixture
def one_torch_thread():
    """Tiny models run fastest single-threaded (and do not fight the other test worker)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL server (initdb + pg_ctl), started once per test process, stopped at the end."""
    from tests.support.pg_server import start_postgres

    server = start_postgres()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """A fresh, empty study database: a SQLite file, or a new database on the test PostgreSQL server."""
    if request.param == "sqlite":
        return str(tmp_path / "study.db")
    return request.getfixturevalue("postgres").new_database()


@pytest.fixture(scope="session")
def served_tiny_model(tmp_path_factory):
    """One `transformers serve` per test session, pinned to a tiny local Llama with a chat template."""
    from tests.support.endpoint_server import start_transformers_serve
    from tests.support.tiny_hf import tiny_hf_folder

    folder = tmp_path_factory.mktemp("served")
    model_dir = tiny_hf_folder(folder / "tiny-llama")
    # Trained with one retrieved example in the prompt, as training.train records it: hf: and openai: both read it.
    (model_dir / "radllama.json").write_text('{"retrieved_examples": 1, "max_example_words": 8}')
    served = start_transformers_serve(model_dir, folder / "serve.log")
    yield served
    served.stop()


@pytest.fixture(scope="module")
def browser():
    """One headless Debian Chromium per test module (tests/support/browser.py), for the page tests."""
    from playwright.sync_api import sync_playwright

    from tests.support.browser import launch_chromium

    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()
