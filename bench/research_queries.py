"""Research API query latency against hand-written Polars/DuckDB on a generated lake (issue 5).

Targets (issue 5, "Speed"), on a lake of 30 days x 10 symbols x 1,000,000 trades per symbol and
day (10M rows a day, 300M in all):

1. ``pr.Research(lake).trades(exchange, symbol, start, end)``, one symbol, one hour, decoded:
   p99 under 25 ms and at most 1.2x a hand-written ``pl.scan_delta(uri).filter(date, exchange,
   symbol_id, ts_local_us in [a, b)).collect()`` on the same table (the ratio is of the p99s,
   against the plain filter, not decoded; for information: the same filter followed by a
   hand-written decode, and the plain filter on a DeltaTable opened once before the queries,
   which never sees a new commit but shows what is left once the Delta log is not replayed);
2. ``daily_ohlcv`` for all symbols on one date under 50 ms, read the documented way for "all
   symbols on one date" (``sql("select * from daily_ohlcv where date = ?")``; the research API's
   loaders take an exchange and a symbol), against ``pl.scan_delta(uri).filter(date == d)``;
3. ``sql("select symbol_id, count(*), sum(qty) from trades where date = ? group by 1")`` within 2x
   of the same query written directly: ``DeltaTable(uri).to_pyarrow_dataset()`` registered on a
   DuckDB connection of a fresh process (ratio of the medians; the Polars ``scan_delta``
   group-by is printed for information).

The lake is generated directly as Silver (no Bronze, no CSV ingestion): realistic binance-futures
trades (a log-normal random walk per symbol rounded to its price tick, 2 to 8 decimals, stored
as exact ``Decimal(38, 9)``; quantities on the symbol's amount step; buy/sell; arrival times
``ts_local_us`` uniform over the UTC day, exchange times 1-200 ms earlier; lineage ``file_id``
of a Tardis-style Bronze path and ``file_line``), dim_exchange from config/exchanges.csv and a
dim_symbol with one open version per symbol. Every day is written with ``Lake.write_partition``
(the lake's writer: sort order, zstd, row groups of ``[storage] max_row_group_size``), and
``daily_ohlcv`` with ``pointline.gold.trades_daily`` + ``build_daily_ohlcv`` (the Gold asset's
own pure functions). The lake is cached under ``bench/.data/<params>/lake`` and reused while its
manifest says it is complete (generation resumes day by day after an interruption).

Each measured thing runs in a fresh interpreter (the script re-invoked with ``--child ROLE``),
one after another: a warm-up of ``--warmup`` queries, then the same seeded list of random
(symbol, day, hour) or (day) queries in every child; the parent checks that both sides of a
comparison returned the same row counts and prints p50/p90/p99/mean and the ratios. The lake's
files are read once before the children run so that every child sees a warm page cache. The
1-minute load average around the children is printed: on a shared 2-core machine other work
inflates every latency (the ratios suffer less, as all children share the noise).

``--row-group-rows N`` generates the lake with another Parquet row group size (a separate cached
lake): with 1,000,000 rows per symbol and day, a divisor such as 125000 or 62500 makes row groups
that never span two symbols, which the lake's writer does not do by itself.

    .venv/bin/python bench/research_queries.py                 # 30 days x 10 symbols x 1M (first run generates)
    .venv/bin/python bench/research_queries.py --quick         # 3 days x 10 symbols x 100k, a smoke run
    .venv/bin/python bench/research_queries.py --days 5 --symbols 4 --rows-per-symbol-day 200000 --queries 100
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

EXCHANGE = "binance-futures"
FIRST_DAY = dt.date(2024, 5, 1)
LISTED_US = 1_577_836_800_000_000  # 2020-01-01 UTC: every symbol's one dim_symbol version starts here
DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000
DATA_ROOT = Path(__file__).resolve().parent / ".data"

TARGET_TRADES_P99_MS = 25.0
TARGET_TRADES_RATIO = 1.2
TARGET_OHLCV_MS = 50.0
TARGET_SQL_RATIO = 2.0

SQL_GROUP_BY = "select symbol_id, count(*) as trades, sum(qty) as qty from trades where date = ? group by 1"
SQL_OHLCV = "select * from daily_ohlcv where date = ?"


@dataclass(frozen=True)
class Instrument:
    """A generated symbol: start price, price tick decimals, amount step decimals, typical trade qty."""

    symbol: str
    price: float
    price_decimals: int
    qty_decimals: int
    qty: float


INSTRUMENTS = [
    Instrument("BTCUSDT", 65_000.0, 2, 3, 0.05),
    Instrument("ETHUSDT", 3_100.0, 2, 3, 0.8),
    Instrument("SOLUSDT", 145.0, 3, 2, 12.0),
    Instrument("BNBUSDT", 590.0, 3, 2, 2.0),
    Instrument("XRPUSDT", 0.52, 4, 1, 2_000.0),
    Instrument("ADAUSDT", 0.45, 5, 0, 3_000.0),
    Instrument("DOGEUSDT", 0.15, 6, 0, 20_000.0),
    Instrument("AVAXUSDT", 35.0, 4, 1, 40.0),
    Instrument("LINKUSDT", 14.0, 3, 2, 80.0),
    Instrument("PEPEUSDT", 0.0000085, 8, 0, 50_000_000.0),
]


def instruments(n: int) -> list[Instrument]:
    """The first `n` instruments; beyond the ten named ones, more alike with generated names."""
    extra = [Instrument(f"SYM{i}USDT", 10.0 + i, 2 + i % 7, i % 4, 100.0) for i in range(len(INSTRUMENTS), n)]
    return (INSTRUMENTS + extra)[:n]


@dataclass(frozen=True)
class Params:
    days: int
    symbols: int
    rows: int  # per symbol and day
    seed: int
    row_group_rows: int  # the lake writer's max_row_group_size

    @property
    def name(self) -> str:
        return f"d{self.days}-s{self.symbols}-r{self.rows}-seed{self.seed}-rg{self.row_group_rows}"

    @property
    def dates(self) -> list[dt.date]:
        return [FIRST_DAY + dt.timedelta(days=i) for i in range(self.days)]


# ---- generation --------------------------------------------------------------------------------
def _exact(units: pl.Expr, decimals: int) -> pl.Expr:
    """Integer `units` of 10^-decimals as exact Decimal(38, 9) (no float on the way)."""
    step = pl.lit(Decimal(1).scaleb(-decimals), dtype=pl.Decimal(38, decimals))
    return (units.cast(pl.Decimal(38, 0)) * step).cast(pl.Decimal(38, 9))


def _day_open_prices(params: Params, insts: list[Instrument]) -> np.ndarray:
    """[day, symbol] log price at each day's open: a daily random walk (3% a day) per symbol."""
    rng = np.random.default_rng([params.seed, 0])
    steps = rng.normal(0.0, 0.03, size=(params.days, len(insts)))
    steps[0] = 0.0
    return np.log([i.price for i in insts]) + np.cumsum(steps, axis=0)


