"""The core never names a vendor, an exchange or a market: those live in vendors/ and config/.

Docstrings may use them as examples of data (they are run as doctests against the sample lake);
code may not: no identifier, string literal or comment in pointline/, pointline_assets/ or
resources/ mentions them. Adding a vendor or an exchange changes no core code.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

from vendors.registry import available_vendors

REPO = Path(__file__).resolve().parents[1]
CORE = [p for d in ("pointline", "pointline_assets", "resources") for p in sorted((REPO / d).rglob("*.py"))]
# Exchange and market words the CN work must keep out of the core, plus every registered vendor.
WORDS = ["szse", "sse", "shanghai", "shenzhen", "quant360", "tushare", *available_vendors()]
PATTERN = re.compile(r"(?<![a-z0-9])(" + "|".join(re.escape(w.lower()) for w in WORDS) + r")(?![a-z0-9])")


def _docstring_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = getattr(node, "body", [])
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                doc = body[0]
                lines.update(range(doc.lineno, (doc.end_lineno or doc.lineno) + 1))
    return lines


def _mentions(path: Path) -> list[str]:
    source = path.read_text()
    docstrings = _docstring_lines(ast.parse(source))
    found = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in (tokenize.NAME, tokenize.STRING, tokenize.COMMENT) or tok.start[0] in docstrings:
            continue
        match = PATTERN.search(tok.string.lower())
        if match:
            found.append(f"{path.relative_to(REPO)}:{tok.start[0]}: {match.group(1)!r} in {tok.string[:60]!r}")
    return found


def test_the_scan_sees_the_vendors():
    assert {"tardis", "quant360", "tushare"} <= set(WORDS) and len(CORE) > 30


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(REPO)))
def test_core_module_names_no_vendor_or_exchange(path):
    assert _mentions(path) == []
