"""Benchmark and correctness facts for the price/quantity encoding (docs/decisions/0001-exact-numbers.md).

One run generates trades-like vendor text (20 symbols, BTC-like to meme-coin prices, quantities
from "0.00001" to "1000000000000") and compares three encodings on the same rows:

* ``decimal``: ``pl.Decimal(38, 9)`` via ``pointline.numbers.exact_number`` (regex guard, then
  ``str.to_decimal``), the encoding the lake uses;
* ``int64e9``: Int64 scaled by 1e9, parsed from the text exactly (integer and fraction split,
  no float); values of about 9.22e9 units or more are rejected (null): they would overflow;
* ``float64``: ``str -> Float64``.

For each it measures parse time, Delta table size (deltalake, zstd), Polars full and filtered
scans, a per-symbol group-by (sum of qty and of the price x qty notional), and DuckDB running
the same aggregation over ``DeltaTable(...).to_pyarrow_dataset()``; then it prints correctness
facts (overflow, float inexactness, Polars decimal arithmetic). Run:

    .venv/bin/python bench/exact_numbers.py [--rows 5000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import deltalake
import duckdb
import numpy as np
import polars as pl
import pyarrow
from deltalake import DeltaTable, WriterProperties, write_deltalake

from pointline.numbers import EXACT, exact_number, number_problem

SCALE = 1_000_000_000
INT64_MAX = 2**63 - 1
NOTIONAL = pl.Decimal(38, 18)
# Int64 x 1e9 holds |value| <= 9223372036.854775807: at most 10 integer digits, and below
# INT64E9_WHOLE_LIMIT so that whole * 1e9 + fraction cannot wrap.
INT64E9_PATTERN = r"^-?[0-9]{1,10}(\.[0-9]{1,9})?$"
INT64E9_WHOLE_LIMIT = INT64_MAX // SCALE  # 9223372036
FILTER_SYMBOL = "SYM07"


@dataclass(frozen=True)
class Symbol:
    """One generated instrument: price level and tick decimals, typical size and size decimals."""

    name: str
    price: float
    price_decimals: int
    qty_median: float
    qty_decimals: int
    huge_share: float = 0.0  # share of rows with a meme-coin size of 1e10..1e12 units


SYMBOLS: tuple[Symbol, ...] = (
    Symbol("SYM00", 60123.4, 1, 0.02, 5),  # BTC-like
    Symbol("SYM01", 3012.55, 2, 0.3, 4),  # ETH-like
    Symbol("SYM02", 145.123, 3, 5.0, 2),
    Symbol("SYM03", 0.5123, 4, 800.0, 1),
    Symbol("SYM04", 0.00001234, 8, 5e7, 0, huge_share=0.002),  # SHIB-like
    Symbol("SYM05", 0.000008123, 9, 2e8, 0, huge_share=0.002),  # PEPE-like
    Symbol("SYM06", 0.0002345, 7, 1e6, 0, huge_share=0.001),
    Symbol("SYM07", 25.1234, 4, 12.0, 3),
    Symbol("SYM08", 1.0001, 4, 5000.0, 2),
    Symbol("SYM09", 9.876, 3, 40.0, 2),
    Symbol("SYM10", 1700.0, 2, 300.0, 0),  # CN A-share-like, shares
    Symbol("SYM11", 700000.0, 2, 2.0, 0),  # BRK.A-like
    Symbol("SYM12", 185.5, 2, 100.0, 0),
    Symbol("SYM13", 0.001234, 6, 2e5, 1),
    Symbol("SYM14", 12.34, 2, 50.0, 1),
    Symbol("SYM15", 432.1, 1, 1.5, 3),
    Symbol("SYM16", 0.07123, 5, 3000.0, 0),
    Symbol("SYM17", 3.456, 3, 200.0, 1),
    Symbol("SYM18", 88.88, 2, 7.0, 2),
    Symbol("SYM19", 0.9999, 4, 10000.0, 0),
)


@dataclass(frozen=True)
class Encoding:
    """How one encoding parses text and computes the per-trade notional (Polars and DuckDB SQL)."""

    name: str
    parse: Callable[[str], pl.Expr]
    notional: Callable[[], pl.Expr]
    duck_notional: str


@dataclass
class Result:
    """Measurements of one encoding: seconds, megabytes, row counts."""

    name: str
    parse_s: float = 0.0
    parse_peak_mb: float = 0.0
    frame_mb: float = 0.0
    rejected_rows: int = 0
    alt_parse_s: float = 0.0
    write_s: float = 0.0
    delta_mb: float = 0.0
    scan_s: float = 0.0
    scan_peak_mb: float = 0.0
    filtered_s: float = 0.0
    agg_s: float = 0.0
    scan_agg_s: float = 0.0
    duck_s: float = 0.0
    duck_peak_mb: float = 0.0


# --- encodings ------------------------------------------------------------------------------


def scaled_int64(col: str, *, guard: bool = True) -> pl.Expr:
    """Text -> Int64 holding value x 1e9, exactly from the digits (no float on the way).

    With ``guard`` text that is not a plain decimal with at most 9 fractional digits, or whose
    integer part reaches 9223372036, gives null; without it a large value silently wraps around.
    """
    text = pl.col(col)
    body = text.str.strip_prefix("-").str.split_exact(".", 1)
    whole = body.struct.field("field_0").cast(pl.Int64, strict=False)
    frac = body.struct.field("field_1").fill_null("").str.pad_end(9, "0").cast(pl.Int64, strict=False)
    magnitude = whole * SCALE + frac
    value = pl.when(text.str.starts_with("-")).then(-magnitude).otherwise(magnitude)
    if not guard:
        return value
    fits = text.str.contains(INT64E9_PATTERN) & (whole < INT64E9_WHOLE_LIMIT)
    return pl.when(fits).then(value).otherwise(None)


def scaled_int64_via_decimal(col: str) -> pl.Expr:
    """Text -> Int64 x 1e9 through the guarded Decimal parse, then an exact rescale (null if too big)."""
    return (exact_number(col) * pl.lit(SCALE)).cast(pl.Int64, strict=False)


def float64(col: str) -> pl.Expr:
    """Text -> Float64 (nearest double)."""
    return pl.col(col).cast(pl.Float64)


def decimal_notional() -> pl.Expr:
    """Exact price x qty: widen one factor to scale 18 so the product keeps all 18 digits."""
    return pl.col("price").cast(NOTIONAL) * pl.col("qty")


ENCODINGS: tuple[Encoding, ...] = (
    Encoding("decimal", exact_number, decimal_notional, "price * qty"),
    Encoding(
        "int64e9",
        scaled_int64,
        lambda: pl.col("price").cast(pl.Int128) * pl.col("qty"),  # value x 1e18, Int64 would overflow
        "CAST(price AS HUGEINT) * qty",
    ),
    Encoding("float64", float64, lambda: pl.col("price") * pl.col("qty"), "price * qty"),
)


# --- data -----------------------------------------------------------------------------------


def fixed_text(mantissa: pl.Expr, decimals: int) -> pl.Expr:
    """Non-negative integer mantissa with `decimals` implied places -> vendor text ("60123.4")."""
    if decimals == 0:
        return mantissa.cast(pl.String)
    unit = 10**decimals
    whole = (mantissa // unit).cast(pl.String)
    frac = (mantissa % unit).cast(pl.String).str.zfill(decimals).str.strip_chars_end("0")
    return pl.when(frac == "").then(whole).otherwise(pl.concat_str(whole, pl.lit("."), frac))


def symbol_rows(sym: Symbol, n: int, rng: np.random.Generator) -> pl.DataFrame:
    """`n` trades of one symbol: random-walk price on its tick grid, log-normal sizes."""
    tick = 10.0**-sym.price_decimals
    walk = np.exp(np.cumsum(rng.normal(0.0, 2e-4, n)))
    price_m = np.maximum(np.rint(sym.price * walk / tick), 1).astype(np.int64)
    qty_unit = 10.0**-sym.qty_decimals
    qty = sym.qty_median * rng.lognormal(0.0, 1.2, n)
    qty_m = np.maximum(np.rint(qty / qty_unit), 1).astype(np.int64)
    huge = rng.random(n) < sym.huge_share
    qty_m[huge] = rng.choice(np.array([10**10, 5 * 10**10, 10**11, 10**12], dtype=np.int64), huge.sum())
    ts = 1_704_067_200_000_000 + np.sort(rng.integers(0, 86_400_000_000, n))
    frame = pl.DataFrame({"ts_local_us": ts, "p": price_m, "q": qty_m})
    return frame.select(
        pl.lit(sym.name).alias("symbol"),
        "ts_local_us",
        fixed_text(pl.col("p"), sym.price_decimals).alias("price_text"),
        fixed_text(pl.col("q"), sym.qty_decimals).alias("qty_text"),
    )


def generate(rows: int, seed: int) -> pl.DataFrame:
    """All symbols' trades, clustered by symbol then time (the lake's sort order)."""
    rng = np.random.default_rng(seed)
    per = rows // len(SYMBOLS)
    sizes = [per + (1 if i < rows - per * len(SYMBOLS) else 0) for i in range(len(SYMBOLS))]
    return pl.concat([symbol_rows(s, n, rng) for s, n in zip(SYMBOLS, sizes, strict=True)]).rechunk()


# --- measuring ------------------------------------------------------------------------------


def rss_bytes() -> int:
    """Current resident set size of this process."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRss:
    """Context manager sampling RSS every 5 ms; `delta_mb` is the peak above the RSS at entry."""

    def __init__(self) -> None:
        self.delta_mb = 0.0
        self._stop = threading.Event()
        self._base = 0
        self._peak = 0
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self._peak = max(self._peak, rss_bytes())

    def __enter__(self) -> PeakRss:
        gc.collect()
        self._base = self._peak = rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, rss_bytes())
        self.delta_mb = (self._peak - self._base) / 2**20


