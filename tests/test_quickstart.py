"""docs/quickstart.md runs as written, in order, against the sample lake (the demo lake in
miniature), and its plot is a real PNG."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

import pointline.research as pr
from tests.research_lake import sample_lake

QUICKSTART = Path(__file__).resolve().parents[1] / "docs" / "quickstart.md"


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


@pytest.fixture
def demo_session(tmp_path_factory, monkeypatch):
    previous = pr.current()
    pr.use_lake(sample_lake(tmp_path_factory))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    yield
    pr.use_lake(previous)


def test_quickstart_runs_and_draws_the_plot(demo_session, tmp_path, monkeypatch, capsys):
    blocks = _python_blocks(QUICKSTART.read_text())
    assert len(blocks) >= 4
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pr.SymbolVersionWarning)
        for block in blocks:
            exec(compile(block, str(QUICKSTART), "exec"), namespace)
    assert namespace["btc"].height > 0 and namespace["tq"].height > 0
    png = tmp_path / "btcusdt.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5_000
    assert "BTCUSDT" in capsys.readouterr().out
