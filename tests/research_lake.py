"""Small real lakes for the research API tests (and the docstring examples they run).

`build_sample_lake` runs the real ingestion code (pointline.pipeline.ingest_partition, the same
function the Dagster assets wrap, without Dagster) over the deterministic sample Bronze: Tardis
every data type for binance, binance-futures and deribit (with bad rows, a symbol missing from the
instrument metadata and the SOLUSDT tick-size change at 12:00 UTC on the first day), Binance
Vision 1h/1d klines, CoinGecko asset-stats snapshots, and a CN day (Tushare security master,
Quant360 SZSE/SSE L2/L3 archives, unpacked as the unpack asset does); then it records the checks in the DQ
history like the assets do. It is the `make demo` lake in miniature, so the docstring examples
hold on both.

It also holds dim_trading_calendar for 2024 (pointline.calendars.build_trading_calendar).

`write_shanghai_lake` writes Silver rows directly (Lake.write_partition, frames built from the
schema registry) for an Asia/Shanghai exchange, to test midnight pruning precisely.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import polars as pl

from pointline.calendars import build_trading_calendar
from pointline.checks import check_stored_partition, checks_for
from pointline.config import config_dir, load_exchanges
from pointline.dq import record_history
from pointline.ids import VALID_UNTIL_OPEN, symbol_id
from pointline.lake import Lake
from pointline.pipeline import ingest_partition
from pointline.scd2 import apply_overrides, load_overrides, rebuild_from_history, versions_to_dim
from pointline.schemas import TRADES, get_table_spec
from pointline.trading_day import dates_overlapping, trading_date_expr
from vendors.base import INSTRUMENT_COLUMNS
from vendors.binance_vision.sample import write_sample_klines
from vendors.coingecko.sample import write_sample_snapshots
from vendors.quant360.sample import write_sample_bronze as write_cn_archives
from vendors.registry import available_vendors, load_vendor
from vendors.tardis.sample import ALL_DATA_TYPES, write_sample_bronze
from vendors.tushare.sample import write_sample_snapshots as write_security_master

DAY1, DAY2 = dt.date(2024, 5, 1), dt.date(2024, 5, 2)
KLINE_SYMBOLS = {"binance-futures": ["BTCUSDT", "ETHUSDT"]}

_built: dict[str, Path] = {}


def build_sample_lake(root: Path, *, rows_per_file: int = 120) -> Path:
    """The sample lake under `root/lake` (Bronze under `root/bronze`); returns the lake root."""
    bronze, lake_root = root / "bronze", root / "lake"
    days = [DAY1, DAY2]
    write_sample_bronze(bronze, start=DAY1, days=len(days), rows_per_file=rows_per_file, data_types=ALL_DATA_TYPES)
    write_sample_klines(bronze, KLINE_SYMBOLS, days, ("1h", "1d"))
    write_sample_snapshots(bronze, days=len(days), start=DAY1)
    write_security_master(bronze)  # CN securities (dim_symbol) and a Shanghai day of L2/L3 archives
    write_cn_archives(bronze)

    lake = Lake(lake_root)
    exchanges = load_exchanges()
    lake.replace_table("dim_exchange", exchanges)
    lake.replace_table("dim_trading_calendar", build_trading_calendar(exchanges, "2024-01-01", "2024-12-31"))
    plugins = [load_vendor(name) for name in available_vendors()]
    for plugin in plugins:  # archives -> the files discovery sees (what the unpack asset does)
        if callable(getattr(plugin, "unpack", None)):
            plugin.unpack(bronze)
    versions = pl.concat([p.instrument_versions(bronze) for p in plugins])
    lake.replace_table(
        "dim_symbol",
        rebuild_from_history(apply_overrides(versions, load_overrides(config_dir() / "symbol_overrides.csv"))),
    )

    timezones = dict(exchanges.select("exchange", "timezone").iter_rows())
    planned: dict[tuple[str, dt.date, str | None], list] = {}
    for plugin in plugins:
        routes = plugin.routes()
        for f in plugin.discover(bronze):
            table = routes.get(f.data_type)
            if table is None:
                continue
            scoped = "exchange" in get_table_spec(table).partition_by
            tz = timezones[f.exchange] if scoped else "UTC"
            for day in dates_overlapping(f.window_start_us, f.window_end_us, tz):
                planned.setdefault((table, day, f.exchange if scoped else None), [])
    for table, day, exchange in sorted(planned, key=lambda k: (k[0], k[1], k[2] or "")):
        sources = [(p, dtype) for p in plugins for dtype, target in p.routes().items() if target == table]
        report = ingest_partition(lake, sources, bronze, table, day, exchange, code_version="research-test")
        checks = check_stored_partition(lake, report, 0.5)
        record_history(lake, report, checks, checks_for(table), "research-test-run")
    return lake_root


def sample_lake(tmp_path_factory) -> Path:
    """One sample lake per test session, shared by every research test module."""
    if "sample" not in _built:
        _built["sample"] = build_sample_lake(tmp_path_factory.mktemp("research_sample"))
    return _built["sample"]


# ---- an Asia/Shanghai exchange, written directly ------------------------------------------------
SZSE = "szse"
SZ_SYMBOL = "000001"
# Listed long before; a metadata change (lot size) at 2024-05-02 02:00 UTC (10:00 Shanghai).
SZ_LISTED_US = 1_577_836_800_000_000  # 2020-01-01 UTC
SZ_CHANGE_US = 1_714_615_200_000_000  # 2024-05-02T02:00:00Z


def _us(text: str) -> int:
    moment = dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


# (UTC arrival time, price) of every trade; local date = UTC + 8 h.
SZ_TRADES: list[tuple[str, str]] = [
    ("2024-04-30T15:59:59.999999", "10.01"),  # 23:59:59.999999 Shanghai, trading date 2024-04-30
    ("2024-04-30T16:00:00", "10.02"),  # 00:00 Shanghai on 2024-05-01
    ("2024-05-01T01:30:00", "10.03"),  # 09:30 Shanghai, 2024-05-01
    ("2024-05-01T23:30:00", "10.04"),  # 07:30 Shanghai on 2024-05-02: the UTC-pruning trap
    ("2024-05-02T01:59:59.999999", "10.05"),  # last instant of the first symbol version
    ("2024-05-02T02:00:00", "10.06"),  # first instant of the second version
    ("2024-05-02T03:00:00", "10.123456789"),  # nine fractional digits, exact
]


def szse_dim_symbol() -> pl.DataFrame:
    """Two versions of 000001 on szse: lot size 100 until SZ_CHANGE_US, 200 after."""
    base = {
        "exchange": SZSE,
        "exchange_symbol": SZ_SYMBOL,
        "instrument_type": "spot",
        "base_asset": "000001",
        "quote_asset": "CNY",
        "price_increment": "0.01",
        "contract_multiplier": "1",
        "expiry_us": None,
        "underlying": None,
        "option_type": None,
        "strike": None,
        "settlement_type": None,
        "settlement_asset": None,
        "is_inverse": None,
        "contract_month": None,
        "isin": "CNE000000040",
        "listing_exchange": "XSHE",
        "source": "test",
    }
    rows = [
        base | {"valid_from_us": SZ_LISTED_US, "valid_until_us": SZ_CHANGE_US, "amount_increment": "100"},
        base | {"valid_from_us": SZ_CHANGE_US, "valid_until_us": None, "amount_increment": "200"},
    ]
    return versions_to_dim(pl.DataFrame(rows, schema=INSTRUMENT_COLUMNS))


def write_shanghai_lake(root: Path) -> Path:
    """A lake with dim_exchange (config/exchanges.csv), szse's dim_symbol and its trades partitions."""
    lake = Lake(root)
    lake.replace_table("dim_exchange", load_exchanges())
    dim = szse_dim_symbol()
    lake.replace_table("dim_symbol", dim)
    ids = dim.sort("valid_from_us")["symbol_id"].to_list()
    assert ids == [symbol_id(SZSE, SZ_SYMBOL, SZ_LISTED_US), symbol_id(SZSE, SZ_SYMBOL, SZ_CHANGE_US)]
    ts = [_us(t) for t, _ in SZ_TRADES]
    frame = pl.DataFrame(
        {
            "exchange": [SZSE] * len(ts),
            "symbol": [SZ_SYMBOL] * len(ts),
            "symbol_id": [ids[0] if t < SZ_CHANGE_US else ids[1] for t in ts],
            "ts_local_us": ts,
            "ts_exch_us": [t - 1_000 for t in ts],
            "trade_id": [str(i) for i in range(len(ts))],
            "side": ["buy", "sell"] * (len(ts) // 2) + ["buy"] * (len(ts) % 2),
            "price": [Decimal(p) for _, p in SZ_TRADES],
            "qty": [Decimal("100")] * len(ts),
            "conditions": [None] * len(ts),
            "venue": ["XSHE"] * len(ts),
            "sequence_number": list(range(1, len(ts) + 1)),
            "file_id": [7] * len(ts),
            "file_line": list(range(2, len(ts) + 2)),
        }
    ).with_columns(trading_date_expr("ts_local_us", "Asia/Shanghai").alias("date"))
    frame = frame.select([pl.col(c.name).cast(c.dtype) for c in TRADES.columns if c.name in frame.columns])
    for (day,), part in frame.partition_by("date", as_dict=True).items():
        lake.write_partition("trades", part, {"date": day, "exchange": SZSE})
    return root


__all__ = [
    "DAY1",
    "DAY2",
    "SZ_CHANGE_US",
    "SZ_SYMBOL",
    "SZ_TRADES",
    "SZSE",
    "VALID_UNTIL_OPEN",
    "build_sample_lake",
    "sample_lake",
    "write_shanghai_lake",
]