def best_of(fn: Callable[[], Any], repeats: int) -> tuple[float, float, Any]:
    """Run `fn` `repeats` times: (fastest seconds, peak RSS delta MB of the first run, last result)."""
    times: list[float] = []
    peak = 0.0
    result: Any = None
    for i in range(repeats):
        result = None
        gc.collect()
        if i == 0:
            with PeakRss() as rss:
                start = time.perf_counter()
                result = fn()
                times.append(time.perf_counter() - start)
            peak = rss.delta_mb
        else:
            start = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - start)
    return min(times), peak, result


def dir_mb(path: Path) -> float:
    """Size of the Parquet data files under `path` (the Delta log excluded), MiB."""
    return sum(p.stat().st_size for p in path.rglob("*.parquet")) / 2**20


def aggregate(lf: pl.LazyFrame, enc: Encoding) -> pl.DataFrame:
    """Per-symbol sum of qty and of the notional, sorted by symbol."""
    agg = lf.group_by("symbol").agg(pl.col("qty").sum(), enc.notional().sum().alias("notional"))
    return agg.sort("symbol").collect()


def duck_aggregate(path: Path, enc: Encoding) -> list[tuple[Any, ...]]:
    """The same aggregation in DuckDB over the Delta table's pyarrow dataset."""
    dataset = DeltaTable(str(path)).to_pyarrow_dataset()
    con = duckdb.connect()
    con.register("trades", dataset)
    sql = f"SELECT symbol, sum(qty), sum({enc.duck_notional}) FROM trades GROUP BY symbol ORDER BY symbol"
    rows = con.execute(sql).fetchall()
    con.close()
    return rows


