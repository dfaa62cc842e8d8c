"""Child process for tests/test_concurrency.py: ingest one partition with the real pipeline.

    python tests/concurrency_helpers/ingest_child.py --lake L --bronze B --date 2024-05-01 --exchange binance
        [--barrier DIR --parties N] [--events FILE] [--pause-at EVENT]

Runs `pointline.pipeline.ingest_partition` with the Tardis plugin (no Dagster), exactly as the
asset does. Test hooks, all inside this process only:

* ``--barrier DIR --parties N``: the first attempt of every commit call (`Lake._commit_file`, `Lake._commit`)
  waits until N processes have reached the same write (a file barrier in DIR). Both writers have
  loaded their Delta snapshot by then, so their commits really race (one must conflict).
* ``--events FILE``: appends one line per step (``started``, ``commit-<k>-before``,
  ``commit-<k>-after``, ``done``) so the parent knows where the child is; ``k`` counts Delta
  commits (fast-path ``create_write_transaction`` and ``write_deltalake``) from 1.
* ``--pause-at EVENT``: on reaching that event the child writes ``paused <EVENT>`` and sleeps,
  so the parent can SIGKILL it at exactly that point (e.g. ``commit-2-before``: the quarantine
  is committed, the Silver Parquet file is written but not yet in the Delta log; both files are
  written before the first commit, see `Lake.write_partitions`).

The report (rows written / quarantined, Delta version) is printed as one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import deltalake  # noqa: E402

import pointline.lake as lake_module  # noqa: E402
from pointline.lake import Lake  # noqa: E402
from pointline.pipeline import ingest_partition  # noqa: E402
from vendors.registry import load_vendor  # noqa: E402


class Hooks:
    def __init__(self, args: argparse.Namespace):
        self.events = Path(args.events) if args.events else None
        self.pause_at = args.pause_at
        self.barrier = Path(args.barrier) if args.barrier else None
        self.parties = args.parties
        self.commits = 0
        self.writes = 0
        self.barrier_pending = False  # the next commit attempt is the first of a write_partition call

    def event(self, name: str) -> None:
        if self.events is not None:
            with open(self.events, "a") as fh:
                fh.write(f"{name} {time.time():.6f}\n")
        if name == self.pause_at:
            self.event(f"paused-{name}")
            parent, deadline = os.getppid(), time.monotonic() + 600
            while os.getppid() == parent and time.monotonic() < deadline:
                time.sleep(0.05)  # the parent SIGKILLs us here
            raise SystemExit(f"not killed at {name}")  # the parent died or forgot us

    def wait_barrier(self) -> None:
        if self.barrier is None or not self.barrier_pending:
            return
        self.barrier_pending = False
        gate = self.barrier / f"write-{self.writes}"
        gate.mkdir(parents=True, exist_ok=True)
        (gate / str(os.getpid())).touch()
        deadline = time.monotonic() + 60
        while len(list(gate.iterdir())) < self.parties:
            if time.monotonic() > deadline:
                self.event(f"barrier-timeout-{gate.name}")
                return
            time.sleep(0.002)

    def install(self) -> None:
        hooks = self
        real_commit_file, real_commit, real_write_file = Lake._commit_file, Lake._commit, Lake._write_file
        real_cwt = deltalake.DeltaTable.create_write_transaction
        real_wd = lake_module.write_deltalake

        def counted(real):
            """Each commit call (a partition's data file, or a table's creation) waits at the barrier once."""

            def call(self, *args, **kwargs):
                hooks.writes += 1
                hooks.barrier_pending = True
                return real(self, *args, **kwargs)

            return call

        def around_commit(commit, *args, **kwargs):
            hooks.wait_barrier()
            hooks.commits += 1
            k = hooks.commits
            hooks.event(f"commit-{k}-before")
            result = commit(*args, **kwargs)
            hooks.event(f"commit-{k}-after")
            return result

        def create_write_transaction(self, *args, **kwargs):
            return around_commit(real_cwt, self, *args, **kwargs)

        def write_deltalake(*args, **kwargs):
            return around_commit(real_wd, *args, **kwargs)

        def write_file(self, table, *args, **kwargs):
            hooks.event(f"write-{table}-before")
            result = real_write_file(self, table, *args, **kwargs)
            hooks.event(f"write-{table}-after")
            return result

        Lake._write_file = write_file
        Lake._commit_file = counted(real_commit_file)
        Lake._commit = counted(real_commit)
        deltalake.DeltaTable.create_write_transaction = create_write_transaction
        lake_module.write_deltalake = write_deltalake


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lake", required=True)
    parser.add_argument("--bronze", required=True)
    parser.add_argument("--table", default="trades")
    parser.add_argument("--date", required=True)
    parser.add_argument("--exchange", required=True)
    parser.add_argument("--barrier")
    parser.add_argument("--parties", type=int, default=2)
    parser.add_argument("--events")
    parser.add_argument("--pause-at")
    args = parser.parse_args()

    hooks = Hooks(args)
    hooks.install()
    plugin = load_vendor("tardis")
    sources = [(plugin, dtype) for dtype, target in plugin.routes().items() if target == args.table]
    hooks.event("started")
    report = ingest_partition(
        Lake(args.lake),
        sources,
        Path(args.bronze),
        args.table,
        dt.date.fromisoformat(args.date),
        args.exchange,
        code_version="concurrency-test",
    )
    hooks.event("done")
    print(
        json.dumps(
            {
                "rows_written": report.rows_written,
                "rows_quarantined": report.rows_quarantined,
                "delta_version": report.delta_version,
                "commits": hooks.commits,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