def trades_frame(params: Params, insts: list[Instrument], ids: dict[str, int], day_index: int) -> pl.DataFrame:
    """One day of trades for every symbol, in the stored order (symbol_id, ts_local_us, lineage)."""
    from pointline.ids import file_id
    from pointline.schemas import TRADES

    day = params.dates[day_index]
    start_us = int(dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp()) * 1_000_000
    opens = _day_open_prices(params, insts)[day_index]
    frames = []
    for k, inst in enumerate(insts):
        rng = np.random.default_rng([params.seed, 1, day_index, k])
        n = params.rows
        ts = np.sort(rng.integers(start_us, start_us + DAY_US, n, dtype=np.int64))
        # log-price walk with 3% daily volatility, rounded to the tick: discrete, sticky prices
        log_price = opens[k] + np.cumsum(rng.normal(0.0, 0.03 / np.sqrt(n), n))
        ticks = np.maximum(np.rint(np.exp(log_price) * 10**inst.price_decimals), 1).astype(np.int64)
        lots = np.maximum(np.rint(rng.lognormal(np.log(inst.qty), 1.2, n) * 10**inst.qty_decimals), 1).astype(np.int64)
        bronze = f"tardis/exchange={EXCHANGE}/type=trades/date={day}/symbol={inst.symbol}/{inst.symbol}.csv.gz"
        first_trade = 1_000_000_000 + day_index * n
        frames.append(
            pl.DataFrame(
                {
                    "ts_local_us": ts,
                    "lag": rng.integers(1_000, 200_000, n, dtype=np.int64),
                    "ticks": ticks,
                    "lots": lots,
                    "buy": rng.random(n) < 0.5,
                }
            ).select(
                pl.lit(day).alias("date"),
                pl.lit(EXCHANGE).alias("exchange"),
                pl.lit(inst.symbol).alias("symbol"),
                pl.lit(ids[inst.symbol], pl.Int64).alias("symbol_id"),
                "ts_local_us",
                (pl.col("ts_local_us") - pl.col("lag")).alias("ts_exch_us"),
                pl.int_range(first_trade, first_trade + n, dtype=pl.Int64).cast(pl.String).alias("trade_id"),
                pl.when("buy").then(pl.lit("buy")).otherwise(pl.lit("sell")).alias("side"),
                _exact(pl.col("ticks"), inst.price_decimals).alias("price"),
                _exact(pl.col("lots"), inst.qty_decimals).alias("qty"),
                pl.lit(None, pl.Int64).alias("conditions"),
                pl.lit(None, pl.String).alias("venue"),
                pl.lit(None, pl.Int64).alias("sequence_number"),
                pl.lit(file_id(bronze), pl.Int64).alias("file_id"),
                pl.int_range(2, n + 2, dtype=pl.Int64).alias("file_line"),  # line 1 is the CSV header
            )
        )
    order = sorted(range(len(insts)), key=lambda k: ids[insts[k].symbol])
    return pl.concat([frames[k] for k in order]).cast(TRADES.polars_schema)  # type: ignore[arg-type]


