"""The fast lane, `python -m pytest -m "not slow"`: a test that starts an app process, a model server
or a browser must be marked slow. The helpers that start them call require_slow(); conftest.py sets
`unmarked_test` to the running test's id when it lacks the mark (None outside tests: bench scripts
use the same helpers unchecked)."""
from __future__ import annotations

unmarked_test: str | None = None


def require_slow(what: str) -> None:
    """Fail the running test when it starts `what` without @pytest.mark.slow (module: pytestmark)."""
    if unmarked_test is not None:
        import pytest

        pytest.fail(f"{unmarked_test} starts {what} but is not marked slow: add @pytest.mark.slow "
                    "(or pytestmark = pytest.mark.slow) so that `pytest -m \"not slow\"` stays fast", pytrace=False)
