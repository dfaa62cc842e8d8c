"""Independent reference implementations of the Gold tables for the tests: plain Python loops over
rows with `decimal.Decimal` at 100 digits, sharing no code with pointline/bars.py or pointline/gold.py.

`reference_bars` builds the whole chain of bars of a spec over every day at once (so a bar spanning
midnight is just a bar), which is what the day-by-day assets with their carry must reproduce.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections import defaultdict
from collections.abc import Callable, Iterable
from decimal import Decimal
from zoneinfo import ZoneInfo

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
CTX = decimal.Context(prec=100)


def local_date(ts_us: int, tz: str) -> dt.date:
    return (_EPOCH + dt.timedelta(microseconds=ts_us)).astimezone(ZoneInfo(tz)).date()


def local_midnight_us(date: dt.date, tz: str) -> int:
    start = dt.datetime.combine(date, dt.time(), tzinfo=ZoneInfo(tz))
    return int((start - _EPOCH) / dt.timedelta(microseconds=1))


def exact_sum(values: Iterable[Decimal]) -> Decimal:
    total = Decimal(0)
    for v in values:
        total = CTX.add(total, v)
    return total


def summarize(rows: list[dict], tz: str) -> dict:
    """A bar of `rows` (in order): OHLC, exact sums, count, first/last time, start date."""
    notional = exact_sum(CTX.multiply(r["price"], r["qty"]) for r in rows)
    return {
        "symbol_id": rows[0]["symbol_id"],
        "symbol": rows[-1]["symbol"],
        "open": rows[0]["price"],
        "high": max(r["price"] for r in rows),
        "low": min(r["price"] for r in rows),
        "close": rows[-1]["price"],
        "volume": exact_sum(r["qty"] for r in rows),
        "buy_volume": exact_sum(r["qty"] for r in rows if r["side"] == "buy"),
        "dollar_volume": notional,
        "trade_count": len(rows),
        "ts_first_us": rows[0]["ts_local_us"],
        "ts_last_us": rows[-1]["ts_local_us"],
        "start_date": local_date(rows[0]["ts_local_us"], tz),
    }


def _measure(kind: str, rows: list[dict]) -> Decimal:
    if kind == "tick":
        return Decimal(len(rows))
    if kind == "volume":
        return exact_sum(r["qty"] for r in rows)
    return exact_sum(CTX.multiply(r["price"], r["qty"]) for r in rows)


def reference_bars(
    trades: Iterable[dict],
    kind: str,
    threshold_for: Callable[[str], Decimal],
    *,
    tz: str,
    last_day: dt.date,
    interval_us: int | None = None,
) -> tuple[list[dict], dict[int, dict]]:
    """(closed bars through `last_day`, the open bar per symbol_id at its end) for one chain of bars.

    Trades are ordered by (symbol_id, ts_local_us, file_id, file_line). Time bars: one bar per
    epoch-grid window holding trades. Others: rows are added one timestamp at a time; when the
    bar's amount reaches the threshold it closes, ending 1 µs after that timestamp; the next bar
    starts there (the first one at its first trade).
    """
    by_symbol: dict[int, list[dict]] = defaultdict(list)
    for row in sorted(trades, key=lambda r: (r["symbol_id"], r["ts_local_us"], r["file_id"], r["file_line"])):
        by_symbol[row["symbol_id"]].append(row)
    horizon = local_midnight_us(last_day + dt.timedelta(days=1), tz)
    bars: list[dict] = []
    open_bars: dict[int, dict] = {}
    for sid, rows in by_symbol.items():
        if kind == "time":
            assert interval_us is not None
            windows: dict[int, list[dict]] = defaultdict(list)
            for r in rows:
                windows[r["ts_local_us"] // interval_us].append(r)
            for w, members in sorted(windows.items()):
                bar = {**summarize(members, tz), "bar_id": w, "ts_start_us": w * interval_us}
                bar["ts_end_us"] = (w + 1) * interval_us
                if bar["ts_end_us"] <= horizon:
                    bars.append(bar)
                else:
                    open_bars[sid] = bar
            continue
        bar_id, prev_end, current, i = 0, None, [], 0
        while i < len(rows):
            ts = rows[i]["ts_local_us"]
            while i < len(rows) and rows[i]["ts_local_us"] == ts:
                current.append(rows[i])
                i += 1
            if _measure(kind, current) >= threshold_for(current[-1]["symbol"]):
                bar = summarize(current, tz)
                start = prev_end if prev_end is not None else current[0]["ts_local_us"]
                bars.append({**bar, "bar_id": bar_id, "ts_start_us": start, "ts_end_us": ts + 1})
                bar_id, prev_end, current = bar_id + 1, ts + 1, []
        open_bars[sid] = {
            "bar_id": bar_id,
            "ts_start_us": prev_end if prev_end is not None else current[0]["ts_local_us"],
            "trade_count": len(current),
            "volume": exact_sum(r["qty"] for r in current),
        }
    for bar in bars:
        bar["date"] = local_date(bar["ts_end_us"] - 1, tz)
    return bars, open_bars


def reference_daily(trades: Iterable[dict], klines: Iterable[dict], window: Callable[[str], tuple[int, int]]) -> dict:
    """daily_ohlcv by hand: {(exchange, symbol_id): row} from the kline where the (exchange, symbol)
    has one, else from its trades of the day (arrival order, then lineage)."""
    out: dict[tuple[str, int], dict] = {}
    with_kline = set()
    for k in klines:
        with_kline.add((k["exchange"], k["symbol"]))
        out[(k["exchange"], k["symbol_id"])] = {
            "symbol": k["symbol"],
            "ts_open_us": k["ts_open_us"],
            "ts_close_us": k["ts_close_us"],
            "open": k["open"],
            "high": k["high"],
            "low": k["low"],
            "close": k["close"],
            "volume": k["volume"],
            "quote_volume": k["quote_volume"],
            "taker_buy_volume": k["taker_buy_base_volume"],
            "trade_count": k["trade_count"],
            "source": "kline_1d",
        }
    groups: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for t in sorted(
        trades, key=lambda r: (r["exchange"], r["symbol_id"], r["ts_local_us"], r["file_id"], r["file_line"])
    ):
        if (t["exchange"], t["symbol"]) not in with_kline:
            groups[(t["exchange"], t["symbol_id"])].append(t)
    for (exchange, sid), rows in groups.items():
        bar = summarize(rows, "UTC")
        start, end = window(exchange)
        out[(exchange, sid)] = {
            "symbol": rows[0]["symbol"],
            "ts_open_us": start,
            "ts_close_us": end,
            "open": bar["open"],
            "high": bar["high"],
            "low": bar["low"],
            "close": bar["close"],
            "volume": bar["volume"],
            "quote_volume": bar["dollar_volume"],
            "taker_buy_volume": bar["buy_volume"],
            "trade_count": bar["trade_count"],
            "source": "trades",
        }
    return out