def dim_symbol_frame(insts: list[Instrument]) -> pl.DataFrame:
    from pointline.scd2 import versions_to_dim
    from vendors.base import INSTRUMENT_COLUMNS

    rows = [
        dict.fromkeys(INSTRUMENT_COLUMNS)
        | {
            "exchange": EXCHANGE,
            "exchange_symbol": i.symbol,
            "valid_from_us": LISTED_US,
            "instrument_type": "perpetual",
            "base_asset": i.symbol.removesuffix("USDT"),
            "quote_asset": "USDT",
            "price_increment": format(Decimal(1).scaleb(-i.price_decimals), "f"),
            "amount_increment": format(Decimal(1).scaleb(-i.qty_decimals), "f"),
            "contract_multiplier": "1",
            "settlement_asset": "USDT",
            "is_inverse": False,
            "source": "bench",
        }
        for i in insts
    ]
    return versions_to_dim(pl.DataFrame(rows, schema=INSTRUMENT_COLUMNS))


def daily_ohlcv_frame(lake: Any, day: dt.date, timezones: dict[str, str]) -> pl.DataFrame:
    """The Gold asset's own pure functions (pointline.gold); a plain aggregate if they are gone."""
    from pointline.schemas import get_table_spec

    try:
        from pointline.gold import build_daily_ohlcv, trades_daily
    except ImportError:  # pragma: no cover - pointline.gold renamed: aggregate into the registry schema
        return _ohlcv_fallback(lake, day, timezones)
    klines = get_table_spec("kline_1d").empty()
    return build_daily_ohlcv(day, klines, trades_daily(lake, day), timezones, {("trades", EXCHANGE): None})


def _ohlcv_fallback(lake: Any, day: dt.date, timezones: dict[str, str]) -> pl.DataFrame:
    from pointline.schemas import get_table_spec
    from pointline.trading_day import day_window_us

    spec = get_table_spec("daily_ohlcv")
    order = ["ts_local_us", "file_id", "file_line"]
    start, end = day_window_us(day, timezones[EXCHANGE])
    rows = (
        lake.scan("trades")
        .filter(pl.col("date") == day)
        .group_by("exchange", "symbol", "symbol_id")
        .agg(
            pl.col("price").sort_by(order).first().alias("open"),
            pl.col("price").max().alias("high"),
            pl.col("price").min().alias("low"),
            pl.col("price").sort_by(order).last().alias("close"),
            pl.col("qty").sum().alias("volume"),
            (pl.col("price").cast(spec.polars_schema["quote_volume"]) * pl.col("qty")).sum().alias("quote_volume"),
            pl.col("qty").filter(pl.col("side") == "buy").sum().alias("taker_buy_volume"),
            pl.len().cast(pl.Int64).alias("trade_count"),
        )
        .collect()
    )
    extra = {
        "date": pl.lit(day),
        "ts_open_us": pl.lit(start),
        "ts_close_us": pl.lit(end),
        "source": pl.lit("trades"),
        "source_data_version": pl.lit(None, pl.String),
    }
    rows = rows.with_columns(**{k: v for k, v in extra.items() if k in spec.names})
    return rows.select(spec.names).cast(spec.polars_schema).sort(list(spec.sort_by))  # type: ignore[arg-type]


