"""Every docstring example of pointline.research, and every example of docs/research-api.md, runs.

The examples are written against the sample lake (the `make demo` data in miniature, built here by
the real ingestion code), bound as the default session the way a researcher's notebook is.
"""

from __future__ import annotations

import doctest
import inspect
import warnings
from pathlib import Path

import pytest

import pointline.research as pr
from pointline.research import cache, core, discovery, joins, session, snapshots, sql, times
from tests.research_lake import sample_lake

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "research-api.md"
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
# Method modules first: the module-level functions of pointline.research carry the same docstrings.
MODULES = (session, core, discovery, joins, sql, cache, snapshots, times, pr)


def _doctests() -> list[doctest.DocTest]:
    finder = doctest.DocTestFinder()
    found: dict[str, doctest.DocTest] = {}
    for module in MODULES:
        for test in finder.find(module):
            if test.examples and test.docstring not in found:
                found[test.docstring] = test
    return sorted(found.values(), key=lambda t: t.name)


DOCTESTS = {t.name: t for t in _doctests()}


@pytest.fixture(scope="module")
def default_session(tmp_path_factory):
    previous = pr.current()
    session = pr.use_lake(sample_lake(tmp_path_factory))
    yield session
    pr.use_lake(previous)


def _run(test: doctest.DocTest) -> None:
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    out: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pr.SymbolVersionWarning)  # examples spanning the SOLUSDT change
        runner.run(test, out=out.append)
    assert runner.failures == 0, "".join(out)


@pytest.mark.parametrize("name", sorted(DOCTESTS))
def test_docstring_example(name, default_session):
    _run(DOCTESTS[name])


def test_reference_doc_examples(default_session):
    parser = doctest.DocTestParser()
    test = parser.get_doctest(DOC.read_text(), {}, DOC.name, str(DOC), 0)
    assert len(test.examples) >= 30
    _run(test)


def _public_functions() -> dict[str, object]:
    out: dict[str, object] = {}
    for name in pr.__all__:
        obj = getattr(pr, name)
        if inspect.isfunction(obj):
            out[f"pointline.research.{name}"] = obj
    for module in (core, times, discovery, sql, cache):
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isfunction(obj):
                out[f"{module.__name__}.{name}"] = obj
    for name, member in inspect.getmembers(pr.Research, inspect.isfunction):
        if not name.startswith("_"):
            out[f"Research.{name}"] = member
    return out


def test_every_public_function_has_a_docstring_example():
    missing = [name for name, fn in _public_functions().items() if ">>>" not in (fn.__doc__ or "")]
    assert not missing, f"public functions without a docstring example: {missing}"
    # and every Research method is reachable as a module-level function with the same docstring
    for name, member in inspect.getmembers(pr.Research, inspect.isfunction):
        if name.startswith("_"):
            continue
        assert name in pr.__all__, name
        assert getattr(pr, name).__doc__ == member.__doc__
        assert "self" not in inspect.signature(getattr(pr, name)).parameters


def test_the_examples_cover_every_loader():
    text = " ".join(t.docstring for t in DOCTESTS.values()) + DOC.read_text()
    for loader in (
        "trades",
        "quotes",
        "book_snapshot_25",
        "orderbook_updates",
        "derivative_ticker",
        "liquidations",
        "options_chain",
        "klines",
        "asset_stats",
        "sql",
        "read_table",
    ):
        assert f"pr.{loader}(" in text or f"core.{loader}(" in text, loader


def test_the_package_imports_no_dagster():
    import subprocess
    import sys

    code = (
        "import sys, pointline.research as pr, pointline.research.core; "
        "pr.Research('/nonexistent'); "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('dagster', 'pointline_assets', 'resources')); "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