def parse_frame(text: pl.DataFrame, parse: Callable[[str], pl.Expr]) -> pl.LazyFrame:
    """The trades frame with price and qty parsed from their text by `parse`."""
    return text.lazy().select(
        "symbol", "ts_local_us", parse("price_text").alias("price"), parse("qty_text").alias("qty")
    )


def run_encoding(text: pl.DataFrame, enc: Encoding, root: Path, repeats: int) -> tuple[Result, pl.DataFrame]:
    """All measurements for one encoding; returns them and its per-symbol aggregate."""
    res = Result(enc.name)
    res.parse_s, res.parse_peak_mb, df = best_of(parse_frame(text, enc.parse).collect, repeats)
    res.frame_mb = df.estimated_size() / 2**20
    if enc.name == "int64e9":
        res.alt_parse_s, _, _ = best_of(parse_frame(text, scaled_int64_via_decimal).collect, repeats)
    res.rejected_rows = df.filter(pl.col("price").is_null() | pl.col("qty").is_null()).height
    path = root / enc.name
    props = WriterProperties(compression="ZSTD")
    res.write_s, _, _ = best_of(lambda: write_deltalake(str(path), df.to_arrow(), writer_properties=props), 1)
    res.delta_mb = dir_mb(path)
    res.scan_s, res.scan_peak_mb, _ = best_of(lambda: pl.scan_delta(str(path)).collect(), repeats)
    filtered = pl.scan_delta(str(path)).filter(pl.col("symbol") == FILTER_SYMBOL)
    res.filtered_s, _, _ = best_of(filtered.collect, repeats)
    res.agg_s, _, agg = best_of(lambda: aggregate(df.lazy(), enc), repeats)
    res.scan_agg_s, _, _ = best_of(lambda: aggregate(pl.scan_delta(str(path)), enc), repeats)
    duckdb.connect().execute("SELECT 1").fetchall()  # load DuckDB before measuring its memory
    res.duck_s, res.duck_peak_mb, _ = best_of(lambda: duck_aggregate(path, enc), repeats)
    return res, agg


