"""--share launches one Gradio app with share=True (never by default) and says what is not shared."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_share_is_off_by_default_and_launches_the_workbench_when_asked(tmp_path, monkeypatch, capsys):
    import gradio as gr

    import app

    assert app.parse_args([]).share is False
    launched: list[tuple[str, dict]] = []
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kw: launched.append((self.title, kw)))
    app.main(["--share", "--no-build-model", "--model", str(tmp_path / "none"), "--db", str(tmp_path / "s.db"),
              "--port", "7999"])
    (title, kwargs), = launched
    assert title == "Radiology-Llama" and kwargs["share"] is True and kwargs["server_port"] == 7999
    assert "rater app" in capsys.readouterr().out
