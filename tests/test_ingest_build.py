"""build_partition on hand-made staged frames: trading dates in non-UTC zones, accounting, edge rows."""

from __future__ import annotations

import datetime as dt

import polars as pl

from pointline.ingest import build_partition
from pointline.scd2 import rebuild_from_history
from pointline.schemas import TRADES
from pointline.trading_day import day_window_us
from vendors.base import INSTRUMENT_COLUMNS, BronzeFile

D = dt.date(2024, 9, 30)
DAY_US = 86_400_000_000


def _dim(exchange: str, symbol: str) -> pl.DataFrame:
    versions = pl.DataFrame(
        [
            {
                "exchange": exchange,
                "exchange_symbol": symbol,
                "valid_from_us": 0,
                "valid_until_us": None,
                "instrument_type": "spot",
                "base_asset": "X",
                "quote_asset": "CNY",
                "price_increment": "0.01",
                "amount_increment": "100",
                "contract_multiplier": "1",
                "expiry_us": None,
                "source": "test",
            }
        ],
        schema=INSTRUMENT_COLUMNS,
    )
    return rebuild_from_history(versions)


def _file(exchange: str, start_us: int) -> BronzeFile:
    from pathlib import Path

    return BronzeFile(
        vendor="test",
        data_type="trades",
        path=Path("/dev/null"),
        rel_path=f"test/{exchange}/trades.csv",
        exchange=exchange,
        date=D,
        symbol="000001",
        size=0,
        mtime_ns=0,
        window_start_us=start_us,
        window_end_us=start_us + DAY_US,
    )


STAGED_TRADES = ["exchange", "symbol", "ts_local_us", "ts_exch_us", "trade_id", "side", "price", "qty"]


def _staged(exchange: str, local_ts: list[str], exchanges: list[str | None] | None = None) -> pl.DataFrame:
    n = len(local_ts)
    return pl.DataFrame(
        {
            "exchange": exchanges or [exchange] * n,
            "symbol": ["000001"] * n,
            "ts_local_us": local_ts,
            "ts_exch_us": local_ts,
            "trade_id": [str(i) for i in range(n)],
            "side": ["buy"] * n,
            "price": ["10.5"] * n,
            "qty": ["100"] * n,
            "file_line": list(range(2, n + 2)),
        },
        # nullable source columns a vendor lacks (the equity columns) are left out, as the contract allows
        schema={**dict.fromkeys(STAGED_TRADES, pl.String), "file_line": pl.Int64},
    )


def test_utc_cut_file_feeds_two_shanghai_days_and_every_row_is_counted_once():
    exchange, tz = "sse", "Asia/Shanghai"
    start = day_window_us(D, "UTC")[0]  # file cut by UTC day D: 08:00 on D .. 08:00 on D+1 in Shanghai
    hours = [1, 7, 15, 16, 17, 23]  # UTC hours: 16:00 UTC and later is already D+1 in Shanghai
    staged = _staged(exchange, [str(start + h * 3_600_000_000) for h in hours] + ["9223372036854775807", ""])
    file, dim = _file(exchange, start), _dim(exchange, "000001")
    builds = {
        day: build_partition(TRADES, date=day, exchange=exchange, timezone=tz, staged=[(file, staged)], dim_symbol=dim)
        for day in (D, D + dt.timedelta(days=1))
    }
    today, tomorrow = builds[D], builds[D + dt.timedelta(days=1)]
    assert today.silver.height == 3 and tomorrow.silver.height == 3
    assert set(today.silver["date"]) == {D} and set(tomorrow.silver["date"]) == {D + dt.timedelta(days=1)}
    # the absurd timestamp and the empty one are quarantined once, by the file's home partition (D)
    assert dict(zip(today.quarantine["file_line"], today.quarantine["reason"], strict=True)) == {
        8: "outside_file_window",
        9: "missing_timestamp",
    }
    assert tomorrow.quarantine.is_empty()
    total = sum(b.silver.height + b.quarantine.height for b in builds.values())
    assert total == staged.height
    assert today.files[0].rows_elsewhere == 3 and tomorrow.files[0].rows_elsewhere == 5