# --- reporting ------------------------------------------------------------------------------

# (Result field, column label, format, whether a ratio to float64 is meaningful)
METRICS: tuple[tuple[str, str, str, bool], ...] = (
    ("parse_s", "parse s", "{:.3f}", True),
    ("write_s", "write s", "{:.3f}", True),
    ("delta_mb", "Delta MiB", "{:.1f}", True),
    ("frame_mb", "frame MiB", "{:.0f}", True),
    ("scan_s", "scan s", "{:.3f}", True),
    ("filtered_s", "filter s", "{:.3f}", True),
    ("agg_s", "agg s", "{:.3f}", True),
    ("scan_agg_s", "scan+agg s", "{:.3f}", True),
    ("duck_s", "duckdb s", "{:.3f}", True),
    ("parse_peak_mb", "parse +MiB", "{:.0f}", False),
    ("scan_peak_mb", "scan +MiB", "{:.0f}", False),
    ("duck_peak_mb", "duck +MiB", "{:.0f}", False),
)


def print_table(results: list[Result]) -> None:
    """Measurements, then the same as ratios to float64."""
    head = f"{'encoding':<9}" + "".join(f"{label:>11}" for _, label, _, _ in METRICS)
    print(head)
    for r in results:
        print(f"{r.name:<9}" + "".join(f"{fmt.format(getattr(r, key)):>11}" for key, _, fmt, _ in METRICS))
    base = next(r for r in results if r.name == "float64")
    print("\nratio to float64 (x):")
    print(head)
    for r in results:
        cells = [
            f"{getattr(r, key) / getattr(base, key):>11.2f}" if ratio else f"{'-':>11}" for key, _, _, ratio in METRICS
        ]
        print(f"{r.name:<9}" + "".join(cells))
    alt = next(r for r in results if r.name == "int64e9").alt_parse_s
    print(f"\nint64e9 parse via the guarded Decimal parse then x1e9 cast: {alt:.3f} s ({alt / base.parse_s:.2f}x)")
    held = ", ".join(f"{r.name}={r.rejected_rows}" for r in results)
    print(f"\nrows the encoding cannot hold (null -> quarantine): {held}")


def compare_aggregates(aggs: dict[str, list[list[str]]]) -> None:
    """Which Int64 and Float64 per-symbol totals differ from the exact Decimal totals, and why."""
    exact = {sym: (Decimal(q), Decimal(n)) for sym, q, n in aggs["decimal"]}
    ints = {sym: (Decimal(q).scaleb(-9), Decimal(n).scaleb(-18)) for sym, q, n in aggs["int64e9"]}
    limit = Decimal(INT64_MAX).scaleb(-9)
    for k, what in ((0, "qty"), (1, "notional")):
        wrong = [sym for sym in exact if ints[sym][k] != exact[sym][k]]
        desc = ", ".join(f"{sym} {ints[sym][k]:.4g} vs {exact[sym][k]:.4g}" for sym in wrong)
        print(f"int64e9 {what} totals wrong for {len(wrong)}/20 symbols: {desc}")
    over = [sym for sym in exact if exact[sym][0] > limit]
    print(f"  exact qty totals above the Int64 x 1e9 limit ({limit:.3g}), so the Int64 sum wraps: {', '.join(over)}")
    floats = {sym: (Decimal(q), Decimal(n)) for sym, q, n in aggs["float64"]}
    off = sum(floats[sym] != exact[sym] for sym in exact)
    rel = max(abs(floats[sym][k] - exact[sym][k]) / exact[sym][k] for sym in exact for k in (0, 1))
    print(f"float64 per-symbol totals (repr) != exact for {off}/20 symbols; max relative error {rel:.2e}")


