"""Pointline research API: point-in-time correct reads of the lake, as Polars frames.

    import pointline.research as pr

    pr.trades("binance-futures", "BTCUSDT", "2024-05-01T10:00", "2024-05-01T11:00")   # decoded DataFrame
    pr.trades(..., decoded=False)            # stored exact values (Decimal, Int64 microseconds)
    pr.trades(..., lazy=True)                # a LazyFrame to extend before collecting
    pr.list_exchanges("crypto"); pr.list_symbols("binance-futures", as_of="2024-05-01")
    pr.sql("select symbol, count(*) from trades where date = '2024-05-01' group by 1")

Every function below is a method of `Research` called on the default session (the lake at
`$POINTLINE_LAKE_ROOT`, else `./lake` under the repository); `pr.use_lake(path)` rebinds it and
`pr.Research(lake_root=..., storage_options=...)` is an explicit session with the same methods.
`pointline.research.core` is the layer for production code (explicit symbol_ids, no resolution).
Windows are half-open `[start, end)` on each table's time axis; see `pointline.research.times`
for what start/end accept and `docs/research-api.md` for the reference.

No Dagster import: this package only reads the lake (Polars, deltalake, DuckDB).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from pointline.research.cache import CacheStats, VersionedTTLCache
from pointline.research.discovery import SymbolNotFoundError, SymbolVersionWarning, UnknownExchangeError
from pointline.research.joins import align, asof_backward
from pointline.research.session import Research, SymbolSummary, current, use_lake
from pointline.research.sql import ReadOnlySqlError

__all__ = [
    # sessions
    "Research",
    "current",
    "use_lake",
    "invalidate_cache",
    # convenience loaders (symbol resolved point-in-time)
    "load",
    "trades",
    "quotes",
    "book_snapshot_25",
    "orderbook_updates",
    "derivative_ticker",
    "liquidations",
    "options_chain",
    "l3_orders",
    "l3_ticks",
    "l2_snapshots",
    "klines",
    "asset_stats",
    "resolve_symbol",
    # core layer (explicit symbol_ids)
    "read_table",
    # joins (docs/join-semantics.md)
    "trades_with_quotes",
    "align",
    "asof_backward",
    "universe",
    "cross_sectional",
    # discovery
    "list_tables",
    "list_exchanges",
    "list_symbols",
    "symbol_metadata",
    "data_coverage",
    "coverage_tables",
    "summarize_symbol",
    "timezone",
    "trading_days",
    "dimension",
    "dim_exchange",
    "dim_symbol",
    # SQL and data quality
    "sql",
    "dq_summary",
    "quarantine",
    "quarantined_symbols",
    # types
    "CacheStats",
    "VersionedTTLCache",
    "ReadOnlySqlError",
    "SymbolNotFoundError",
    "SymbolSummary",
    "SymbolVersionWarning",
    "UnknownExchangeError",
]


def _bound(name: str) -> Callable[..., Any]:
    """`Research.<name>` called on the default session, with the method's signature and docstring."""
    method = getattr(Research, name)

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(current(), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = method.__doc__
    call.__module__ = __name__
    params = list(inspect.signature(method).parameters.values())[1:]  # without self
    call.__signature__ = inspect.signature(method).replace(parameters=params)  # type: ignore[attr-defined]
    return call


invalidate_cache = _bound("invalidate_cache")
load = _bound("load")
trades = _bound("trades")
quotes = _bound("quotes")
book_snapshot_25 = _bound("book_snapshot_25")
orderbook_updates = _bound("orderbook_updates")
derivative_ticker = _bound("derivative_ticker")
liquidations = _bound("liquidations")
options_chain = _bound("options_chain")
l3_orders = _bound("l3_orders")
l3_ticks = _bound("l3_ticks")
l2_snapshots = _bound("l2_snapshots")
klines = _bound("klines")
asset_stats = _bound("asset_stats")
resolve_symbol = _bound("resolve_symbol")
read_table = _bound("read_table")
list_tables = _bound("list_tables")
list_exchanges = _bound("list_exchanges")
list_symbols = _bound("list_symbols")
symbol_metadata = _bound("symbol_metadata")
data_coverage = _bound("data_coverage")
coverage_tables = _bound("coverage_tables")
summarize_symbol = _bound("summarize_symbol")
timezone = _bound("timezone")
trading_days = _bound("trading_days")
dimension = _bound("dimension")
dim_exchange = _bound("dim_exchange")
dim_symbol = _bound("dim_symbol")
sql = _bound("sql")
dq_summary = _bound("dq_summary")
quarantine = _bound("quarantine")
quarantined_symbols = _bound("quarantined_symbols")
trades_with_quotes = _bound("trades_with_quotes")
universe = _bound("universe")
cross_sectional = _bound("cross_sectional")
