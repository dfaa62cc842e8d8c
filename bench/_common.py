"""Shared machinery of the ingest benchmarks (bench/ingest_trades.py, bench/ingest_books.py).

Memory readings, the phase profiler, the measured children (the real asset through Dagster's
``materialize()``, the plain-Polars baseline, the instrumented ``ingest_partition`` run), the
child-process runner and the report printers. Each benchmark script supplies its Bronze file,
its partition and its targets; every measured child runs in a fresh interpreter (the script
re-invoked with ``--child ROLE``), one after another, never in parallel.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import gc
import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

RSS_SAMPLE_SECONDS = 0.002
MB = 1024 * 1024


# ---- memory ---------------------------------------------------------------------------
def _status_kb(key: str) -> int | None:
    """A `kB` field of /proc/self/status (VmRSS, VmHWM), or None off Linux."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_mb() -> float:
    """Current resident set size of this process, MB."""
    kb = _status_kb("VmRSS")
    if kb is None:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return kb / 1024


def peak_rss_mb() -> float:
    """Peak resident set size (VmHWM) of this whole process so far, MB."""
    kb = _status_kb("VmHWM")
    if kb is None:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return kb / 1024


def _statm_rss_mb(page_size: int = os.sysconf("SC_PAGE_SIZE")) -> float:
    """Resident set size from /proc/self/statm (cheaper than status: used by the sampler)."""
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * page_size / MB


# ---- results --------------------------------------------------------------------------
@dataclass
class RunResult:
    """What a measured child reports back to the parent (as JSON)."""

    role: str
    rows: int
    seconds: float
    rss_before_mb: float
    peak_rss_mb: float
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    @property
    def above_before_mb(self) -> float:
        return self.peak_rss_mb - self.rss_before_mb


@dataclass
class PhaseStat:
    """Inclusive wall time and memory of one instrumented call path."""

    path: tuple[str, ...]
    seconds: float = 0.0
    calls: int = 0
    peak_rss_mb: float = 0.0
    rss_in_mb: float = 0.0
    rss_out_mb: float = 0.0


@dataclass(frozen=True)
class Partition:
    """The partition a benchmark ingests, and the big Bronze file in it (relative to Bronze)."""

    table: str
    date: dt.date
    exchange: str
    big_file: str


# ---- phase profiler -------------------------------------------------------------------
class Profiler:
    """Times nested calls of wrapped functions (perf_counter) and samples RSS per call path."""

    def __init__(self) -> None:
        self.stats: dict[tuple[str, ...], PhaseStat] = {}
        self.order: list[tuple[str, ...]] = []
        self._stack: tuple[str, ...] = ()  # the main thread's open phases
        self._threads = threading.local()  # other threads' open phases (see `_open`)
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None
        self.skipped: list[str] = []

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Account the block under `name`, nested in the phases currently open."""
        outer = self._open()
        path = (*outer, name)
        stat = self.stats.get(path)
        if stat is None:
            stat = self.stats[path] = PhaseStat(path)
            self.order.append(path)
            stat.rss_in_mb = _statm_rss_mb()
        self._set_open(path)
        start = time.perf_counter()
        try:
            yield
        finally:
            stat.seconds += time.perf_counter() - start
            stat.calls += 1
            self._set_open(outer)
            stat.rss_out_mb = _statm_rss_mb()
            self._note(path, stat.rss_out_mb)

    def _open(self) -> tuple[str, ...]:
        """The calling thread's open phases; a worker thread (e.g. columns converted concurrently)
        nests under what the main thread has open, so its steps show inside the step that started it."""
        if threading.current_thread() is threading.main_thread():
            return self._stack
        return getattr(self._threads, "stack", None) or self._stack

    def _set_open(self, path: tuple[str, ...]) -> None:
        if threading.current_thread() is threading.main_thread():
            self._stack = path
        else:
            self._threads.stack = path

    def timed(self, original: Callable[..., Any], name: str | Callable[..., str]) -> Callable[..., Any]:
        """`original` wrapped so that each call is accounted under `name` (or `name(*args)`)."""

        def timed(*args: Any, **kwargs: Any) -> Any:
            label = name(*args, **kwargs) if callable(name) else name
            with self.phase(label):
                return original(*args, **kwargs)

        timed.__wrapped__ = original  # type: ignore[attr-defined]
        return timed

    def wrap(self, owner: Any, attr: str, name: str | Callable[..., str]) -> None:
        """Replace `owner.attr` (module function, method or staticmethod) by a timed wrapper."""
        try:
            static = inspect.getattr_static(owner, attr)
        except AttributeError:
            self.skipped.append(f"{getattr(owner, '__name__', owner)}.{attr}")
            return
        is_static = isinstance(static, staticmethod)
        original = static.__func__ if is_static else getattr(owner, attr)
        timed = self.timed(original, name)
        setattr(owner, attr, staticmethod(timed) if is_static else timed)

    def _note(self, path: tuple[str, ...], rss: float) -> None:
        for i in range(1, len(path) + 1):
            stat = self.stats.get(path[:i])
            if stat is not None and rss > stat.peak_rss_mb:
                stat.peak_rss_mb = rss

    def _sample(self) -> None:
        while not self._stop.wait(RSS_SAMPLE_SECONDS):
            self._note(self._stack, _statm_rss_mb())

    def start_sampler(self) -> None:
        """Sample RSS in a thread every RSS_SAMPLE_SECONDS; each sample raises the open phases' peaks."""
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def stop_sampler(self) -> None:
        self._stop.set()
        if self._sampler is not None:
            self._sampler.join()


