"""Regenerate the golden files of tests/test_golden.py (tests/golden/<table>.parquet).

    .venv/bin/python scripts/regen_golden.py            # rebuild, report, write
    .venv/bin/python scripts/regen_golden.py --check    # rebuild and report only (exit 1 on a difference)

It writes the fixed sample Bronze tree tests/test_golden.py defines into a temp directory,
ingests it through the real assets (`materialize()` on a temp lake and a fresh in-memory
Dagster instance, exactly as the test does), and writes one Parquet file per compared table:
its rows of all partitions, sorted by the partition columns and, inside a partition, in
stored order.

When to run it: only after an intentional change to what the lake stores for fixed Bronze
input: parsing, validation and quarantine rules (reasons, details, raw values), point-in-time
symbol resolution or dim_symbol building, lineage, a schema change (columns, dtypes), row
ordering (sort keys, tie-breaks), the sample generators, the configuration under config/, or
the fixed inputs in tests/test_golden.py. Also when a golden file is missing (a new table).
Never to silence a failing golden test you do not understand: a difference nobody intended is
exactly the regression the test exists to catch.

Review the difference before committing: this script prints, per table, whether it is
unchanged, new, or how it changed (row counts, how many rows differ, the first differing rows
and columns); `--check` prints the same without writing anything. The files are binary, so the
printout (or `git diff --stat tests/golden/`, plus reading old and new files with Polars) is
the review; say in the commit message why the rows changed. Unchanged tables are not
rewritten, so `git status` lists exactly the files whose rows changed.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _load_golden_test():
    """tests/test_golden.py, by path (`tests` is no package): the one definition of the fixed
    Bronze, of how the lake is built and of what a golden file holds."""
    spec = importlib.util.spec_from_file_location("golden_test", REPO / "tests" / "test_golden.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


golden = _load_golden_test()
GOLDEN_DIR, GOLDEN_TABLES = golden.GOLDEN_DIR, golden.GOLDEN_TABLES
build_golden_frames, describe_difference = golden.build_golden_frames, golden.describe_difference
golden_path, read_golden_file, write_golden_file = golden.golden_path, golden.read_golden_file, golden.write_golden_file


def _compare(table: str, new: pl.DataFrame) -> tuple[str, str]:
    """(status, report) of `new` against the checked-in golden file of `table`."""
    if not golden_path(table).is_file():
        return "new", f"{table}: new golden file, {new.height} rows"
    old = read_golden_file(table)
    diff = describe_difference(table, new, old)
    if not diff:
        return "unchanged", f"{table}: unchanged ({new.height} rows)"
    return "changed", diff


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="report differences only; write nothing")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pointline-golden-") as tmp:
        frames = build_golden_frames(Path(tmp))
    print(f"built the golden lake in {time.perf_counter() - started:.1f} s\n")

    changed = 0
    for table in GOLDEN_TABLES:
        status, report = _compare(table, frames[table])
        print(report + "\n")
        if frames[table].is_empty():
            print(f"WARNING: {table} has no rows: extend write_bronze() in tests/test_golden.py to feed it\n")
        if status == "unchanged":
            continue
        changed += 1
        if not args.check:
            write_golden_file(table, frames[table])
    stray = sorted(p for p in GOLDEN_DIR.glob("*.parquet") if p.stem not in GOLDEN_TABLES)
    for path in stray:
        changed += 1
        print(f"{path.name}: no longer a compared table" + ("" if args.check else ", removed"))
        if not args.check:
            path.unlink()

    size = sum(p.stat().st_size for p in GOLDEN_DIR.glob("*.parquet")) if GOLDEN_DIR.is_dir() else 0
    if args.check:
        print(f"{changed} golden file(s) would change")
        return 1 if changed else 0
    print(f"{changed} golden file(s) written; tests/golden/ is {size / 1024:.0f} KB")
    if changed:
        print("review the report above and `git diff --stat tests/golden/` before committing")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