def test_empty_exchange_cell_is_an_exchange_mismatch():
    start = day_window_us(D, "UTC")[0]
    staged = _staged("binance", [str(start + 1), str(start + 2)], exchanges=["binance", None])
    build = build_partition(
        TRADES,
        date=D,
        exchange="binance",
        timezone="UTC",
        staged=[(_file("binance", start), staged)],
        dim_symbol=_dim("binance", "000001"),
    )
    assert build.silver.height == 1
    assert build.quarantine["reason"].to_list() == ["exchange_mismatch"]


def test_option_underlying_falls_back_to_the_rows_underlying_index():
    """dim_symbol.underlying wins when it names a listed instrument; otherwise the row's
    underlying_index is tried; an index or synthetic underlying stays null."""
    from pointline.ingest import _underlying_ids

    far = 2**63 - 1
    dim = pl.DataFrame(
        {
            "exchange": ["deribit"] * 4,
            "exchange_symbol": ["OPT-A", "OPT-B", "BTC-31MAY24", "BTC-28JUN24"],
            "valid_from_us": [0, 0, 0, 0],
            "valid_until_us": [far] * 4,
            "symbol_id": [1, 2, 3, 4],
            "underlying": ["BTC-DELISTED", "BTC-28JUN24", None, None],
        }
    )
    rows = pl.DataFrame(
        {
            "symbol_id": [1, 2, 1, 1],
            "exchange": ["deribit"] * 4,
            "underlying_index": ["BTC-31MAY24", "BTC-31MAY24", "SYN.BTC-3MAY24", None],
            "ts_local_us": [10, 10, 10, 10],
        }
    )
    # OPT-A declares an unknown underlying -> its index resolves; OPT-B's declared one wins over its index
    assert _underlying_ids(rows, dim, "ts_local_us").to_list() == [3, 4, None, None]


def test_small_files_built_in_batches_equal_files_built_one_by_one(tmp_path, monkeypatch):
    """Consecutive small files are built together (pointline.ingest.BATCH_ROWS): the same Silver
    rows, the same quarantine rows and the same per-file accounting as one file at a time, over
    real-format Tardis files with bad rows, rows of the neighbouring days and unknown symbols."""
    from pathlib import Path

    import pointline.ingest as ingest
    from pointline.schemas import get_table_spec
    from vendors.tardis import TardisPlugin
    from vendors.tardis.sample import write_sample_bronze

    write_sample_bronze(tmp_path, start=dt.date(2024, 5, 1), days=2, rows_per_file=300, data_types=("trades",))
    plugin = TardisPlugin()
    dim = rebuild_from_history(plugin.instrument_versions(tmp_path))
    spec, day, exchange = get_table_spec("trades"), dt.date(2024, 5, 2), "binance-futures"
    files = [f for f in plugin.discover(Path(tmp_path)) if f.data_type == "trades" and f.exchange == exchange]
    assert len(files) >= 4  # two days of several symbols: batches of several files

    def build(batch_rows: int):
        monkeypatch.setattr(ingest, "BATCH_ROWS", batch_rows)
        staged = ((f, plugin.read_events(f, "trades")) for f in files)
        return build_partition(spec, date=day, exchange=exchange, timezone="UTC", staged=staged, dim_symbol=dim)

    sizes: list[int] = []
    with_origin = ingest._with_origin
    monkeypatch.setattr(ingest, "_with_origin", lambda batch, *a: sizes.append(len(batch)) or with_origin(batch, *a))
    batched = build(ingest.BATCH_ROWS)
    assert max(sizes) == len(files)  # every file in one batch
    sizes.clear()
    alone = build(0)
    assert set(sizes) == {1}
    key = ["file_id", "file_line"]
    assert batched.silver.sort(key).equals(alone.silver.sort(key)) and batched.silver.height > 0
    assert batched.quarantine.sort(key).equals(alone.quarantine.sort(key))
    assert batched.quarantine.height > 0 and batched.quarantine["bronze_path"].n_unique() > 1
    assert [vars(a) for a in batched.files] == [vars(a) for a in alone.files]
    assert any(a.rows_elsewhere for a in batched.files)  # the other day's rows are counted, not lost
    for a in batched.files:
        assert a.rows_read == a.rows_written + a.rows_quarantined + a.rows_elsewhere