Instrument = Callable[[Profiler], None]


def instrument_pipeline(prof: Profiler) -> None:
    """Wrap the steps `ingest_partition` and `check_stored_partition` go through, by name."""
    import pointline.checks as checks
    import pointline.ingest as ingest
    import pointline.lake as lake
    import pointline.pipeline as pipeline
    import vendors.tardis.csv_reader as csv_reader

    for owner, attr, label in (
        (pipeline, "exchange_row", "dims: exchange_row"),
        (pipeline, "candidate_files", "discover (candidate_files)"),
        (pipeline, "_partition_has_rows", "guard (_partition_has_rows)"),
        (pipeline, "sha256_file", "hash (sha256_file)"),
        (csv_reader, "read_table", "read_events (csv_reader.read_table)"),
        (csv_reader, "read_raw", "read_csv (read_raw)"),
        (pipeline, "build_partition", "build_partition"),
        (ingest, "_coerce", "coerce (_coerce)"),
        (ingest, "_apply_rules", "rules + PIT (_apply_rules)"),
        (ingest, "resolve_symbol_ids", "PIT (resolve_symbol_ids)"),
        (ingest, "_quarantine_rows", "quarantine rows (_quarantine_rows)"),
        (pipeline, "compute_data_version", "data version"),
        (lake, "validate_frame", "validate_frame"),
        (lake.Lake, "_check_partition_values", "partition values check"),
        (lake.Lake, "_prepare", "prepare (conform, sort, rechunk, to_arrow)"),
        (lake.Lake, "_commit", "commit (_commit)"),
        (lake, "write_deltalake", "write_deltalake"),
        (ingest, "_convert_all", "convert columns (_convert_all)"),
        (lake.Lake, "_open", "open Delta table (_open)"),
        (lake.Lake, "_ordered", "conform + sort (_ordered)"),
        (lake.Lake, "_write_file", "parquet file (_write_file)"),
        (pl.DataFrame, "write_parquet", "polars write_parquet"),
        (lake, "_file_stats", "file stats (_file_stats)"),
        (lake.Lake, "_commit_file", "delta commit of the file (_commit_file)"),
    ):
        prof.wrap(owner, attr, label)
    prof.wrap(ingest, "_convert", lambda _text, col, *_a, **_k: f"convert {col.name} ({col.dtype})")
    prof.wrap(lake.Lake, "write_partition", lambda _self, table, *_a, **_k: f"write {table} (write_partition)")
    prof.wrap(lake.Lake, "read", lambda _self, table, *_a, **_k: f"lake.read {table}")
    # The checks are looked up in the registry at run time: time each entry under its name.
    for name, check in list(checks.CHECKS.items()):
        checks.CHECKS[name] = dataclasses.replace(check, run=prof.timed(check.run, name))