def _manifest(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def ensure_lake(params: Params, data_dir: Path, *, regenerate: bool) -> Path:
    """The cached lake for `params` (generated, or completed day by day, when needed); its root."""
    from pointline.config import load_exchanges
    from pointline.lake import Lake
    from pointline.schemas import TABLES

    base = data_dir / params.name
    root, manifest_path = base / "lake", base / "manifest.json"
    if regenerate and base.exists():
        shutil.rmtree(base)
    manifest = _manifest(manifest_path)
    if manifest.get("complete"):
        print(
            f"lake: reusing {root} ({manifest['rows']:,} trades, generated in {manifest['generation_seconds']:.0f}s)",
            flush=True,
        )
        return root
    if manifest.get("params") not in (None, asdict(params)):
        raise SystemExit(f"{manifest_path} belongs to other parameters; remove {base} or pass --regenerate")
    base.mkdir(parents=True, exist_ok=True)
    manifest = manifest or {"params": asdict(params), "trades_days": [], "ohlcv_days": [], "generation_seconds": 0.0}
    lake = Lake(root, max_row_group_size=params.row_group_rows)
    insts = instruments(params.symbols)
    started = time.perf_counter()
    exchanges = load_exchanges()
    lake.replace_table("dim_exchange", exchanges)
    dim = dim_symbol_frame(insts)
    lake.replace_table("dim_symbol", dim)
    ids = dict(zip(dim["exchange_symbol"], dim["symbol_id"], strict=True))
    timezones = dict(exchanges.select("exchange", "timezone").iter_rows())

    def save() -> None:
        manifest["generation_seconds"] += time.perf_counter() - started
        manifest_path.write_text(json.dumps(manifest, indent=1, default=str))

    done = set(manifest["trades_days"])
    print(
        f"lake: generating {params.days} days x {params.symbols} symbols x {params.rows:,} trades into {root} "
        f"({len(done)} day(s) already there)",
        flush=True,
    )
    for i, day in enumerate(params.dates):
        if day.isoformat() in done:
            continue
        t0 = time.perf_counter()
        frame = trades_frame(params, insts, ids, i)
        t1 = time.perf_counter()
        lake.write_partition("trades", frame, {"date": day, "exchange": EXCHANGE})
        t2 = time.perf_counter()
        manifest["trades_days"].append(day.isoformat())
        save()
        started = time.perf_counter()
        print(f"  trades {day}: {frame.height:,} rows, generated {t1 - t0:.1f}s, written {t2 - t1:.1f}s", flush=True)
        del frame
    if "daily_ohlcv" in TABLES:
        done = set(manifest["ohlcv_days"])
        t0 = time.perf_counter()
        for day in params.dates:
            if day.isoformat() in done:
                continue
            lake.write_partition("daily_ohlcv", daily_ohlcv_frame(lake, day, timezones), {"date": day})
            manifest["ohlcv_days"].append(day.isoformat())
            save()
            started = time.perf_counter()
        print(f"  daily_ohlcv: {params.days} dates in {time.perf_counter() - t0:.1f}s", flush=True)
    manifest.update(complete=True, rows=params.days * params.symbols * params.rows)
    save()
    size = sum(f.stat().st_size for f in root.rglob("*.parquet"))
    print(
        f"lake: generated in {manifest['generation_seconds']:.0f}s, {size / 1e9:.2f} GB of Parquet under {root}",
        flush=True,
    )
    return root


def warm_page_cache(root: Path) -> None:
    """Read every file of the lake once, so the children all start from a warm page cache."""
    t0, size = time.perf_counter(), 0
    for path in root.rglob("*"):
        if path.is_file():
            with path.open("rb") as fh:
                while chunk := fh.read(16 << 20):
                    size += len(chunk)
    print(f"page cache: read {size / 1e9:.2f} GB of lake files in {time.perf_counter() - t0:.1f}s", flush=True)


# ---- query plans -------------------------------------------------------------------------------
def make_plan(params: Params, n_trades: int, n_dates: int, n_sql: int, warmup: int, seed: int) -> dict[str, Any]:
    """The seeded random queries every child replays: (symbol, day, hour) and (day)."""
    rng = np.random.default_rng([seed, 2])
    symbols = [i.symbol for i in instruments(params.symbols)]
    dates = [d.isoformat() for d in params.dates]

    def hours(n: int) -> list[list[Any]]:
        return [
            [symbols[rng.integers(len(symbols))], dates[rng.integers(len(dates))], int(rng.integers(24))]
            for _ in range(n)
        ]

    def days(n: int) -> list[str]:
        return [dates[rng.integers(len(dates))] for _ in range(n)]

    return {
        "trades_warmup": hours(warmup),
        "trades": hours(n_trades),
        "dates_warmup": days(warmup),
        "dates": days(n_dates),
        "sql_warmup": days(max(2, warmup // 5)),
        "sql": days(n_sql),
    }


# ---- children ----------------------------------------------------------------------------------
@dataclass
class Timing:
    """What a child reports: per-query wall and CPU milliseconds and row counts (in plan order).

    CPU time is the process's (every thread's) user+system time: the work a query did, which
    another guest on the host (steal) or another process does not inflate."""

    role: str
    ms: list[float]
    rows: list[int]
    cpu_ms: list[float] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def _window(day: str, hour: int) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), tzinfo=dt.UTC)
    return start, start + dt.timedelta(hours=1)


def _us(moment: dt.datetime) -> int:
    return int(moment.timestamp()) * 1_000_000


def _measure(role: str, warmup: list[Any], queries: list[Any], run: Callable[[Any], pl.DataFrame]) -> Timing:
    for q in warmup:
        run(q)
    ms, cpu, rows = [], [], []
    for q in queries:
        c0, t0 = time.process_time(), time.perf_counter()
        out = run(q)
        ms.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        rows.append(out.height)
    return Timing(role, ms, rows, cpu)


def _symbol_ids(lake_root: Path) -> dict[str, int]:
    """Hand-written code knows its symbol_ids: looked up once, outside the timing."""
    dim = pl.read_delta(str(lake_root / "dim" / "dim_symbol"))
    return dict(zip(dim["exchange_symbol"], dim["symbol_id"], strict=True))


def child_trades_pointline(lake_root: Path, plan: dict[str, Any]) -> Timing:
    import pointline.research as pr

    session = pr.Research(lake_root)

    def run(q: list[Any]) -> pl.DataFrame:
        return session.trades(EXCHANGE, q[0], *_window(q[1], q[2]))  # type: ignore[return-value]

    out = _measure("trades_pointline", plan["trades_warmup"], plan["trades"], run)
    out.details["cache"] = asdict(session.cache.stats)
    out.details["schema"] = {k: str(v) for k, v in run(plan["trades"][0]).schema.items()}
    return out


def _trades_scan(lake_root: Path, plan: dict[str, Any], *, decoded: bool, open_once: bool = False) -> Timing:
    """The hand-written query; `open_once` scans one DeltaTable opened before the queries (never
    refreshed: it would miss new commits), to show what is left once the log is not replayed."""
    from deltalake import DeltaTable

    uri, ids = str(lake_root / "silver" / "trades"), _symbol_ids(lake_root)
    source: str | DeltaTable = DeltaTable(uri) if open_once else uri

    def run(q: list[Any]) -> pl.DataFrame:
        start, end = _window(q[1], q[2])
        lf = pl.scan_delta(source).filter(
            pl.col("date") == dt.date.fromisoformat(q[1]),
            pl.col("exchange") == EXCHANGE,
            pl.col("symbol_id") == ids[q[0]],
            pl.col("ts_local_us") >= _us(start),
            pl.col("ts_local_us") < _us(end),
        )
        if decoded:
            lf = lf.with_columns(
                pl.col("price", "qty").cast(pl.Float64),
                pl.col("ts_local_us", "ts_exch_us").cast(pl.Datetime("us", "UTC")),
            ).rename({"ts_local_us": "ts_local", "ts_exch_us": "ts_exch"})
        return lf.collect()

    role = "trades_scan_opened_once" if open_once else "trades_scan_decoded" if decoded else "trades_scan"
    return _measure(role, plan["trades_warmup"], plan["trades"], run)


def child_ohlcv_pointline(lake_root: Path, plan: dict[str, Any]) -> Timing:
    import pointline.research as pr

    session = pr.Research(lake_root)

    def run(day: str) -> pl.DataFrame:
        return session.sql(SQL_OHLCV, [dt.date.fromisoformat(day)])

    return _measure("ohlcv_pointline", plan["dates_warmup"], plan["dates"], run)


def child_ohlcv_scan(lake_root: Path, plan: dict[str, Any]) -> Timing:
    uri = str(lake_root / "gold" / "daily_ohlcv")

    def run(day: str) -> pl.DataFrame:
        return pl.scan_delta(uri).filter(pl.col("date") == dt.date.fromisoformat(day)).collect()

    return _measure("ohlcv_scan", plan["dates_warmup"], plan["dates"], run)


def child_sql_pointline(lake_root: Path, plan: dict[str, Any]) -> Timing:
    import pointline.research as pr

    session = pr.Research(lake_root)

    def run(day: str) -> pl.DataFrame:
        return session.sql(SQL_GROUP_BY, [dt.date.fromisoformat(day)])

    return _measure("sql_pointline", plan["sql_warmup"], plan["sql"], run)


def child_sql_duckdb(lake_root: Path, plan: dict[str, Any]) -> Timing:
    import duckdb
    from deltalake import DeltaTable

    uri = str(lake_root / "silver" / "trades")
    con = duckdb.connect()

    def run(day: str) -> pl.DataFrame:
        con.register("trades", DeltaTable(uri).to_pyarrow_dataset())  # the table's current version
        try:
            return con.sql(SQL_GROUP_BY, params=[dt.date.fromisoformat(day)]).pl()
        finally:
            con.unregister("trades")

    return _measure("sql_duckdb", plan["sql_warmup"], plan["sql"], run)


def child_sql_polars(lake_root: Path, plan: dict[str, Any]) -> Timing:
    uri = str(lake_root / "silver" / "trades")

    def run(day: str) -> pl.DataFrame:
        return (
            pl.scan_delta(uri)
            .filter(pl.col("date") == dt.date.fromisoformat(day))
            .group_by("symbol_id")
            .agg(pl.len().alias("trades"), pl.col("qty").sum())
            .collect()
        )

    return _measure("sql_polars", plan["sql_warmup"], plan["sql"], run)


CHILDREN: dict[str, Callable[[Path, dict[str, Any]], Timing]] = {
    "trades_pointline": child_trades_pointline,
    "trades_scan": lambda root, plan: _trades_scan(root, plan, decoded=False),
    "trades_scan_decoded": lambda root, plan: _trades_scan(root, plan, decoded=True),
    "trades_scan_opened_once": lambda root, plan: _trades_scan(root, plan, decoded=False, open_once=True),
    "ohlcv_pointline": child_ohlcv_pointline,
    "ohlcv_scan": child_ohlcv_scan,
    "sql_pointline": child_sql_pointline,
    "sql_duckdb": child_sql_duckdb,
    "sql_polars": child_sql_polars,
}
GROUPS = {
    "trades": ["trades_scan", "trades_pointline", "trades_scan_decoded", "trades_scan_opened_once"],
    "ohlcv": ["ohlcv_scan", "ohlcv_pointline"],
    "sql": ["sql_duckdb", "sql_pointline", "sql_polars"],
}


def run_child(role: str, lake_root: Path, plan_path: Path, work: Path) -> Timing:
    """One measurement in a fresh interpreter; its output goes to work/<role>.log."""
    out, log = work / f"{role}.json", work / f"{role}.log"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", role, "--lake", str(lake_root)]
    cmd += ["--plan", str(plan_path), "--result", str(out)]
    load_before, cpu_before = os.getloadavg()[0], cpu_times()
    with log.open("w") as fh:
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise SystemExit(f"{role} child failed (exit {proc.returncode}); end of {log}:\n{tail}")
    timing = Timing(**json.loads(out.read_text()))
    timing.details["load_average"] = [load_before, os.getloadavg()[0]]
    timing.details["cpu_share"] = cpu_share(cpu_before, cpu_times())
    return timing


def cpu_times() -> list[int] | None:
    """The machine's CPU time counters (/proc/stat: user nice system idle iowait irq softirq steal)."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            return [int(v) for v in fh.readline().split()[1:9]]
    except (OSError, ValueError):
        return None


def cpu_share(before: list[int] | None, after: list[int] | None) -> dict[str, float]:
    """Shares of all CPU time between two readings: busy (user+nice+system+irq) and steal (time
    the hypervisor gave to other guests: a noisy neighbour inflates every latency)."""
    if before is None or after is None:
        return {}
    d = [b - a for a, b in zip(before, after, strict=True)]
    total = sum(d) or 1
    return {"busy": (d[0] + d[1] + d[2] + d[5] + d[6]) / total, "steal": d[7] / total}


# ---- report ------------------------------------------------------------------------------------
def stats(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {
        "n": len(a),
        "p50": float(np.percentile(a, 50)),
        "p90": float(np.percentile(a, 90)),
        "p99": float(np.percentile(a, 99)),
        "mean": float(a.mean()),
        "max": float(a.max()),
    }


LABELS = {
    "trades_pointline": "pr.Research.trades(), decoded",
    "trades_scan": "pl.scan_delta().filter() (plain)",
    "trades_scan_decoded": "pl.scan_delta().filter() + decode",
    "trades_scan_opened_once": "same, DeltaTable opened once (stale)",
    "ohlcv_pointline": "pr.sql(select * from daily_ohlcv ...)",
    "ohlcv_scan": "pl.scan_delta(daily_ohlcv).filter()",
    "sql_pointline": "pr.sql() group-by",
    "sql_duckdb": "duckdb + DeltaTable dataset",
    "sql_polars": "pl.scan_delta().group_by()",
}


def check_same_rows(results: dict[str, Timing], a: str, b: str) -> None:
    if a in results and b in results and results[a].rows != results[b].rows:
        bad = [i for i, (x, y) in enumerate(zip(results[a].rows, results[b].rows, strict=True)) if x != y]
        raise SystemExit(f"{a} and {b} returned different row counts for {len(bad)} queries, e.g. query {bad[0]}")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(results: dict[str, Timing], params: Params) -> list[str]:
    s = {role: stats(t.ms) for role, t in results.items()}
    lines = [
        f"{'query (ms)':<42} {'n':>4} {'p50':>8} {'p90':>8} {'p99':>8} {'mean':>8} {'max':>8} {'cpu':>7}"
        + f" {'rows/query':>11}  load   steal",
        "-" * 127,
    ]
    for role, t in results.items():
        st = s[role]
        load, cpu = t.details.get("load_average"), t.details.get("cpu_share") or {}
        lines.append(
            f"{LABELS[role]:<42} {st['n']:>4} {st['p50']:>8.2f} {st['p90']:>8.2f} {st['p99']:>8.2f} "
            f"{st['mean']:>8.2f} {st['max']:>8.2f} {np.mean(t.cpu_ms):>7.2f} {np.mean(t.rows):>11,.0f}"
            + (f"  {load[0]:.1f}-{load[1]:.1f}" if load else "")
            + (f" {100 * cpu['steal']:>5.1f}%" if cpu else "")
        )
    lines += ["", f"{'target (issue 5)':<58} {'measured':>12}  result", "-" * 80]
    if "trades_pointline" in s:
        p = s["trades_pointline"]
        lines.append(
            f"{'trades, 1 symbol-hour, decoded: p99 < 25 ms':<58} {p['p99']:>9.2f} ms  "
            f"{verdict(p['p99'] < TARGET_TRADES_P99_MS)}"
        )
        if "trades_scan" in s:
            b = s["trades_scan"]
            r99, r50, rmean = p["p99"] / b["p99"], p["p50"] / b["p50"], p["mean"] / b["mean"]
            rcpu = np.mean(results["trades_pointline"].cpu_ms) / np.mean(results["trades_scan"].cpu_ms)
            lines.append(
                f"{'trades p99 / plain scan_delta filter p99 <= 1.2x':<58} {r99:>10.2f}x  "
                f"{verdict(r99 <= TARGET_TRADES_RATIO)}  (p50 {r50:.2f}x, mean {rmean:.2f}x, cpu {rcpu:.2f}x)"
            )
        for role, label in (
            ("trades_scan_decoded", "  (information) vs scan_delta filter + decode, p99"),
            ("trades_scan_opened_once", "  (information) vs filter on a DeltaTable opened once, p99"),
        ):
            if role in s:
                d = s[role]
                rcpu = np.mean(results["trades_pointline"].cpu_ms) / np.mean(results[role].cpu_ms)
                lines.append(
                    f"{label:<58} {p['p99'] / d['p99']:>10.2f}x  "
                    f"(p50 {p['p50'] / d['p50']:.2f}x, mean {p['mean'] / d['mean']:.2f}x, cpu {rcpu:.2f}x)"
                )
    if "ohlcv_pointline" in s:
        p = s["ohlcv_pointline"]
        lines.append(
            f"{'daily_ohlcv, all symbols, one date: p99 < 50 ms':<58} {p['p99']:>9.2f} ms  "
            f"{verdict(p['p99'] < TARGET_OHLCV_MS)}"
        )
        if "ohlcv_scan" in s:
            b = s["ohlcv_scan"]
            lines.append(
                f"{'  (information) vs pl.scan_delta(daily_ohlcv) filter, p50':<58} {p['p50'] / b['p50']:>10.2f}x  "
                f"(p99 {p['p99'] / b['p99']:.2f}x; scan_delta p99 {b['p99']:.2f} ms)"
            )
    if "sql_pointline" in s and "sql_duckdb" in s:
        p, b = s["sql_pointline"], s["sql_duckdb"]
        r50 = p["p50"] / b["p50"]
        lines.append(
            f"{'sql() group-by, one day / same DuckDB query direct <= 2x':<58} {r50:>10.2f}x  "
            f"{verdict(r50 <= TARGET_SQL_RATIO)}  (p50; p99 {p['p99'] / b['p99']:.2f}x, mean "
            f"{p['mean'] / b['mean']:.2f}x)"
        )
        if "sql_polars" in s:
            lines.append(
                f"{'  (information) vs Polars scan_delta group-by, p50':<58} "
                f"{p['p50'] / s['sql_polars']['p50']:>10.2f}x"
            )
    return lines


# ---- main --------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--symbols", type=int, default=10)
    parser.add_argument("--rows-per-symbol-day", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="3 days x 10 symbols x 100,000 trades, 100 queries")
    parser.add_argument("--queries", type=int, default=300, help="measured trades and daily_ohlcv queries per child")
    parser.add_argument("--sql-queries", type=int, default=60, help="measured one-day group-by queries per child")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured queries first, in every child")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--row-group-rows",
        type=int,
        help="Parquet row group size of the generated lake (default: config/lake.toml [storage] "
        "max_row_group_size); a divisor of --rows-per-symbol-day gives row groups that never span two symbols",
    )
    parser.add_argument("--only", choices=sorted(GROUPS), action="append", help="measure only these groups")
    parser.add_argument("--data-dir", type=Path, default=DATA_ROOT, help="where generated lakes are cached")
    parser.add_argument("--regenerate", action="store_true", help="discard the cached lake of these parameters")
    parser.add_argument("--generate-only", action="store_true", help="build (or complete) the cached lake and stop")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--lake", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--plan", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.days, args.symbols, args.rows_per_symbol_day = 3, 10, 100_000
        args.queries, args.sql_queries = min(args.queries, 100), min(args.sql_queries, 20)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        timing = CHILDREN[args.child](args.lake, json.loads(args.plan.read_text()))
        args.result.write_text(json.dumps(asdict(timing)))
        return 0
    import deltalake
    import duckdb

    from pointline.config import settings
    from pointline.schemas import TABLES

    row_groups = args.row_group_rows or settings().max_row_group_size
    params = Params(args.days, args.symbols, args.rows_per_symbol_day, args.seed, row_groups)
    print(
        f"python {platform.python_version()}, polars {pl.__version__}, deltalake {deltalake.__version__}, "
        f"duckdb {duckdb.__version__}, {os.cpu_count()} cores; row groups of {row_groups:,} rows"
        + ("" if row_groups == settings().max_row_group_size else " (not config/lake.toml's: an experiment)"),
        flush=True,
    )
    root = ensure_lake(params, args.data_dir.resolve(), regenerate=args.regenerate)
    if args.generate_only:
        return 0
    work = args.data_dir.resolve() / params.name / "runs" / time.strftime("%Y%m%dT%H%M%S")
    work.mkdir(parents=True)
    plan = make_plan(params, args.queries, args.queries, args.sql_queries, args.warmup, args.seed)
    plan_path = work / "plan.json"
    plan_path.write_text(json.dumps(plan))
    warm_page_cache(root)
    groups = args.only or list(GROUPS)
    if "daily_ohlcv" not in TABLES and "ohlcv" in groups:
        print("daily_ohlcv is not in the schema registry: skipping its measurement", flush=True)
        groups.remove("ohlcv")
    results: dict[str, Timing] = {}
    for group in groups:
        for role in GROUPS[group]:
            print(f"running {role} ...", flush=True)
            results[role] = run_child(role, root, plan_path, work)
    check_same_rows(results, "trades_pointline", "trades_scan")
    check_same_rows(results, "trades_pointline", "trades_scan_decoded")
    check_same_rows(results, "trades_pointline", "trades_scan_opened_once")
    check_same_rows(results, "ohlcv_pointline", "ohlcv_scan")
    check_same_rows(results, "sql_pointline", "sql_duckdb")
    rows_day = params.symbols * params.rows
    print(
        f"\nResearch query benchmark: {params.days} days x {params.symbols} symbols x {params.rows:,} trades "
        f"({rows_day:,} rows a day, {params.days * rows_day:,} in all), {EXCHANGE}; "
        f"{args.warmup} warm-up queries, then the same seeded queries in every fresh process"
    )
    lines = report(results, params)
    loads = [x for t in results.values() for x in t.details["load_average"]]
    steal = max((t.details["cpu_share"].get("steal", 0.0) for t in results.values()), default=0.0)
    noisy = max(loads) > (os.cpu_count() or 1) or steal > 0.05
    lines.append(
        f"\nload = 1-minute load average before and after each child ({min(loads):.1f} to {max(loads):.1f} on "
        f"{os.cpu_count()} cores); steal = share of CPU time the hypervisor gave other guests during the child"
        + ("\n(other work or a noisy neighbour was running: latencies are inflated)" if noisy else "")
    )
    print("\n".join(lines))
    (work / "report.txt").write_text("\n".join(lines) + "\n")
    summary = {
        r: {
            **stats(t.ms),
            "cpu_ms_mean": float(np.mean(t.cpu_ms)),
            "load_average": t.details["load_average"],
            "cpu_share": t.details["cpu_share"],
        }
        for r, t in results.items()
    }
    (work / "stats.json").write_text(json.dumps(summary, indent=1))
    print(f"\nper-query timings and logs: {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
