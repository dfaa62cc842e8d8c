"""Core layer: read a table for explicit symbol_ids and a time window, no symbol resolution.

For production code, which knows its symbol_ids (from dim_symbol, stored once) and must not
depend on how a symbol string resolves today. The convenience loaders (`pr.trades(...)`) resolve
symbols point-in-time and then call exactly this.

What a read does, in order (all pushed into one lazy Polars plan over the Delta log):

1. the table's Delta snapshot is opened (the log, never a glob of Parquet files);
2. partitions are pruned on `exchange` and on the trading dates the window touches, computed in
   the exchange's own timezone (`date` partitions are exchange-local trading dates; a UTC date
   would miss rows near midnight for Asia/Shanghai);
3. `symbol_id` and the time axis are filtered `[start, end)`; Polars skips files by the Delta
   log's statistics and row groups by the Parquet statistics (rows are stored sorted by
   `symbol_id`, then time), so an hour of one symbol reads the row groups holding that hour;
4. rows come back in time order: `(time axis, then the table's tie-break keys)`, which for one
   symbol_id is exactly the stored order.

`decoded=False` (the default here) returns the stored values unchanged; `decode()` documents
what `decoded=True` changes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from pointline.lake import Lake, sort_rows
from pointline.schemas import TableSpec, get_table_spec
from pointline.trading_day import dates_overlapping

if TYPE_CHECKING:
    from pointline.research.files import Ranges
    from pointline.research.session import Research
    from pointline.research.snapshots import DeltaSnapshots
    from pointline.research.times import TimeLike

__all__ = [
    "decode",
    "decoded_name",
    "order_keys",
    "read_events",
    "read_table",
    "scan_events",
    "scan_table",
    "stored_name",
]

Frame = pl.DataFrame | pl.LazyFrame
_US = "_us"


def order_keys(spec: TableSpec) -> list[str]:
    """Row order of research reads: the time axis first, then the table's tie-break keys.

    >>> from pointline.research.core import order_keys
    >>> from pointline.schemas import get_table_spec
    >>> order_keys(get_table_spec("trades"))
    ['ts_local_us', 'symbol_id', 'file_id', 'file_line']
    """
    axis = [spec.time_axis] if spec.time_axis else []
    return axis + [k for k in spec.sort_by if k not in axis]


def decoded_name(column: str, dtype: pl.DataType | None = None) -> str:
    """The name a column has in decoded output: UTC-microsecond columns (`*_us`, Int64) lose the
    `_us` suffix because they become Datetime("us", "UTC"); every other column keeps its name.

    >>> from pointline.research.core import decoded_name
    >>> decoded_name("ts_local_us"), decoded_name("expiry_us"), decoded_name("price")
    ('ts_local', 'expiry', 'price')
    """
    is_time = column.endswith(_US) and (dtype is None or dtype == pl.Int64)
    return column[: -len(_US)] if is_time else column


def stored_name(column: str, spec: TableSpec) -> str:
    """The stored column behind a name a researcher may use: `ts_local` -> `ts_local_us`.

    >>> from pointline.research.core import stored_name
    >>> from pointline.schemas import get_table_spec
    >>> stored_name("ts_local", get_table_spec("trades")), stored_name("price", get_table_spec("trades"))
    ('ts_local_us', 'price')
    """
    if column in spec.names:
        return column
    if column + _US in spec.names:
        return column + _US
    raise KeyError(f"{spec.name} has no column {column!r}; columns: {spec.names}")


def _decode_expr(name: str, dtype: pl.DataType) -> pl.Expr | None:
    if isinstance(dtype, pl.Decimal):
        return pl.col(name).cast(pl.Float64)
    if isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.Decimal):
        return pl.col(name).cast(pl.List(pl.Float64))
    if name.endswith(_US) and dtype == pl.Int64:
        return pl.col(name).cast(pl.Datetime("us", "UTC")).alias(decoded_name(name))
    return None


def decode(frame: Frame) -> Frame:
    """Researcher-friendly values, by dtype and name (works on any table's frame, lazy or not):

    * `Decimal` (prices, quantities, rates) -> `Float64`, the nearest double to the exact value;
    * `List(Decimal)` (book levels) -> `List(Float64)`, nulls kept;
    * `Int64` columns named `*_us` (UTC microseconds) -> `Datetime("us", "UTC")`, renamed without
      the `_us` suffix (`ts_local_us` -> `ts_local`, `expiry_us` -> `expiry`);
    * everything else (symbol, symbol_id, side, ids, lineage, implied vols) unchanged.

    Column order is kept. Decoding is for reading only; never write decoded values back.

    >>> import polars as pl
    >>> from decimal import Decimal
    >>> from pointline.research.core import decode
    >>> raw = pl.DataFrame({"ts_local_us": [1714521600000000], "price": [Decimal("0.1")]},
    ...                    schema={"ts_local_us": pl.Int64, "price": pl.Decimal(38, 9)})
    >>> dict(decode(raw).schema)
    {'ts_local': Datetime(time_unit='us', time_zone='UTC'), 'price': Float64}
    >>> decode(raw)["price"][0] == float(Decimal("0.1"))
    True
    """
    schema = frame.collect_schema() if isinstance(frame, pl.LazyFrame) else frame.schema
    exprs = [_decode_expr(name, dtype) for name, dtype in schema.items()]
    return frame.select([pl.col(name) if e is None else e for name, e in zip(schema, exprs, strict=True)])


def _ids(symbol_ids: int | Iterable[int] | None) -> list[int] | None:
    if symbol_ids is None:
        return None
    if isinstance(symbol_ids, int) and not isinstance(symbol_ids, bool):
        return [symbol_ids]
    if isinstance(symbol_ids, pl.Series):
        symbol_ids = symbol_ids.drop_nulls().to_list()
    ids = sorted({int(v) for v in symbol_ids})
    if not ids:
        raise ValueError("symbol_ids is empty; pass None on purpose to read every symbol")
    return ids


def scan_events(
    lake: Lake,
    table: str,
    *,
    exchange: str | None,
    symbol_ids: int | Iterable[int] | None,
    start_us: int,
    end_us: int,
    timezone: str = "UTC",
    columns: Sequence[str] | None = None,
    where: pl.Expr | None = None,
    sort: bool = True,
    snapshots: DeltaSnapshots | None = None,
) -> pl.LazyFrame:
    """The lazy plan of a core read (stored values); `timezone` is the one the table's `date` is in
    (the exchange's for exchange-scoped tables, UTC otherwise). `sort=False` leaves the rows in
    the order the scan returns them (`read_events` sorts after collecting). `snapshots` are a
    session's kept Delta snapshots (`pointline.research.snapshots`): the table is read through its
    snapshot's file index (`pointline.research.files`, the explicit fast path) when that applies;
    without them the table is opened and scanned with `pl.scan_delta`.

    Pure over the lake: no caches, no symbol resolution. Works for every table of the registry
    with a time axis: exchange-scoped ones (partitioned by exchange-local `date` and `exchange`),
    date-only ones (`dim_asset_stats`, UTC dates) and any Gold table with `date`/`symbol_id`.
    `where` is ANDed into the filter (e.g. `pl.col("base_asset") == "BTC"`). A table that does
    not exist yet reads as an empty frame with the registry's schema.

    >>> import pointline.research as pr
    >>> from pointline.research.core import scan_events
    >>> from pointline.research.times import window_us
    >>> start, end = window_us("2024-05-01T10:00", "2024-05-01T11:00")
    >>> lf = scan_events(pr.current().lake, "trades", exchange="binance-futures", symbol_ids=None,
    ...                  start_us=start, end_us=end)
    >>> lf.collect()["ts_local_us"].is_between(start, end, closed="left").all()
    True
    """
    spec = get_table_spec(table)
    if spec.time_axis is None:
        raise ValueError(f"{table} has no time axis; read it with sql() or Lake.read")
    axis = spec.time_axis
    ranges: dict[str, tuple[Any, Any]] = {axis: (start_us, end_us - 1)}
    filters: list[pl.Expr] = [] if where is None else [where]
    if "exchange" in spec.names:
        if exchange is None and "exchange" in spec.partition_by:
            raise ValueError(f"{table} is partitioned by exchange: pass the exchange")
        if exchange is not None:
            filters.append(pl.col("exchange") == exchange)
            ranges["exchange"] = (exchange, exchange)
    elif exchange is not None:
        raise ValueError(f"{table} is not exchange-scoped; pass exchange=None")
    if "date" in spec.partition_by:
        days = dates_overlapping(start_us, end_us, timezone)
        if not days:
            return _select(spec.empty().lazy(), spec, columns)
        # Silver and dimension dates are exactly the trading date of the time axis in `timezone`.
        # Otherwise (Gold conventions such as "date of ts_end_us - 1", or rows of several exchanges
        # in other timezones) one more date each side is cheap: the time filter stays exact and
        # the Delta statistics skip the extra files.
        pad = dt.timedelta(days=0 if _dated_by_axis(spec, exchange) else 1)
        filters.append(pl.col("date").is_between(pl.lit(days[0] - pad), pl.lit(days[-1] + pad)))
        ranges["date"] = (days[0] - pad, days[-1] + pad)
    ids = _ids(symbol_ids)
    if ids is not None:
        if "symbol_id" not in spec.names:
            raise ValueError(f"{table} has no symbol_id column; pass symbol_ids=None")
        filters.append(pl.col("symbol_id") == ids[0] if len(ids) == 1 else pl.col("symbol_id").is_in(ids))
        ranges["symbol_id"] = (ids[0], ids[-1])  # sorted, never empty
    filters.append((pl.col(axis) >= start_us) & (pl.col(axis) < end_us))
    lf = _source(lake, table, spec, snapshots, ranges).filter(*filters)
    return _select(lf.sort(order_keys(spec)) if sort else lf, spec, columns)


def read_events(
    lake: Lake,
    table: str,
    *,
    exchange: str | None,
    symbol_ids: int | Iterable[int] | None,
    start_us: int,
    end_us: int,
    timezone: str = "UTC",
    columns: Sequence[str] | None = None,
    where: pl.Expr | None = None,
    snapshots: DeltaSnapshots | None = None,
) -> pl.DataFrame:
    """`scan_events(...).collect()`: the same rows in the same order, cheaper. The scan is collected
    in stored order and sorted afterwards only when it is not in time order already
    (`pointline.lake.sort_rows`, an in-order check): rows of one symbol_id in one partition are
    stored sorted by `(symbol_id, time axis, lineage)`, which for one symbol_id is exactly the
    research order, so a one-symbol read is usually never sorted (a multi-key sort inside the lazy
    plan cost more than the rest of a one-hour read on a 10M-row day).

    >>> import pointline.research as pr
    >>> from pointline.research.core import read_events, scan_events
    >>> from pointline.research.times import window_us
    >>> start, end = window_us("2024-05-01", "2024-05-02")
    >>> lake, args = pr.current().lake, dict(exchange="binance-futures", symbol_ids=None, start_us=start, end_us=end)
    >>> read_events(lake, "trades", **args).equals(scan_events(lake, "trades", **args).collect())
    True
    """
    spec = get_table_spec(table)
    keys = order_keys(spec)
    wanted = None if columns is None else [stored_name(c, spec) for c in columns]
    needed = None if wanted is None else wanted + [k for k in keys if k not in wanted]
    lf = scan_events(
        lake,
        table,
        exchange=exchange,
        symbol_ids=symbol_ids,
        start_us=start_us,
        end_us=end_us,
        timezone=timezone,
        columns=needed,
        where=where,
        sort=False,
        snapshots=snapshots,
    )
    rows = sort_rows(lf.collect(), keys)
    return rows if wanted is None else rows.select(wanted)


def _source(lake: Lake, table: str, spec: TableSpec, snapshots: DeltaSnapshots | None, ranges: Ranges) -> pl.LazyFrame:
    """The table's rows before filtering: the snapshot's pruned files (fast path) or `scan_delta`."""
    if snapshots is not None:
        index = snapshots.file_index(table)
        if index is not None:
            return index.scan(ranges)
    dtable = snapshots.table(table) if snapshots is not None else lake.delta_table(table)
    return spec.empty().lazy() if dtable is None else pl.scan_delta(dtable, storage_options=lake.storage_options)


def _dated_by_axis(spec: TableSpec, exchange: str | None) -> bool:
    """Whether every row's `date` is the trading date of its time axis in the timezone we pruned with."""
    return spec.kind != "gold" and (exchange is not None or "exchange" not in spec.names)


def _select(lf: pl.LazyFrame, spec: TableSpec, columns: Sequence[str] | None) -> pl.LazyFrame:
    if columns is None:
        return lf
    return lf.select([stored_name(c, spec) for c in columns])


def _session(research: Research | None) -> Research:
    from pointline.research.session import current

    return research if research is not None else current()


def read_table(
    table: str,
    exchange: str | None,
    symbol_ids: int | Iterable[int] | None,
    start: TimeLike,
    end: TimeLike,
    *,
    columns: Sequence[str] | None = None,
    decoded: bool = False,
    lazy: bool = False,
    research: Research | None = None,
) -> pl.DataFrame | pl.LazyFrame:
    """Rows of `table` for explicit `symbol_ids` in `[start, end)` on its time axis; stored values
    unless `decoded=True`. Uses the default lake unless `research` is given (see `Research.read_table`).

    >>> import pointline.research as pr
    >>> from pointline.research import core
    >>> ids = pr.list_symbols("binance-futures", search="BTCUSDT")["symbol_id"].to_list()
    >>> df = core.read_table("trades", "binance-futures", ids, "2024-05-01T10:00", "2024-05-01T11:00")
    >>> df["price"].dtype, df["symbol_id"].unique().to_list() == ids
    (Decimal(precision=38, scale=9), True)
    """
    return _session(research).read_table(
        table, exchange, symbol_ids, start, end, columns=columns, decoded=decoded, lazy=lazy
    )


def scan_table(
    table: str,
    exchange: str | None,
    symbol_ids: int | Iterable[int] | None,
    start: TimeLike,
    end: TimeLike,
    *,
    columns: Sequence[str] | None = None,
    decoded: bool = False,
    research: Research | None = None,
) -> pl.LazyFrame:
    """`read_table(..., lazy=True)`: the same read as a LazyFrame to extend before collecting.

    >>> import polars as pl
    >>> from pointline.research import core
    >>> lf = core.scan_table("trades", "binance-futures", None, "2024-05-01", "2024-05-02")
    >>> lf.group_by("symbol").agg(pl.len()).collect().height > 0
    True
    """
    out = read_table(
        table, exchange, symbol_ids, start, end, columns=columns, decoded=decoded, lazy=True, research=research
    )
    assert isinstance(out, pl.LazyFrame)
    return out