# --- correctness facts ----------------------------------------------------------------------


def show(label: str, fn: Callable[[], Any]) -> None:
    """Print `label: result`, or the exception a Polars/DuckDB call raised."""
    try:
        value = fn()
    except Exception as exc:  # the exception is the fact being shown
        value = f"raises {type(exc).__name__}: {str(exc).splitlines()[0][:110]}"
    print(f"  {label}: {value}")


def dec(values: list[str], dtype: pl.DataType = EXACT) -> pl.Series:
    """Text -> Decimal series of `dtype` (test values only; no guard)."""
    return pl.Series(values).str.to_decimal(scale=dtype.scale).cast(dtype)


def int64_facts() -> None:
    """Int64 x 1e9: the 9.22e9-unit ceiling and notional overflow."""
    print("Int64 x 1e9:")
    print(f"  largest value: {Decimal(INT64_MAX) / SCALE} units")
    frame = pl.DataFrame({"qty": ["1000000000000"]})
    show(
        "unguarded parse of qty 1e12 (wraps silently)",
        lambda: frame.select(scaled_int64("qty", guard=False)).to_series()[0],
    )
    show("guarded parse of qty 1e12", lambda: frame.select(scaled_int64("qty")).to_series()[0])
    price, qty = 60_123_400_000_000, 2_500_000_000  # 60123.4 x 2.5 at 1e9
    show("60123.4 x 2.5 in Int64 (scale 1e18, wraps)", lambda: (pl.Series([price]) * pl.Series([qty]))[0])
    show("the same in Int128", lambda: (pl.Series([price], dtype=pl.Int128) * pl.Series([qty], dtype=pl.Int128))[0])
    show("Int64 sum past 2^63 (wraps)", lambda: pl.Series([9 * 10**18, 9 * 10**18]).sum())
    show("DuckDB BIGINT product past 2^63", lambda: duckdb.sql("SELECT 9000000000000000000::BIGINT * 2").fetchall())


def float_facts() -> None:
    """Float64: not exact for decimal text."""
    print("Float64:")
    show("sum of 0.1 ten times", lambda: pl.Series([0.1] * 10).sum())
    show("'0.1234567891234' is stored as", lambda: Decimal(float("0.1234567891234")))
    show("'12345678.123456789' parses to", lambda: repr(float("12345678.123456789")))
    text = "12345678.123456789"
    show(f"round(float({text!r}) * 1e9) vs exact", lambda: (round(float(text) * 1e9), 12_345_678_123_456_789))
    show("'1000000000000.000000001' parses to", lambda: repr(float("1000000000000.000000001")))


