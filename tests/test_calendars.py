"""Trading calendars: the real exchange_calendars data, the 24/7 rule, calendar-aware windows, the asset."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from dagster import AssetKey, materialize
from deltalake import write_deltalake
from exchange_calendars.exchange_calendar_xshg import XSHGExchangeCalendar

from pointline.calendars import (
    CalendarCoverageError,
    build_trading_calendar,
    calendar_coverage,
    calendar_problems,
    is_trading_day,
    shift_trading_days,
    trading_day_window,
    trading_days,
    with_trading_day_index,
)
from pointline.config import load_exchanges, settings
from pointline.lake import Lake
from pointline.schemas import DIM_TRADING_CALENDAR, validate_frame
from pointline_assets.calendars import dim_trading_calendar
from pointline_assets.dimensions import dim_exchange
from resources.lake import LakeResource

D = dt.date
HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US


def utc_us(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp()) * 1_000_000


@pytest.fixture(scope="module")
def cal() -> pl.DataFrame:
    """Every exchange of config/exchanges.csv over 2024-2025, from the real calendars."""
    return build_trading_calendar(load_exchanges(), "2024-01-01", "2025-12-31")


def _row(cal: pl.DataFrame, exchange: str, date: dt.date) -> dict:
    return cal.filter((pl.col("exchange") == exchange) & (pl.col("date") == date)).row(0, named=True)


def test_frame_matches_the_registry_and_covers_every_exchange(cal):
    validate_frame(cal, DIM_TRADING_CALENDAR)
    assert set(cal["exchange"]) == set(load_exchanges()["exchange"])
    assert cal.select("exchange", "date").is_unique().all()
    assert cal.equals(cal.sort("exchange", "date"))
    assert calendar_problems(cal, load_exchanges()["exchange"].to_list()) == []


def test_session_counts_2024(cal):
    days = {ex: len(trading_days(cal, ex, "2024-01-01", "2024-12-31")) for ex in ("szse", "sse", "nyse", "cme")}
    assert days == {"szse": 242, "sse": 242, "nyse": 252, "cme": 259}
    assert trading_days(cal, "szse", D(2024, 1, 1), D(2024, 12, 31)) == trading_days(
        cal, "sse", "2024-01-01", "2024-12-31"
    )
    every_day = trading_days(cal, "binance-futures", "2024-01-01", "2024-12-31")
    assert len(every_day) == 366 and every_day[0] == D(2024, 1, 1) and every_day[-1] == D(2024, 12, 31)


def test_nyse_early_close_holiday_and_weekend(cal):
    friday = _row(cal, "nyse", D(2024, 11, 29))  # the day after Thanksgiving: 13:00 New York = 18:00 UTC
    assert friday["session_type"] == "early_close" and friday["is_trading_day"]
    assert friday["open_us"] == utc_us(2024, 11, 29, 14, 30) and friday["close_us"] == utc_us(2024, 11, 29, 18)
    assert friday["break_start_us"] is None and friday["break_end_us"] is None
    assert _row(cal, "nyse", D(2024, 11, 27))["close_us"] == utc_us(2024, 11, 27, 21)  # regular: 16:00 EST
    assert _row(cal, "nyse", D(2024, 7, 1))["close_us"] == utc_us(2024, 7, 1, 20)  # 16:00 EDT
    thanksgiving = _row(cal, "nyse", D(2024, 11, 28))
    assert thanksgiving["session_type"] == "holiday" and not thanksgiving["is_trading_day"]
    assert thanksgiving["open_us"] is None and thanksgiving["close_us"] is None
    assert _row(cal, "nyse", D(2024, 11, 30))["session_type"] == "weekend"
    assert cal.filter((pl.col("exchange") == "nyse") & (pl.col("session_type") == "early_close"))["date"].to_list() == [
        D(2024, 7, 3),
        D(2024, 11, 29),
        D(2024, 12, 24),
        D(2025, 7, 3),
        D(2025, 11, 28),
        D(2025, 12, 24),
    ]


def test_cme_globex_session_opens_the_evening_before(cal):
    monday = _row(cal, "cme", D(2024, 12, 2))  # Sunday 17:00 Chicago to Monday 17:00 (23:00 UTC)
    assert monday["open_us"] == utc_us(2024, 12, 1, 23) and monday["close_us"] == utc_us(2024, 12, 2, 23)
    assert _row(cal, "cme", D(2024, 11, 28))["session_type"] == "early_close"  # Thanksgiving: 12:00 Chicago


def test_shanghai_lunch_break_and_golden_week(cal):
    day = _row(cal, "sse", D(2024, 5, 6))  # 09:30-11:30 and 13:00-15:00 Asia/Shanghai (UTC+8)
    assert (day["open_us"], day["break_start_us"], day["break_end_us"], day["close_us"]) == (
        utc_us(2024, 5, 6, 1, 30),
        utc_us(2024, 5, 6, 3, 30),
        utc_us(2024, 5, 6, 5),
        utc_us(2024, 5, 6, 7),
    )
    assert _row(cal, "szse", D(2024, 5, 6))["break_start_us"] == day["break_start_us"]
    types = {d: _row(cal, "sse", D(2024, 10, d))["session_type"] for d in (1, 4, 5, 7, 8, 12)}
    # National Day holidays on weekdays; Saturday 2024-10-12 is a make-up workday for offices, not the exchange
    assert types == {1: "holiday", 4: "holiday", 5: "weekend", 7: "holiday", 8: "regular", 12: "weekend"}
    assert _row(cal, "sse", D(2024, 10, 1))["break_start_us"] is None


def test_always_open_days_follow_the_exchange_timezone():
    exchanges = pl.DataFrame(
        {
            "exchange": ["utc-venue", "ny-venue"],
            "timezone": ["UTC", "America/New_York"],
            "calendar": ["24/7", "24/7"],
        }
    )
    cal = build_trading_calendar(exchanges, "2024-03-09", "2024-03-11")
    assert cal.height == 6 and cal["is_trading_day"].all() and set(cal["session_type"]) == {"regular"}
    utc = cal.filter(pl.col("exchange") == "utc-venue")
    assert utc["open_us"].to_list() == [utc_us(2024, 3, d) for d in (9, 10, 11)]
    assert (utc["close_us"] - utc["open_us"]).to_list() == [DAY_US] * 3
    ny = cal.filter(pl.col("exchange") == "ny-venue")
    assert ny["open_us"][0] == utc_us(2024, 3, 9, 5)  # local midnight, EST
    assert (ny["close_us"] - ny["open_us"]).to_list() == [DAY_US, DAY_US - HOUR_US, DAY_US]  # DST starts on the 10th
    assert ny["close_us"][:2].to_list() == ny["open_us"][1:].to_list()  # back to back, no gap


def test_holiday_data_bound_is_never_guessed():
    """XSHG knows holidays through 2026 only: SSE rows stop there, a 24/7 venue and XNYS go on."""
    exchanges = load_exchanges().filter(pl.col("exchange").is_in(["sse", "nyse", "binance"]))
    cal = build_trading_calendar(exchanges, "2026-12-01", "2027-02-28")
    assert calendar_coverage(cal, "sse") == (D(2026, 12, 1), D(2026, 12, 31))
    assert calendar_coverage(cal, "nyse") == (D(2026, 12, 1), D(2027, 2, 28))
    assert calendar_coverage(cal, "binance") == (D(2026, 12, 1), D(2027, 2, 28))
    with pytest.raises(CalendarCoverageError, match=r"sse: 2027-01-01 is outside the calendar's days"):
        trading_days(cal, "sse", "2027-01-01", "2027-01-31")
    with pytest.raises(CalendarCoverageError, match="leaves the calendar's days"):
        shift_trading_days(cal, "sse", "2026-12-31", 1)
    assert shift_trading_days(cal, "nyse", "2026-12-31", 1) == D(2027, 1, 4)
    # only past the bound: a range starting after it gives no rows at all
    assert build_trading_calendar(exchanges.filter(pl.col("exchange") == "sse"), "2027-01-01", "2027-12-31").is_empty()


def test_shift_skips_holidays_and_weekends(cal):
    assert shift_trading_days(cal, "sse", "2024-09-30", 1) == D(2024, 10, 8)  # over Golden Week
    assert shift_trading_days(cal, "sse", "2024-10-08", -1) == D(2024, 9, 30)
    assert shift_trading_days(cal, "sse", "2024-10-05", 1) == D(2024, 10, 8)  # from a non-trading day
    assert shift_trading_days(cal, "sse", "2024-10-05", -1) == D(2024, 9, 30)
    assert shift_trading_days(cal, "sse", "2024-09-26", 3) == D(2024, 10, 8)
    assert shift_trading_days(cal, "sse", "2024-10-08", 0) == D(2024, 10, 8)
    assert shift_trading_days(cal, "nyse", "2024-11-27", 1) == D(2024, 11, 29)  # over Thanksgiving
    assert shift_trading_days(cal, "binance-futures", "2024-11-27", 3) == D(2024, 11, 30)
    with pytest.raises(ValueError, match="not a trading day"):
        shift_trading_days(cal, "sse", "2024-10-01", 0)
    assert is_trading_day(cal, "sse", "2024-10-08") and not is_trading_day(cal, "sse", D(2024, 10, 7))


def test_window_is_the_n_trading_days_ending_at_end(cal):
    assert trading_day_window(cal, "sse", "2024-10-08", 3) == [D(2024, 9, 27), D(2024, 9, 30), D(2024, 10, 8)]
    assert trading_day_window(cal, "sse", "2024-10-03", 2) == [D(2024, 9, 27), D(2024, 9, 30)]  # ends on a holiday
    assert len(trading_day_window(cal, "szse", "2024-12-31", 242)) == 242
    with pytest.raises(CalendarCoverageError, match="fewer than 5 trading days"):
        trading_day_window(cal, "sse", "2024-01-04", 5)  # the frame starts 2024-01-01
    with pytest.raises(ValueError, match="at least 1"):
        trading_day_window(cal, "sse", "2024-10-08", 0)


def test_questions_outside_the_frame_or_for_unknown_exchanges_raise(cal):
    with pytest.raises(CalendarCoverageError, match="2023-12-29 is outside"):
        trading_days(cal, "nyse", "2023-12-29", "2024-01-31")
    with pytest.raises(CalendarCoverageError, match="no calendar rows for exchange 'mtgox'"):
        trading_days(cal, "mtgox", "2024-01-01", "2024-01-31")


def test_lazy_calendar_is_accepted(cal):
    assert trading_days(cal.lazy(), "sse", "2024-10-01", "2024-10-10") == [
        D(2024, 10, 8),
        D(2024, 10, 9),
        D(2024, 10, 10),
    ]


def test_rolling_over_trading_days_with_the_index(cal):
    """A 3-session rolling sum on SSE closes spans Golden Week; calendar-day windows would not."""
    dates = trading_days(cal, "sse", "2024-09-25", "2024-10-10")
    bars = pl.DataFrame({"exchange": "sse", "date": dates, "x": [float(i) for i in range(len(dates))]})
    indexed = with_trading_day_index(bars, cal)
    assert indexed["trading_day_index"].diff().drop_nulls().to_list() == [1] * (len(dates) - 1)
    rolled = indexed.rolling("trading_day_index", period="3i").agg(pl.col("x").sum().alias("x3"), pl.len().alias("n"))
    by_date = dict(zip(dates, rolled["x3"].to_list(), strict=True))
    assert rolled["n"].to_list()[2:] == [3] * (len(dates) - 2)
    # 2024-10-08 (index 4 here) sums itself, 2024-09-30 and 2024-09-27
    assert dates[4] == D(2024, 10, 8) and by_date[D(2024, 10, 8)] == 4.0 + 3.0 + 2.0
    one = with_trading_day_index(pl.DataFrame({"date": [D(2024, 10, 1), D(2024, 10, 8)]}).lazy(), cal, exchange="sse")
    assert isinstance(one, pl.LazyFrame)
    got = one.collect()["trading_day_index"].to_list()
    assert got[0] is None and got[1] == indexed["trading_day_index"][4]


def test_problems_are_named(cal):
    sse = cal.filter(pl.col("exchange") == "sse")
    bad = pl.concat(
        [
            sse.filter(pl.col("date") != D(2024, 6, 3)),  # a gap
            cal.filter((pl.col("exchange") == "nyse") & (pl.col("date") == D(2024, 5, 6))).with_columns(
                pl.col("close_us") - 10 * HOUR_US  # close before open
            ),
        ]
    ).with_columns(
        pl.when(pl.col("date") == D(2024, 5, 7))
        .then(pl.col("close_us") + HOUR_US)
        .otherwise("break_end_us")
        .alias("break_end_us")  # a lunch break ending after the close
    )
    text = "; ".join(calendar_problems(bad, ["sse", "nyse", "cme"]))
    assert "exchanges without calendar rows: ['cme']" in text
    assert "days missing inside the covered range of ['sse']" in text
    assert "trading day without open < close: 1 row(s)" in text
    assert "lunch break not inside its session: 1 row(s)" in text


def test_mismatched_timezone_and_unknown_calendar_are_refused():
    wrong_tz = pl.DataFrame({"exchange": ["nyse"], "timezone": ["UTC"], "calendar": ["XNYS"]})
    with pytest.raises(ValueError, match=r"\['nyse'\]: calendar 'XNYS' is in America/New_York"):
        build_trading_calendar(wrong_tz, "2024-01-01", "2024-01-31")
    unknown = pl.DataFrame({"exchange": ["lse"], "timezone": ["Europe/London"], "calendar": ["XLSE"]})
    with pytest.raises(ValueError, match="unknown calendar 'XLSE'"):
        build_trading_calendar(unknown, "2024-01-01", "2024-01-31")


def test_asset_is_in_the_dimension_group_and_job():
    from pointline_defs import defs

    graph = defs.resolve_asset_graph()
    node = graph.get(AssetKey("dim_trading_calendar"))
    assert node.group_name == "dimensions" and set(node.parent_keys) == {AssetKey("dim_exchange")}
    assert node.partitions_def is None
    from pointline_assets.jobs import dimensions_job

    assert AssetKey("dim_trading_calendar") in dimensions_job.selection.resolve(graph)


def test_materialize_into_a_temp_lake_and_read_back(tmp_path, dagster_instance):
    resources = {"lake": LakeResource(lake_root=str(tmp_path / "lake"), bronze_root=str(tmp_path / "bronze"))}
    # a lake from before the calendar column: replacing dim_exchange takes the registry's new schema
    old = load_exchanges().drop("calendar").to_arrow()
    write_deltalake(str(tmp_path / "lake" / "dim" / "dim_exchange"), old, mode="append")

    result = materialize([dim_exchange, dim_trading_calendar], instance=dagster_instance, resources=resources)
    assert result.success
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["valid_sessions"].passed, checks["valid_sessions"].description
    assert "calendar_horizon" in checks  # a warning while exchange_calendars' XSHG data ends within 90 days

    lake = Lake(tmp_path / "lake")
    assert "calendar" in lake.read("dim_exchange").columns
    stored = lake.read("dim_trading_calendar")
    validate_frame(stored, DIM_TRADING_CALENDAR)
    assert set(stored["exchange"]) == set(load_exchanges()["exchange"])
    first, last = calendar_coverage(stored, "binance-futures")
    assert first == settings().partition_start and last == D(dt.datetime.now(dt.UTC).year + 1, 12, 31)
    xshg_bound = XSHGExchangeCalendar.bound_max().date()  # 2026-12-31 in exchange_calendars 4.13.2
    assert calendar_coverage(stored, "sse") == calendar_coverage(stored, "szse") == (first, min(last, xshg_bound))
    assert len(trading_days(stored, "szse", "2024-01-01", "2024-12-31")) == 242
    assert len(trading_days(stored, "binance-futures", "2024-01-01", "2024-12-31")) == 366

    (mat,) = result.asset_materializations_for_node("dim_trading_calendar")
    meta = mat.metadata
    assert meta["dagster/row_count"].value == stored.height
    year = dt.datetime.now(dt.UTC).year
    assert meta[f"trading_days_{year}"].value["binance"] in (365, 366)

    again = materialize([dim_trading_calendar], instance=dagster_instance, resources=resources)
    assert again.success
    (mat2,) = again.asset_materializations_for_node("dim_trading_calendar")
    assert mat2.tags["dagster/data_version"] == mat.tags["dagster/data_version"]  # content hash: same rows
    assert lake.read("dim_trading_calendar").equals(stored)
