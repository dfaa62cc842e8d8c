"""The research session: one lake, its cached dimensions, and every research function as a method.

`Research(lake_root=..., storage_options=...)` is the explicit object; the module-level
functions of `pointline.research` call the same methods on a default session bound to
`$POINTLINE_LAKE_ROOT` (else `./lake` under the repository, exactly what the Dagster lake
resource falls back to: `pointline.config.default_lake_root`). `use_lake(path)` rebinds it.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from pointline.config import default_lake_root, settings
from pointline.ids import VALID_UNTIL_OPEN
from pointline.lake import Lake
from pointline.research.cache import VersionedTTLCache
from pointline.research.core import decode, read_events, scan_events
from pointline.research.discovery import (
    UnknownExchangeError,
    asset_class_filter,
    versions_in_window,
    warn_versions,
)
from pointline.research.joins import JoinsMixin
from pointline.research.snapshots import DeltaSnapshots
from pointline.research.sql import SqlEngine
from pointline.research.times import TimeLike, from_us, to_us, trading_date, window_us
from pointline.scd2 import TRACKED  # attributes whose change starts a dim_symbol version
from pointline.schemas import DQ_SUMMARY, KLINE_INTERVALS_US, TABLES, get_table_spec
from pointline.trading_day import dates_overlapping

__all__ = ["Research", "SymbolSummary", "current", "use_lake"]

_NO_EXCHANGE = "global"  # exchange value of history rows of tables that are not exchange-scoped

Result = pl.DataFrame | pl.LazyFrame


@dataclass(frozen=True)
class SymbolSummary:
    """What the lake knows about one symbol: its dim_symbol versions and per-table coverage."""

    exchange: str
    symbol: str
    versions: pl.DataFrame
    coverage: pl.DataFrame

    def __str__(self) -> str:
        lines = [f"{self.exchange} {self.symbol}: {self.versions.height} dim_symbol version(s)"]
        for r in self.versions.to_dicts():
            until = "open" if r["valid_until_us"] == VALID_UNTIL_OPEN else str(from_us(r["valid_until_us"]))
            lines.append(
                f"  symbol_id {r['symbol_id']}: {r['instrument_type']} {r['base_asset']}/{r['quote_asset']}, "
                f"tick {r['price_increment']}, valid [{from_us(r['valid_from_us'])}, {until})"
            )
        if self.coverage.is_empty():
            lines.append("  no rows in any table")
        for r in self.coverage.to_dicts():
            lines.append(f"  {r['table']}: {r['days']} day(s) {r['first_date']} .. {r['last_date']}, {r['rows']} rows")
        return "\n".join(lines)


class Research(JoinsMixin):
    """A research session over one lake: loaders, discovery, SQL and DQ, with cached dimensions.

    `lake_root` defaults to `$POINTLINE_LAKE_ROOT`, else `./lake` under the repository;
    `storage_options` go to delta-rs (object stores). Dimension tables are cached for
    `cache_ttl` seconds and then revalidated against their Delta version (`clock` is injectable
    for tests). Safe to share between threads.

    >>> import pointline.research as pr
    >>> session = pr.Research(pr.current().lake.root)
    >>> session.list_exchanges("crypto-derivatives")["exchange"].to_list()[:2]
    ['binance-futures', 'binance-coin-futures']
    """

    def __init__(
        self,
        lake_root: str | Path | None = None,
        *,
        storage_options: dict[str, str] | None = None,
        cache_ttl: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.lake = Lake(lake_root or default_lake_root(), storage_options=storage_options)
        self.cache = VersionedTTLCache(ttl=cache_ttl, clock=clock)
        self.snapshots = DeltaSnapshots(self.lake)  # tables kept open while they have no new commit
        self._sql = SqlEngine(self.lake, self.snapshots)

    def __repr__(self) -> str:
        return f"Research(lake_root={self.lake.root!r})"

    # ---- dimensions, cached --------------------------------------------------------------
    def dimension(self, table: str) -> pl.DataFrame:
        """A whole (small, unpartitioned) dimension table, from the TTL cache keyed by its Delta
        version; empty with the registry schema when the lake does not have it yet.

        >>> import polars as pl
        >>> import pointline.research as pr
        >>> pr.dimension("dim_exchange").filter(pl.col("exchange") == "szse")["timezone"].item()
        'Asia/Shanghai'
        """
        spec = get_table_spec(table)
        if spec.kind != "dimension" or spec.partition_by:
            raise ValueError(f"{table} is not an unpartitioned dimension table; read it with sql() or a loader")

        def load(version: object) -> pl.DataFrame:
            if version is None:
                return spec.empty()
            return self.lake.read(table, version=version)  # type: ignore[arg-type]

        return self.cache.get(table, lambda: self.lake.version(table), load)

    def dim_exchange(self) -> pl.DataFrame:
        """dim_exchange (cached): one row per exchange with its asset class and timezone.

        >>> import pointline.research as pr
        >>> pr.dim_exchange().columns[:4]
        ['exchange', 'exchange_id', 'asset_class', 'timezone']
        """
        return self.dimension("dim_exchange")

    def dim_symbol(self) -> pl.DataFrame:
        """dim_symbol (cached): every SCD2 version of every instrument.

        >>> import polars as pl
        >>> import pointline.research as pr
        >>> pr.dim_symbol().filter(pl.col("exchange_symbol") == "SOLUSDT").height >= 2
        True
        """
        return self.dimension("dim_symbol")

    def invalidate_cache(self, table: str | None = None) -> None:
        """Forget cached dimension reads and kept Delta snapshots (one table or all): the next call
        re-reads them. (Snapshots are re-checked against the Delta log on every read anyway.)

        >>> import pointline.research as pr
        >>> pr.invalidate_cache()
        >>> pr.invalidate_cache("dim_symbol")
        """
        self.cache.invalidate(table)
        self.snapshots.invalidate(table)

    def timezone(self, exchange: str) -> str:
        """The IANA timezone that defines the exchange's trading dates (dim_exchange).

        >>> import pointline.research as pr
        >>> pr.timezone("szse"), pr.timezone("binance")
        ('Asia/Shanghai', 'UTC')
        """
        dim = self.dim_exchange()
        hit = dim.filter(pl.col("exchange") == exchange)
        if hit.is_empty():
            if dim.is_empty():
                raise UnknownExchangeError(f"dim_exchange is empty or not materialized in the lake at {self.lake.root}")
            raise UnknownExchangeError(f"unknown exchange {exchange!r}; known: {sorted(dim['exchange'].to_list())}")
        return hit["timezone"][0]

    def trading_days(self, exchange: str, start: TimeLike, end: TimeLike) -> list[dt.date]:
        """The exchange's trading days among the trading dates `[start, end)` touches, ascending,
        from the dim_trading_calendar table (cached like every dimension). Half-open like every
        window here: `("szse", "2024-01-01", "2025-01-01")` is the year 2024. Days the calendar does
        not cover (e.g. past the known holiday data) raise `CalendarCoverageError`.

        >>> import pointline.research as pr
        >>> days = pr.trading_days("binance-futures", "2024-05-01", "2024-05-03")
        >>> [d.isoformat() for d in days]
        ['2024-05-01', '2024-05-02']
        """
        from pointline.calendars import CalendarCoverageError, trading_days

        tz = self.timezone(exchange)
        start_us, end_us = window_us(start, end, tz)
        dates = dates_overlapping(start_us, end_us, tz)
        if not dates:
            return []
        calendar = self.dimension("dim_trading_calendar")
        if calendar.is_empty():
            raise CalendarCoverageError(
                f"dim_trading_calendar is empty or not materialized in the lake at {self.lake.root}"
            )
        return trading_days(calendar, exchange, dates[0], dates[-1])

    # ---- core layer ----------------------------------------------------------------------
    def read_table(
        self,
        table: str,
        exchange: str | None,
        symbol_ids: int | Iterable[int] | None,
        start: TimeLike,
        end: TimeLike,
        *,
        columns: Sequence[str] | None = None,
        decoded: bool = False,
        lazy: bool = False,
    ) -> Result:
        """Core read: rows of `table` on `exchange` for explicit `symbol_ids` (no resolution) in
        `[start, end)` on the table's time axis, in time order. Stored exact values unless
        `decoded=True`. `symbol_ids=None` reads every symbol (say so on purpose).

        >>> import pointline.research as pr
        >>> sid = pr.list_symbols("binance-futures", search="ETHUSDT")["symbol_id"].item()
        >>> raw = pr.read_table("trades", "binance-futures", sid, "2024-05-01", "2024-05-02")
        >>> raw.schema["price"], raw.schema["ts_local_us"], raw["symbol_id"].unique().to_list() == [sid]
        (Decimal(precision=38, scale=9), Int64, True)
        """
        spec = get_table_spec(table)
        tz = self.timezone(exchange) if exchange is not None and "exchange" in spec.names else "UTC"
        start_us, end_us = window_us(start, end, tz)
        return _read(
            self.lake,
            table,
            decoded,
            lazy,
            snapshots=self.snapshots,
            exchange=exchange,
            symbol_ids=symbol_ids,
            start_us=start_us,
            end_us=end_us,
            timezone=tz,
            columns=columns,
        )

    # ---- convenience layer -----------------------------------------------------------------
    def resolve_symbol(self, exchange: str, symbol: str, start: TimeLike, end: TimeLike) -> pl.DataFrame:
        """The dim_symbol versions of `symbol` on `exchange` valid at some point of `[start, end)`,
        oldest first. Warns (SymbolVersionWarning) when there are several: its metadata changed
        inside the window. Raises SymbolNotFoundError when there is none.

        >>> import pointline.research as pr
        >>> pr.resolve_symbol("binance-futures", "BTCUSDT", "2024-05-01", "2024-05-02").height
        1
        """
        tz = self.timezone(exchange)
        start_us, end_us = window_us(start, end, tz)
        versions = versions_in_window(self.dim_symbol(), exchange, symbol, start_us, end_us)
        warn_versions(versions, exchange, symbol, TRACKED, "time axis")
        return versions

    def load(
        self,
        table: str,
        exchange: str,
        symbol: str | Sequence[str],
        start: TimeLike,
        end: TimeLike,
        *,
        decoded: bool = True,
        lazy: bool = False,
        columns: Sequence[str] | None = None,
    ) -> Result:
        """Any symbol-keyed table by exchange-native symbol(s): the symbol is resolved through
        dim_symbol point-in-time over the window (every version valid inside it; a version change
        warns and each row keeps its own symbol_id), partitions are pruned by the exchange's
        trading dates, and rows in `[start, end)` on the time axis come back in time order.
        Decoded (floats, UTC datetimes) unless `decoded=False`; a LazyFrame when `lazy=True`.

        >>> import pointline.research as pr
        >>> df = pr.load("quotes", "binance", "ETHUSDT", "2024-05-01T00:00", "2024-05-01T06:00")
        >>> df.columns[:6]
        ['date', 'exchange', 'symbol', 'symbol_id', 'ts_local', 'ts_exch']
        """
        spec = get_table_spec(table)
        if "symbol_id" not in spec.names:
            raise ValueError(f"{table} is not keyed by symbol; use read_table or sql()")
        tz = self.timezone(exchange)
        start_us, end_us = window_us(start, end, tz)
        ids: list[int] = []
        dim = self.dim_symbol()
        axis = spec.time_axis or "time axis"
        for name in [symbol] if isinstance(symbol, str) else list(symbol):
            if start_us == end_us:
                break
            versions = versions_in_window(dim, exchange, name, start_us, end_us)
            warn_versions(versions, exchange, name, TRACKED, axis)
            ids += versions["symbol_id"].to_list()
        scan = dict(
            exchange=exchange,
            start_us=start_us,
            end_us=end_us,
            timezone=tz,
            columns=columns,
            snapshots=self.snapshots,
        )
        if not ids:  # empty window: nothing to resolve, nothing to read
            return _finish(scan_events(self.lake, table, symbol_ids=None, **scan).head(0), decoded, lazy)  # type: ignore[arg-type]
        return _read(self.lake, table, decoded, lazy, symbol_ids=ids, **scan)

    def trades(
        self,
        exchange: str,
        symbol: str | Sequence[str],
        start: TimeLike,
        end: TimeLike,
        *,
        decoded: bool = True,
        lazy: bool = False,
        columns: Sequence[str] | None = None,
    ) -> Result:
        """Trades of `symbol` on `exchange` in `[start, end)` of arrival time (`ts_local_us`).

        >>> import polars as pl
        >>> import pointline.research as pr
        >>> df = pr.trades("binance-futures", "BTCUSDT", "2024-05-01T10:00", "2024-05-01T11:00")
        >>> df.select("ts_local", "price", "qty").dtypes
        [Datetime(time_unit='us', time_zone='UTC'), Float64, Float64]
        >>> raw = pr.trades("binance-futures", "BTCUSDT", "2024-05-01T10:00", "2024-05-01T11:00", decoded=False)
        >>> raw["price"].cast(pl.Float64).equals(df["price"])
        True
        """
        return self.load("trades", exchange, symbol, start, end, decoded=decoded, lazy=lazy, columns=columns)

    def quotes(
        self,
        exchange: str,
        symbol: str | Sequence[str],
        start: TimeLike,
        end: TimeLike,
        *,
        decoded: bool = True,
        lazy: bool = False,
        columns: Sequence[str] | None = None,
    ) -> Result:
        """Top-of-book updates of `symbol` on `exchange` in `[start, end)` of `ts_local_us`.

        >>> import pointline.research as pr
        >>> cols = ["ts_local", "bid_price", "ask_price"]
        >>> q = pr.quotes("binance", "BTCUSDT", "2024-05-01", "2024-05-02", columns=cols)
        >>> q.columns, bool((q["bid_price"] < q["ask_price"]).all())
        (['ts_local', 'bid_price', 'ask_price'], True)
        """
        return self.load("quotes", exchange, symbol, start, end, decoded=decoded, lazy=lazy, columns=columns)

    def book_snapshot_25(
        self,
        exchange: str,
        symbol: str | Sequence[str],
        start: TimeLike,
        end: TimeLike,
        *,
        decoded: bool = True,
        lazy: bool = False,
        columns: Sequence[str] | None = None,
    ) -> Result:
        """Order book snapshots (25 levels per side as lists, best first) in `[start, end)`.

        >>> import pointline.research as pr
        >>> b = pr.book_snapshot_25("binance-futures", "BTCUSDT", "2024-05-01", "2024-05-02")
        >>> b.schema["bid_prices"]
        List(Float64)
        """
        return self.load("book_snapshot_25", exchange, symbol, start, end, decoded=decoded, lazy=lazy, columns=columns)

    def orderbook_updates(
        self,
        exchange: str,
        symbol: str | Sequence[str],
        start: TimeLike,
        end: TimeLike,
        *,
        decoded: bool = True,
        lazy: bool = False,
        columns: Sequence[str] | None = None,
    ) -> Result:
        """Incremental L2 updates in `[start, end)`, in application order (time, then file_line).

        >>> import pointline.research as pr
        >>> u = pr.orderbook_updates("binance-futures", "ETHUSDT", "2024-05-01", "2024-05-02", lazy=True)
        >>> u.select("side", "price", "qty", "is_snapshot").collect_schema().names()
        ['side', 'price', 'qty', 'is_snapshot']
        """
        return self.load("orderbook_updates", exchange, symbol, start, end, decoded=decoded, lazy=lazy, columns=columns)

    def derivative_ticker(
        self,
        exchange: str,
        symbol: str | Sequence[str],
        start: TimeLike,
        end: TimeLike,
        *,
        decoded: bool = True,
        lazy: bool = False,
        columns: Sequence[str] | None = None,
    ) -> Result:
        """Mark/index/last price, open interest and funding of a derivative in `[start, end)`.

        >>> import pointline.research as pr
        >>> t = pr.derivative_ticker("binance-futures", "BTCUSDT", "2024-05-01", "2024-05-02")
        >>> t.schema["funding_rate"], t.schema["funding_ts"]
        (Float64, Datetime(time_unit='us', time_zone='UTC'))
        """
        return self.load("derivative_ticker", exchange, symbol, start, end, decoded=decoded, lazy=lazy, columns=columns)

    def liquidations(
        self,
        exchange: str,
        symbol: str | Sequence[str],
        start: TimeLike,
        end: TimeLike,
        *,
        decoded: bool = True,
        lazy: bool = False,
        columns: Sequence[str] | None = None,
    ) -> Result:
        """Forced liquidations in `[start, end)`; `side` buy = a short was liquidated.

        >>> import pointline.research as pr
        >>> liq = pr.liquidations("binance-futures", "BTCUSDT", "2024-05-01", "2024-05-02")
        >>> set(liq["side"].unique()) <= {"buy", "sell"}
        True
        """
        return self.load("liquidations", exchange, symbol, start, end, decoded=decoded, lazy=lazy, columns=columns)

    def options_chain(
        self,
        exchange: str,
        symbol: str | Sequence[str],
        start: TimeLike,
        end: TimeLike,
        *,
        decoded: bool = True,
        lazy: bool = False,
        columns: Sequence[str] | None = None,
    ) -> Result:
        """Option chain updates of one or more option symbols in `[start, end)`.

        >>> import pointline.research as pr
        >>> opts = pr.list_symbols("deribit", instrument_type="option", as_of="2024-05-01T12:00")
        >>> chain = pr.options_chain("deribit", opts["exchange_symbol"].to_list(), "2024-05-01", "2024-05-02")
        >>> chain.schema["strike"], chain.schema["expiry"], chain["symbol"].n_unique() > 1
        (Float64, Datetime(time_unit='us', time_zone='UTC'), True)
        """
        return self.load("options_chain", exchange, symbol, start, end, decoded=decoded, lazy=lazy, columns=columns)

    def l3_orders(
        self,
        exchange: str,
        symbol: str | Sequence[str],
        start: TimeLike,
        end: TimeLike,
        *,
        decoded: bool = True,
        lazy: bool = False,
        columns: Sequence[str] | None = None,
    ) -> Result:
        """Order-by-order (L3) events of a security in `[start, end)`: adds and cancels with their
        channel sequence and trading phase; quantities in shares, exact when `decoded=False`.
        Windows are in exchange-local partitions, so a Shanghai trading day is one partition.

        >>> import pointline.research as pr
        >>> orders = pr.l3_orders("szse", "000002", "2024-09-30", "2024-10-01", decoded=False)
        >>> str(orders["qty"][0]), orders["trading_phase"][0]  # an odd lot stays 150 shares
        ('150.000000000', 'opening_call')
        """
        return self.load("l3_orders", exchange, symbol, start, end, decoded=decoded, lazy=lazy, columns=columns)

    def l3_ticks(
        self,
        exchange: str,
        symbol: str | Sequence[str],
        start: TimeLike,
        end: TimeLike,
        *,
        decoded: bool = True,
        lazy: bool = False,
        columns: Sequence[str] | None = None,
    ) -> Result:
        """Fills and cancels (L3 tick events) of a security in `[start, end)`, with both order
        references, the aggressor side and the trading phase.

        >>> import pointline.research as pr
        >>> ticks = pr.l3_ticks("szse", "000001", "2024-09-30", "2024-10-01")
        >>> set(ticks["event_kind"]) <= {"fill", "cancel"} and ticks.height > 0
        True
        """
        return self.load("l3_ticks", exchange, symbol, start, end, decoded=decoded, lazy=lazy, columns=columns)

    def l2_snapshots(
        self,
        exchange: str,
        symbol: str | Sequence[str],
        start: TimeLike,
        end: TimeLike,
        *,
        decoded: bool = True,
        lazy: bool = False,
        columns: Sequence[str] | None = None,
    ) -> Result:
        """Level-2 snapshots (10 levels per side as lists, best first) of a security in `[start, end)`.

        >>> import pointline.research as pr
        >>> snaps = pr.l2_snapshots("szse", "000001", "2024-09-30", "2024-10-01")
        >>> snaps["bid_price_levels"].list.len().max()
        10
        """
        return self.load("l2_snapshots", exchange, symbol, start, end, decoded=decoded, lazy=lazy, columns=columns)

    def klines(
        self,
        exchange: str,
        symbol: str | Sequence[str],
        start: TimeLike,
        end: TimeLike,
        *,
        interval: str = "1h",
        decoded: bool = True,
        lazy: bool = False,
        columns: Sequence[str] | None = None,
    ) -> Result:
        """OHLCV bars of table `kline_<interval>` whose OPEN time is in `[start, end)` (a bar is only
        known at its close, `ts_close`: join on that, not on the open).

        >>> import pointline.research as pr
        >>> bars = pr.klines("binance-futures", "BTCUSDT", "2024-05-01", "2024-05-02", interval="1h")
        >>> bars.height, bars["ts_open"].min().isoformat()
        (24, '2024-05-01T00:00:00+00:00')
        """
        if interval not in KLINE_INTERVALS_US:
            raise ValueError(f"unknown kline interval {interval!r}; known: {list(KLINE_INTERVALS_US)}")
        return self.load(f"kline_{interval}", exchange, symbol, start, end, decoded=decoded, lazy=lazy, columns=columns)

    def asset_stats(
        self,
        base_asset: str | Sequence[str] | None,
        start: TimeLike,
        end: TimeLike,
        *,
        decoded: bool = True,
        lazy: bool = False,
        columns: Sequence[str] | None = None,
    ) -> Result:
        """Daily supply/valuation snapshots (dim_asset_stats) of base assets (None: all) whose
        `snapshot_ts_us` is in `[start, end)`; dates here are UTC dates (the table is not
        exchange-scoped).

        >>> import pointline.research as pr
        >>> s = pr.asset_stats("BTC", "2024-05-01", "2024-05-03")
        >>> s["base_asset"].unique().to_list(), s.schema["snapshot_ts"]
        (['BTC'], Datetime(time_unit='us', time_zone='UTC'))
        """
        start_us, end_us = window_us(start, end, "UTC")
        assets = None if base_asset is None else ([base_asset] if isinstance(base_asset, str) else list(base_asset))
        return _read(
            self.lake,
            "dim_asset_stats",
            decoded,
            lazy,
            snapshots=self.snapshots,
            exchange=None,
            symbol_ids=None,
            start_us=start_us,
            end_us=end_us,
            columns=columns,
            where=None if assets is None else pl.col("base_asset").is_in(assets),
        )

    # ---- discovery -----------------------------------------------------------------------
    def list_tables(self) -> pl.DataFrame:
        """Every table of the schema registry (and any `kline_<interval>` in the lake): kind,
        whether it exists, its Delta version, partitioning and time axis. Read from the Delta logs.

        >>> import polars as pl
        >>> import pointline.research as pr
        >>> t = pr.list_tables()
        >>> t.filter(pl.col("table") == "trades").select("kind", "exists").row(0)
        ('event', True)
        """
        names = set(TABLES) | {f"kline_{i}" for i in settings().kline_intervals}
        rows = []
        for name in sorted(names | {f"kline_{i}" for i in KLINE_INTERVALS_US}):
            spec = get_table_spec(name)
            version = self.lake.version(name)
            if version is None and name not in names:
                continue
            rows.append(
                {
                    "table": name,
                    "kind": spec.kind,
                    "exists": version is not None,
                    "version": version,
                    "partition_by": list(spec.partition_by),
                    "time_axis": spec.time_axis,
                    "description": spec.description,
                }
            )
        return pl.DataFrame(
            rows,
            schema={
                "table": pl.String,
                "kind": pl.String,
                "exists": pl.Boolean,
                "version": pl.Int64,
                "partition_by": pl.List(pl.String),
                "time_axis": pl.String,
                "description": pl.String,
            },
        )

    def list_exchanges(
        self, asset_class: str | Sequence[str] | None = None, *, active_only: bool = True
    ) -> pl.DataFrame:
        """Exchanges of dim_exchange, optionally of an asset class (hierarchical: `crypto` covers
        `crypto-spot` and `crypto-derivatives`); active ones only unless `active_only=False`.

        >>> import pointline.research as pr
        >>> stocks = pr.list_exchanges("stocks")["exchange"].to_list()
        >>> "szse" in stocks and "binance" not in stocks
        True
        >>> sorted(set(pr.list_exchanges("crypto")["asset_class"]))
        ['crypto-derivatives', 'crypto-spot']
        >>> "ftx" in pr.list_exchanges("crypto", active_only=False)["exchange"].to_list()  # defunct
        True
        """
        dim = self.dim_exchange()
        if asset_class is not None:
            dim = dim.filter(asset_class_filter(asset_class))
        if active_only:
            dim = dim.filter(pl.col("is_active"))
        return dim.sort("exchange_id")

    def list_symbols(
        self,
        exchange: str | Sequence[str] | None = None,
        *,
        search: str | None = None,
        asset_class: str | Sequence[str] | None = None,
        instrument_type: str | Sequence[str] | None = None,
        base_asset: str | Sequence[str] | None = None,
        quote_asset: str | Sequence[str] | None = None,
        as_of: TimeLike | None = None,
        all_versions: bool = False,
    ) -> pl.DataFrame:
        """dim_symbol versions matching the filters: the current ones by default, the ones valid at
        `as_of` (a date means that exchange-local trading day's start), or every version with
        `all_versions=True`. `search` is a case-insensitive substring of the exchange symbol.

        >>> import pointline.research as pr
        >>> pr.list_symbols("binance-futures", base_asset="BTC")["exchange_symbol"].to_list()
        ['BTCUSDT']
        >>> pr.list_symbols(asset_class="crypto", search="sol", as_of="2024-05-01T06:00")["price_increment"].to_list()
        [Decimal('0.001000000')]
        """
        if all_versions and as_of is not None:
            raise ValueError("pass as_of or all_versions=True, not both")
        dim = self.dim_symbol()
        filters: list[pl.Expr] = []
        for column, value in (
            ("exchange", exchange),
            ("instrument_type", instrument_type),
            ("base_asset", base_asset),
            ("quote_asset", quote_asset),
        ):
            if value is not None:
                filters.append(pl.col(column).is_in([value] if isinstance(value, str) else list(value)))
        if search:
            filters.append(pl.col("exchange_symbol").str.to_lowercase().str.contains(search.lower(), literal=True))
        if asset_class is not None:
            chosen = self.dim_exchange().filter(asset_class_filter(asset_class))["exchange"].to_list()
            filters.append(pl.col("exchange").is_in(chosen))
        if as_of is not None:
            zones = dict(self.dim_exchange().select("exchange", "timezone").iter_rows())
            instants = {ex: to_us(as_of, tz) for ex, tz in zones.items()}
            at = pl.col("exchange").replace_strict(instants, default=to_us(as_of), return_dtype=pl.Int64)
            filters.append((pl.col("valid_from_us") <= at) & (at < pl.col("valid_until_us")))
        elif not all_versions:
            filters.append(pl.col("is_current"))
        out = dim.filter(*filters) if filters else dim
        return out.sort("exchange", "exchange_symbol", "valid_from_us")

    def symbol_metadata(self, symbol_id: int | Iterable[int]) -> pl.DataFrame:
        """The dim_symbol row(s) of symbol_id(s); KeyError names any id dim_symbol does not have.

        >>> import pointline.research as pr
        >>> sid = pr.trades("binance-futures", "BTCUSDT", "2024-05-01T10:00", "2024-05-01T11:00")["symbol_id"][0]
        >>> pr.symbol_metadata(sid).select("exchange", "exchange_symbol", "instrument_type").row(0)
        ('binance-futures', 'BTCUSDT', 'perpetual')
        """
        ids = [int(symbol_id)] if isinstance(symbol_id, int) else [int(i) for i in symbol_id]
        rows = self.dim_symbol().filter(pl.col("symbol_id").is_in(ids))
        missing = sorted(set(ids) - set(rows["symbol_id"].to_list()))
        if missing:
            raise KeyError(f"symbol_id(s) not in dim_symbol: {missing}")
        return rows.sort("exchange", "exchange_symbol", "valid_from_us")

    def coverage_tables(self) -> list[str]:
        """Tables that `data_coverage` looks at: existing tables keyed by exchange, symbol_id and date.

        >>> import pointline.research as pr
        >>> "trades" in pr.coverage_tables()
        True
        """
        return [name for name in _symbol_tables() if self.lake.exists(name)]

    def data_coverage(self, exchange: str, symbol: str, *, tables: Sequence[str] | None = None) -> pl.DataFrame:
        """Which tables hold rows of `symbol` on `exchange`, on which trading dates, how many, per
        symbol_id (every dim_symbol version of the symbol). Reads the Delta logs and only the
        `symbol_id` column of partitions whose statistics admit the symbol.

        >>> import polars as pl
        >>> import pointline.research as pr
        >>> cov = pr.data_coverage("binance-futures", "SOLUSDT")
        >>> cov.columns
        ['table', 'date', 'symbol_id', 'rows']
        >>> sorted(cov.filter(pl.col("table") == "trades")["date"].unique().to_list())
        [datetime.date(2024, 5, 1), datetime.date(2024, 5, 2)]
        """
        self.timezone(exchange)  # unknown exchanges fail here, clearly
        dim = self.dim_symbol()
        versions = dim.filter((pl.col("exchange") == exchange) & (pl.col("exchange_symbol") == symbol))
        if versions.is_empty():
            versions_in_window(dim, exchange, symbol, 0, 1)  # raises with suggestions
        ids = versions["symbol_id"].to_list()
        frames = []
        for name in tables if tables is not None else _symbol_tables():
            dtable = self.lake.delta_table(name)
            if dtable is None:
                continue
            frames.append(
                pl.scan_delta(dtable, storage_options=self.lake.storage_options)
                .filter(pl.col("exchange") == exchange, pl.col("symbol_id").is_in(ids))
                .group_by("date", "symbol_id")
                .agg(pl.len().cast(pl.Int64).alias("rows"))
                .select(pl.lit(name).alias("table"), "date", "symbol_id", "rows")
                .collect()
            )
        schema = {"table": pl.String, "date": pl.Date, "symbol_id": pl.Int64, "rows": pl.Int64}
        return pl.concat([pl.DataFrame(schema=schema), *frames]).sort("table", "date", "symbol_id")

    def summarize_symbol(self, exchange: str, symbol: str) -> SymbolSummary:
        """A symbol's dim_symbol versions and, per table, its days, first/last date and rows.
        `print()` it for a readable summary.

        >>> import pointline.research as pr
        >>> summary = pr.summarize_symbol("binance-futures", "SOLUSDT")
        >>> print(summary)  # doctest: +ELLIPSIS
        binance-futures SOLUSDT: 2 dim_symbol version(s)
          symbol_id ...: perpetual SOL/USDT, tick 0.001000000, valid [...)
          symbol_id ...: perpetual SOL/USDT, tick 0.010000000, valid [2024-05-01 12:00:00+00:00, open)
        ...
          trades: 2 day(s) 2024-05-01 .. 2024-05-02, ... rows
        """
        versions = self.dim_symbol().filter((pl.col("exchange") == exchange) & (pl.col("exchange_symbol") == symbol))
        coverage = (
            self.data_coverage(exchange, symbol)
            .group_by("table")
            .agg(
                pl.col("date").n_unique().cast(pl.Int64).alias("days"),
                pl.col("date").min().alias("first_date"),
                pl.col("date").max().alias("last_date"),
                pl.col("rows").sum().alias("rows"),
            )
            .sort("table")
        )
        return SymbolSummary(exchange, symbol, versions.sort("valid_from_us"), coverage)

    # ---- SQL -----------------------------------------------------------------------------
    def sql(self, query: str, params: object = None) -> pl.DataFrame:
        """One read-only SELECT over the lake's tables by name (DuckDB over each table's Delta log);
        `params` binds `?` / `$name` placeholders. Anything but a SELECT raises ReadOnlySqlError.

        >>> import datetime as dt
        >>> import pointline.research as pr
        >>> pr.sql('''
        ...     select d.exchange_symbol, count(*) as n
        ...     from trades t join dim_symbol d using (symbol_id)
        ...     where t.exchange = ? and t.date = ?
        ...     group by 1 order by 1''', ["binance-futures", dt.date(2024, 5, 1)])["exchange_symbol"].to_list()
        ['BTCUSDT', 'ETHUSDT', 'SOLUSDT']
        """
        return self._sql.query(query, params)

    # ---- data quality ----------------------------------------------------------------------
    def _dates(self, exchange: str | None, start: TimeLike | None, end: TimeLike | None) -> tuple:
        """Inclusive trading-date bounds of `[start, end)` (None stays open)."""
        tz = "UTC" if exchange in (None, _NO_EXCHANGE) else self.timezone(exchange)  # type: ignore[arg-type]
        first = None if start is None else trading_date(to_us(start, tz), tz)
        last = None if end is None else trading_date(to_us(end, tz) - 1, tz)
        return first, last

    def dq_summary(
        self,
        exchange: str | None = None,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        *,
        table: str | None = None,
        latest_only: bool = True,
    ) -> pl.DataFrame:
        """Check results per partition (lake/control/dq_summary) for trading dates in `[start, end)`:
        the newest run per partition and check unless `latest_only=False`.

        >>> import pointline.research as pr
        >>> dq = pr.dq_summary("binance-futures", "2024-05-01", "2024-05-02", table="trades")
        >>> dq["date"].unique().to_list(), "quarantine_rate" in dq["check_name"].to_list()
        ([datetime.date(2024, 5, 1)], True)
        """
        from pointline.dq import dq_summary

        first, last = self._dates(exchange, start, end)
        if first is not None and last is not None and last < first:  # an empty window
            return DQ_SUMMARY.empty()
        return dq_summary(self.lake, exchange, first, last, table=table, latest_only=latest_only)

    def quarantine(
        self,
        exchange: str | None = None,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        *,
        table: str | None = None,
        symbol: str | None = None,
        reason: str | None = None,
    ) -> pl.DataFrame:
        """Quarantined Bronze rows (rule, Bronze path and line, raw values) of partitions with trading
        dates in `[start, end)`, optionally of one table, symbol or reason.

        >>> import pointline.research as pr
        >>> q = pr.quarantine("binance", "2024-05-01", "2024-05-02", table="trades")
        >>> q.select("reason", "bronze_path", "file_line", "raw").height > 0
        True
        """
        first, last = self._dates(exchange, start, end)
        filters = []
        for column, value in (("exchange", exchange), ("table_name", table), ("symbol", symbol), ("reason", reason)):
            if value is not None:
                filters.append(pl.col(column) == value)
        if first is not None:
            filters.append(pl.col("date") >= first)
        if last is not None:
            filters.append(pl.col("date") <= last)
        lf = self.lake.scan("quarantine")
        return (
            (lf.filter(*filters) if filters else lf)
            .sort("table_name", "date", "exchange", "file_id", "file_line")
            .collect()
        )

    def quarantined_symbols(
        self, exchange: str | None = None, start: TimeLike | None = None, end: TimeLike | None = None
    ) -> pl.DataFrame:
        """Quarantined rows per (table, date, exchange, symbol, reason) for trading dates in `[start, end)`.

        >>> import polars as pl
        >>> import pointline.research as pr
        >>> qs = pr.quarantined_symbols("binance", "2024-05-01", "2024-05-03")
        >>> "SOLUSDT" in qs.filter(pl.col("reason") == "missing_pit_symbol")["symbol"].to_list()
        True
        """
        from pointline.dq import quarantined_symbols

        first, last = self._dates(exchange, start, end)
        out = quarantined_symbols(self.lake, first or dt.date.min, last or dt.date.max, exchange)
        if out.width == 0:
            return pl.DataFrame(
                schema={
                    "table_name": pl.String,
                    "date": pl.Date,
                    "exchange": pl.String,
                    "symbol": pl.String,
                    "reason": pl.String,
                    "rows": pl.UInt32,
                }
            )
        return out


def _symbol_tables() -> list[str]:
    """Registry tables (and every kline interval) keyed by exchange, symbol_id and date."""
    names = sorted(set(TABLES) | {f"kline_{i}" for i in KLINE_INTERVALS_US})
    return [n for n in names if {"exchange", "symbol_id", "date"} <= set(get_table_spec(n).names)]


def _finish(lf: pl.LazyFrame, decoded: bool, lazy: bool) -> Result:
    if decoded:
        lf = decode(lf)  # type: ignore[assignment]
    return lf if lazy else lf.collect()


def _read(lake: Lake, table: str, decoded: bool, lazy: bool, **scan: Any) -> Result:
    """A core read: the lazy plan (`scan_events`) when `lazy`, else `read_events` (the same rows in the
    same order, collected before sorting, which is usually skipped: see `read_events`)."""
    if lazy:
        return _finish(scan_events(lake, table, **scan), decoded, lazy=True)
    rows = read_events(lake, table, **scan)
    return decode(rows) if decoded else rows  # type: ignore[return-value]


# ---- the default session -------------------------------------------------------------------
_current: Research | None = None
_current_lock = threading.Lock()


def current() -> Research:
    """The default session the module-level functions use (created on first use from
    `$POINTLINE_LAKE_ROOT`, else `./lake` under the repository).

    >>> import pointline.research as pr
    >>> isinstance(pr.current(), pr.Research)
    True
    """
    global _current
    with _current_lock:
        if _current is None:
            _current = Research()
        return _current


def use_lake(
    lake_root: str | Path | Research,
    *,
    storage_options: dict[str, str] | None = None,
    cache_ttl: float = 300.0,
) -> Research:
    """Point the module-level functions at another lake (or an existing Research); returns the session.

    >>> import pointline.research as pr
    >>> previous = pr.current()
    >>> pr.use_lake(previous.lake.root).lake.root == previous.lake.root
    True
    >>> _ = pr.use_lake(previous)  # back to the session we had
    """
    global _current
    session = (
        lake_root
        if isinstance(lake_root, Research)
        else Research(lake_root, storage_options=storage_options, cache_ttl=cache_ttl)
    )
    with _current_lock:
        _current = session
    return session