def decimal_facts() -> None:
    """Decimal(38, 9): guarded parse, exact sums, and what Polars does with products and overflow."""
    print("Decimal(38, 9) (polars " + pl.__version__ + "):")
    text = pl.DataFrame({"qty": ["0.1234567891234", "1e5", "1000000000000", "0.001"]})
    show("str.to_decimal(scale=9) alone", lambda: text["qty"].str.to_decimal(scale=9).to_list())
    show("guarded exact_number", lambda: text.select(exact_number("qty")).to_series().to_list())
    show("quarantine reasons", lambda: text.select(number_problem("qty")).to_series().to_list())
    show("sum of 0.1 ten times", lambda: dec(["0.1"] * 10).sum())
    p, q = dec(["0.00001234", "700000", "0.000008123", "60123.4"]), dec(["1000000000000", "1000000", "0.5", "0.00001"])
    show("dtype of Decimal(38,9) * Decimal(38,9)", lambda: (p * q).dtype)
    show("0.00001234*1e12, 700000*1e6, 0.000008123*0.5, 60123.4*0.00001", lambda: (p * q).to_list())
    show(
        "half-even rounding: 1.5e-9, 2.5e-9, 3.5e-9",
        lambda: (dec(["0.000000003", "0.000000005", "0.000000007"]) * dec(["0.5"] * 3)).to_list(),
    )
    show("recipe price.cast(Decimal(38,18)) * qty", lambda: (p.cast(NOTIONAL) * q).to_list())
    big = dec(["100000000000000000000"])
    show("1e20 * 1e20 at scale 9", lambda: (big * big).to_list())
    show("1e20 price cast to Decimal(38,18)", lambda: big.cast(NOTIONAL).to_list())
    huge = pl.DataFrame({"k": [1, 1], "x": dec(["99999999999999999999999999999"] * 2)})
    show("lazy group_by sum past 38 digits", lambda: huge.lazy().group_by("k").agg(pl.col("x").sum()).collect()["x"][0])
    show("eager group_by sum past 38 digits", lambda: huge.group_by("k").agg(pl.col("x").sum())["x"][0])
    show("Decimal -> Float64 (decoded output)", lambda: dec(["60123.4", "0.00001234"]).cast(pl.Float64).to_list())
    sql = "SELECT typeof(a * b), a * b FROM (SELECT 0.000008123::DECIMAL(38,9) a, 0.5::DECIMAL(38,9) b)"
    show("DuckDB DECIMAL(38,9) * DECIMAL(38,9)", lambda: duckdb.sql(sql).fetchall())


# --- main -----------------------------------------------------------------------------------


def machine() -> str:
    """CPU model, core count, memory, and library versions for the record."""
    with open("/proc/cpuinfo") as f:
        cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    libs = {"polars": pl, "deltalake": deltalake, "duckdb": duckdb, "pyarrow": pyarrow}
    versions = ", ".join(f"{name} {mod.__version__}" for name, mod in libs.items())
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}; {versions}"


def parse_args() -> argparse.Namespace:
    """Command line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=5_000_000, help="trades to generate (default 5,000,000)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per measurement; the fastest is kept")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workdir", type=Path, default=None, help="where the Delta tables go (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the Delta tables")
    ap.add_argument("--child", choices=[e.name for e in ENCODINGS], help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    return ap.parse_args()


def child(args: argparse.Namespace) -> None:
    """Measure one encoding in this (fresh) process and write the result as JSON to --out."""
    enc = next(e for e in ENCODINGS if e.name == args.child)
    text = generate(args.rows, args.seed)
    res, agg = run_encoding(text, enc, args.workdir, args.repeats)
    rows = [[str(v) for v in row] for row in agg.iter_rows()]
    args.out.write_text(json.dumps({"result": asdict(res), "agg": rows}))


def spawn(enc: Encoding, args: argparse.Namespace, root: Path) -> tuple[Result, list[list[str]]]:
    """Run one encoding in its own interpreter, so memory and allocator state start out alike."""
    out = root / f"{enc.name}.json"
    common = ["--rows", str(args.rows), "--repeats", str(args.repeats), "--seed", str(args.seed)]
    cmd = [sys.executable, __file__, "--child", enc.name, "--workdir", str(root), "--out", str(out), *common]
    subprocess.run(cmd, check=True)
    data = json.loads(out.read_text())
    return Result(**data["result"]), data["agg"]


def main() -> None:
    """Measure every encoding (one subprocess each), print the table and the correctness facts."""
    args = parse_args()
    if args.child:
        child(args)
        return
    print(f"{dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; {machine()}")
    print("text sample (first row per symbol):")
    print(generate(20_000, args.seed).group_by("symbol", maintain_order=True).first().head(6))
    root = Path(tempfile.mkdtemp(prefix="exact_numbers_", dir=args.workdir))
    try:
        runs = {enc.name: spawn(enc, args, root) for enc in ENCODINGS}
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\n{args.rows:,} rows, 20 symbols, best of {args.repeats}, one process per encoding.")
    print("frame MiB = parsed frame in memory; +MiB = peak RSS above the start of the step (first run).")
    print_table([r for r, _ in runs.values()])
    compare_aggregates({name: agg for name, (_, agg) in runs.items()})
    print()
    int64_facts()
    float_facts()
    decimal_facts()


if __name__ == "__main__":
    main()