# ---- Dagster helpers ------------------------------------------------------------------
def write_dagster_home(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")


def resources(work: Path) -> dict[str, Any]:
    from resources.lake import LakeResource
    from resources.vendors import VendorsResource

    lake = LakeResource(lake_root=str(work / "lake"), bronze_root=str(work / "bronze"))
    return {"lake": lake, "vendors": VendorsResource()}


def materialization(result: Any, asset: str) -> dict[str, Any]:
    """Metadata values of `asset`'s materialization in a dagster result."""
    from dagster import AssetKey

    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        if mat.asset_key == AssetKey(asset):
            return {k: v.value for k, v in mat.metadata.items()}
    raise RuntimeError(f"no materialization of {asset}")


def check_results(result: Any) -> dict[str, bool]:
    return {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def time_calls(owner: Any, names: list[str], seconds: dict[str, float]) -> None:
    """Light timers (two perf_counter calls) around module functions, summed into `seconds`."""
    for name in names:
        original = getattr(owner, name)

        def timed(*args: Any, _f: Callable[..., Any] = original, _n: str = name, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return _f(*args, **kwargs)
            finally:
                seconds[_n] = seconds.get(_n, 0.0) + time.perf_counter() - start

        setattr(owner, name, timed)


# ---- children -------------------------------------------------------------------------
def child_pointline(work: Path, rows: int, part: Partition, *, in_memory: bool = False) -> RunResult:
    """Dims first (not timed), then one timed materialize() of the partition through the real asset.

    By default on a persistent SQLite instance in DAGSTER_HOME (what `make ui` uses); with
    `in_memory`, on Dagster's ephemeral instance (what a bare in-process materialize() uses),
    which shows how much of the run is Dagster's event-log storage rather than ingestion."""
    from dagster import DagsterInstance, materialize

    import pointline_assets.events as events
    from pointline_assets.dimensions import dim_exchange, dim_symbol
    from pointline_assets.partitions import partition_key

    res = resources(work)
    inside: dict[str, float] = {}
    time_calls(events, ["ingest_partition", "check_stored_partition", "_materialization_metadata"], inside)
    with DagsterInstance.ephemeral() if in_memory else DagsterInstance.get() as instance:
        if not materialize([dim_exchange, dim_symbol], instance=instance, resources=res).success:
            raise RuntimeError("dimension materialization failed")
        gc.collect()
        before, setup_peak = rss_mb(), peak_rss_mb()
        start = time.perf_counter()
        result = materialize(
            [events.EVENT_ASSETS[part.table]],
            partition_key=partition_key(part.date, part.exchange),
            instance=instance,
            resources=res,
        )
        seconds = time.perf_counter() - start
        peak = peak_rss_mb()
        meta = materialization(result, part.table)
        details = {
            "success": result.success,
            "setup_peak_rss_mb": setup_peak,
            "inside_asset_s": inside,
            "rows_read": meta["rows_read"],
            "rows_written": meta["rows_written"],
            "rows_quarantined": meta["rows_quarantined"],
            "quarantined_by_reason": meta["quarantined_by_reason"],
            "file_accounting": meta["file_accounting"],
            "checks": check_results(result),
        }
    return RunResult("pointline", rows, seconds, before, peak, details)


def child_baseline(work: Path, rows: int, part: Partition) -> RunResult:
    """Plain Polars on the same file: read_csv (inferred types), date, partitioned write_delta."""
    import deltalake

    path = work / "bronze" / part.big_file
    uri = str(work / "baseline_delta")
    gc.collect()
    before = rss_mb()
    start = time.perf_counter()
    df = pl.read_csv(path)
    df = df.with_columns(pl.from_epoch("local_timestamp", "us").dt.date().alias("date"))
    df.write_delta(uri, mode="overwrite", delta_write_options={"partition_by": ["date"]})
    seconds = time.perf_counter() - start
    peak = peak_rss_mb()
    details = {
        "height": df.height,
        "schema": {k: str(v) for k, v in df.schema.items()},
        "deltalake": deltalake.__version__,
    }
    return RunResult("baseline", df.height, seconds, before, peak, details)


def child_phases(work: Path, rows: int, part: Partition, instrument: Instrument = instrument_pipeline) -> RunResult:
    """ingest_partition + check_stored_partition once, every step timed (a re-ingest of the partition)."""
    from pointline.checks import check_stored_partition
    from pointline.config import settings
    from pointline.pipeline import ingest_partition

    res = resources(work)
    store, sources = res["lake"].lake(), res["vendors"].sources_for(part.table)
    prof = Profiler()
    instrument(prof)
    gc.collect()
    before = rss_mb()
    prof.start_sampler()
    start = time.perf_counter()
    with prof.phase("ingest_partition"):
        report = ingest_partition(
            store,
            sources,
            res["lake"].resolved_bronze_root(),
            part.table,
            part.date,
            part.exchange,
            code_version="bench",
        )
    with prof.phase("check_stored_partition"):
        checks = check_stored_partition(store, report, settings().quarantine_threshold(part.table))
    seconds = time.perf_counter() - start
    prof.stop_sampler()
    details = {
        "phases": [asdict(prof.stats[p]) for p in prof.order],
        "skipped": prof.skipped,
        "checks": {k: v.passed for k, v in checks.items()},
        "rows_written": report.rows_written,
    }
    return RunResult("phases", rows, seconds, before, peak_rss_mb(), details)


def run_child(script: Path, role: str, work: Path, rows: int) -> RunResult:
    """Run one measurement of `script` in a fresh interpreter; its log goes to work/logs/<role>.log."""
    out, log = work / f"result-{role}.json", work / "logs" / f"{role}.log"
    log.parent.mkdir(exist_ok=True)
    env = dict(os.environ, DAGSTER_HOME=str(work / "dagster_home"))
    cmd = [sys.executable, str(Path(script).resolve()), "--child", role, "--work", str(work), "--rows", str(rows)]
    with log.open("w") as fh:
        proc = subprocess.run([*cmd, "--result", str(out)], env=env, stdout=fh, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise SystemExit(f"{role} child failed (exit {proc.returncode}); end of {log}:\n{tail}")
    data = json.loads(out.read_text())
    return RunResult(**data)


def run_rounds(script: Path, work: Path, rows: int, roles: tuple[str, ...], rounds: int) -> dict[str, RunResult]:
    """Every role once per round, rounds interleaved, so that a machine whose speed drifts (a shared
    VM: +-20% between minutes) slows every role alike. Each run writes into an empty lake.

    A role is represented by its run of median time; every round's time is kept in
    `details['rounds_s']` and printed beside the ratios.
    """
    runs: dict[str, list[RunResult]] = {role: [] for role in roles}
    for n in range(1, rounds + 1):
        for role in roles:
            print(f"round {n}/{rounds}: {role} ...", flush=True)
            shutil.rmtree(work / ("baseline_delta" if role == "baseline" else "lake"), ignore_errors=True)
            runs[role].append(run_child(script, role, work, rows))
    return {role: _median_run(results) for role, results in runs.items()}


def _median_run(results: list[RunResult]) -> RunResult:
    chosen = sorted(results, key=lambda r: r.seconds)[len(results) // 2]
    chosen.details["rounds_s"] = [round(r.seconds, 3) for r in results]
    return chosen


def check_pointline_wrote_all(point: RunResult, base: RunResult, part: Partition, rows: int) -> None:
    """Fail unless the asset read and wrote every row of the big file and the baseline read them all."""
    accounts = {a["rel_path"]: a for a in point.details["file_accounting"]}
    big = accounts[part.big_file]
    if not point.details["success"] or big["rows_written"] != rows or big["rows_read"] != rows:
        raise SystemExit(f"pointline did not write every row of the big file: {big}")
    if base.rows != rows:
        raise SystemExit(f"baseline read {base.rows} rows, expected {rows}")


# ---- report ---------------------------------------------------------------------------
def ratio_line(label: str, ratio: float, ok: bool, target: str | None) -> str:
    """`label  0.57x  target >= 0.7x  MISS`; without a target, the ratio is for information."""
    if target is None:
        return f"{label:<32} {ratio:5.2f}x  (no target)"
    return f"{label:<32} {ratio:5.2f}x  target {target}x  {'PASS' if ok else 'MISS'}"


def print_table(
    point: RunResult,
    base: RunResult,
    subject: str,
    file_mb: float,
    target_throughput: float,
    target_memory: float | None,
) -> None:
    """Rows, seconds, rows/s, memory for both runs, and the ratios against the targets.

    `subject` completes the title, e.g. "trades rows, binance-futures BTCUSDT 2024-05-01";
    without a memory target the memory ratios are printed for information."""
    print(f"\nIngest benchmark: {point.rows:,} {subject} ({file_mb:.1f} MB csv.gz)")
    head = f"{'run':<10} {'rows':>11} {'seconds':>8} {'rows/s':>11} {'peak RSS MB':>12} {'RSS before':>11} {'above':>8}"
    print(head)
    print("-" * len(head))
    for r in (point, base):
        print(
            f"{r.role:<10} {r.rows:>11,} {r.seconds:>8.2f} {r.rows_per_s:>11,.0f} {r.peak_rss_mb:>12,.0f} "
            f"{r.rss_before_mb:>11,.0f} {r.above_before_mb:>8,.0f}"
        )
    thr = point.rows_per_s / base.rows_per_s
    peak = point.peak_rss_mb / base.peak_rss_mb
    above = point.above_before_mb / base.above_before_mb
    print(ratio_line("throughput pointline/baseline", thr, thr >= target_throughput, f">= {target_throughput}"))
    if "rounds_s" in point.details and "rounds_s" in base.details:
        pairs = zip(base.details["rounds_s"], point.details["rounds_s"], strict=True)
        print(
            f"  (medians of {len(point.details['rounds_s'])} interleaved rounds; seconds per round: "
            f"pointline {point.details['rounds_s']}, baseline {base.details['rounds_s']}; "
            f"ratio per round {[round(b / p, 2) for b, p in pairs]})"
        )
    mem_target = None if target_memory is None else f"<= {target_memory}"
    mem_ok = target_memory is None or peak <= target_memory
    print(ratio_line("peak RSS pointline/baseline", peak, mem_ok, mem_target))
    above_ok = target_memory is None or above <= target_memory
    print(
        ratio_line("RSS above pre-run, ratio", above, above_ok, mem_target)
        + "  (ingestion only: without the Dagster/Polars import footprint)"
    )
    d = point.details
    inside = d["inside_asset_s"]
    asset_s = sum(inside.values())
    print(
        f"pointline: read {d['rows_read']:,}, wrote {d['rows_written']:,}, quarantined {d['rows_quarantined']:,} "
        f"{d['quarantined_by_reason']}; checks {'all passed' if all(d['checks'].values()) else d['checks']}"
    )
    print(
        "pointline time: "
        + ", ".join(f"{k} {v:.2f}s" for k, v in inside.items())
        + f", dagster run overhead {point.seconds - asset_s:.2f}s; setup peak RSS {d['setup_peak_rss_mb']:,.0f} MB"
    )
    engine_rows_s = point.rows / asset_s if asset_s else 0.0
    print(
        f"engine only (time inside the asset, without the fixed Dagster run cost): {engine_rows_s:,.0f} rows/s, "
        f"{engine_rows_s / base.rows_per_s:.2f}x the baseline (information, not a target)"
    )


def phase_stats(phases: RunResult) -> list[PhaseStat]:
    """The instrumented run's stats, in first-call order."""
    return [
        PhaseStat(tuple(p["path"]), **{k: v for k, v in p.items() if k != "path"}) for p in phases.details["phases"]
    ]


def _children(stats: list[PhaseStat], path: tuple[str, ...]) -> list[PhaseStat]:
    return [s for s in stats if len(s.path) == len(path) + 1 and s.path[: len(path)] == path]


def _phase_line(name: str, depth: int, calls: str, seconds: float, total: float, peak: str, delta: str) -> str:
    label = "  " * depth + name
    return f"{label:<60} {calls:>5} {seconds:>8.3f} {100 * seconds / total:>5.1f}% {peak:>8} {delta:>9}"


def _print_subtree(stats: list[PhaseStat], stat: PhaseStat, total: float) -> None:
    depth = len(stat.path) - 1
    delta = f"{stat.rss_out_mb - stat.rss_in_mb:+,.0f}"
    print(_phase_line(stat.path[-1], depth, str(stat.calls), stat.seconds, total, f"{stat.peak_rss_mb:,.0f}", delta))
    children = _children(stats, stat.path)
    for child in children:
        _print_subtree(stats, child, total)
    if children:
        other = stat.seconds - sum(c.seconds for c in children)
        if other >= 0:
            print(_phase_line("(other)", depth + 1, "", other, total, "", ""))
        else:  # children ran in worker threads at the same time: their times overlap
            print("  " * (depth + 1) + f"(the steps above ran concurrently; together {-other:.3f}s more than the step)")


def print_phases(phases: RunResult) -> None:
    """The instrumented ingest_partition run as a tree, with '(other)' for the untimed remainder of a step."""
    stats = phase_stats(phases)
    roots = _children(stats, ())
    total = sum(s.seconds for s in roots) or 1.0
    print(
        f"\nPhase breakdown: ingest_partition + check_stored_partition called directly (a re-ingest), "
        f"{phases.seconds:.2f}s; RSS before {phases.rss_before_mb:,.0f} MB, process peak {phases.peak_rss_mb:,.0f} MB"
    )
    every = f"{RSS_SAMPLE_SECONDS * 1000:.0f} ms"
    print(f"(peak = highest RSS sampled every {every} while the step ran; delta = RSS after - before)")
    head = f"{'step':<60} {'calls':>5} {'seconds':>8} {'%':>6} {'peak MB':>8} {'delta MB':>9}"
    print(head)
    print("-" * len(head))
    for root in roots:
        _print_subtree(stats, root, total)
    if phases.details["skipped"]:
        print(f"not instrumented (renamed or gone): {phases.details['skipped']}")


# ---- main -----------------------------------------------------------------------------
Child = Callable[[Path, int], RunResult]


def parse_args(argv: list[str] | None, doc: str, default_rows: int, children: dict[str, Child]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=default_rows, help="rows of the big Bronze file")
    parser.add_argument("--keep", type=Path, help="work in DIR and keep it (Bronze, lake, dagster home, logs)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of every measured run (median)")
    parser.add_argument("--child", choices=sorted(children), help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(
    argv: list[str] | None,
    *,
    doc: str,
    default_rows: int,
    children: dict[str, Child],
    bench: Callable[[Path, int, int], None],
) -> int:
    """A benchmark's entry point: a child measurement (`--child ROLE`) or the whole run."""
    args = parse_args(argv, doc, default_rows, children)
    if args.child:
        result = children[args.child](args.work, args.rows)
        args.result.write_text(json.dumps(asdict(result), default=str))
        return 0
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        bench(args.keep.resolve(), args.rows, args.rounds)
        return 0
    work = Path(tempfile.mkdtemp(prefix="pointline-bench-"))
    try:
        bench(work, args.rows, args.rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0
