"""dim_trading_calendar: every exchange's days and sessions, from the calendar named in dim_exchange."""

# No `from __future__ import annotations`: Dagster inspects these type hints at runtime.

import datetime as dt
from importlib.metadata import version

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from pointline.calendars import build_trading_calendar, calendar_problems
from pointline.config import settings
from pointline.schemas import DIM_TRADING_CALENDAR
from pointline_assets.dimensions import content_version, dim_exchange
from pointline_assets.metadata import markdown_table, table_schema
from resources.lake import LakeResource

# The holiday data comes from the exchange_calendars package: a new release is a new code version.
CALENDAR_CODE_VERSION = f"calendar-1/exchange_calendars-{version('exchange_calendars')}"
HORIZON_DAYS = 90  # the calendar_horizon check warns when a calendar ends sooner than this after today


def calendar_range(today: dt.date) -> tuple[dt.date, dt.date]:
    """Days the table covers: the lake's first partition date through the end of next year."""
    return settings().partition_start, dt.date(today.year + 1, 12, 31)


@asset(
    group_name="dimensions",
    code_version=CALENDAR_CODE_VERSION,
    deps=[dim_exchange],
    description=DIM_TRADING_CALENDAR.description,
    metadata={
        "dagster/column_schema": table_schema(DIM_TRADING_CALENDAR),
        "source": "dim_exchange.calendar (config/exchanges.csv) + exchange_calendars",
    },
    kinds={"delta", "polars"},
    check_specs=[
        AssetCheckSpec(
            "valid_sessions",
            asset="dim_trading_calendar",
            blocking=True,
            description="Every exchange has gap-free days; open < close; breaks inside sessions; no overlaps.",
        ),
        AssetCheckSpec(
            "calendar_horizon",
            asset="dim_trading_calendar",
            description=f"Every active exchange's calendar reaches at least {HORIZON_DAYS} days past today.",
        ),
    ],
)
def dim_trading_calendar(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    """Rebuilt from dim_exchange: one row per exchange and local day, from the lake's first partition
    date through the end of next year, or the last day of the calendar's known holidays if sooner."""
    store = lake.lake()
    exchanges = store.read("dim_exchange")
    if exchanges.is_empty() or "calendar" not in exchanges.columns:
        raise Failure("dim_exchange is missing or has no calendar column: materialize dim_exchange first")
    today = dt.datetime.now(dt.UTC).date()
    start, end = calendar_range(today)
    calendar = build_trading_calendar(exchanges, start, end)
    version_written = store.replace_table("dim_trading_calendar", calendar)

    coverage = calendar.group_by("exchange").agg(pl.col("date").max().alias("last")).sort("exchange")
    bounded = {ex: str(last) for ex, last in coverage.iter_rows() if last < end}
    if bounded:
        context.log.warning(f"calendars end before {end} (no holiday data past the date): {bounded}")
    this_year = (
        calendar.filter(pl.col("date").dt.year() == today.year)
        .group_by("exchange")
        .agg(pl.col("is_trading_day").sum())
        .sort("exchange")
    )
    return MaterializeResult(
        metadata={
            "dagster/row_count": calendar.height,
            "delta_version": version_written,
            "range": f"{start}..{end}",
            f"trading_days_{today.year}": MetadataValue.json({ex: int(n) for ex, n in this_year.iter_rows()}),
            "ends_early": MetadataValue.json(bounded),
            "calendars": MetadataValue.json(
                dict(exchanges.select("exchange", "calendar").sort("exchange").iter_rows())
            ),
            "preview": markdown_table(calendar.filter(pl.col("date") == today)),
        },
        data_version=content_version(calendar),
        check_results=_checks(lake, exchanges, today),
    )


def _checks(lake: LakeResource, exchanges: pl.DataFrame, today: dt.date) -> list[AssetCheckResult]:
    """Checked on what is stored, not on the frame in memory."""
    stored = lake.lake().read("dim_trading_calendar")
    problems = calendar_problems(stored, exchanges["exchange"].to_list())
    valid = AssetCheckResult(
        check_name="valid_sessions",
        passed=not problems,
        severity=AssetCheckSeverity.ERROR,
        description=("; ".join(problems) or "every exchange covered; sessions, breaks and day types consistent")[:2000],
        metadata={"rows": stored.height, "exchanges": stored["exchange"].n_unique()},
    )
    active = exchanges.filter(pl.col("is_active"))["exchange"].to_list()
    last = dict(stored.group_by("exchange").agg(pl.col("date").max()).iter_rows())
    horizon = today + dt.timedelta(days=HORIZON_DAYS)
    short = {ex: str(last.get(ex)) for ex in sorted(active) if last.get(ex) is None or last[ex] < horizon}
    ahead = AssetCheckResult(
        check_name="calendar_horizon",
        passed=not short,
        severity=AssetCheckSeverity.WARN,
        description=(
            f"calendars ending before {horizon} (upgrade exchange_calendars, then re-materialize): {short}"
            if short
            else f"every active exchange is covered through at least {horizon}"
        ),
        metadata={"ends_before_horizon": MetadataValue.json(short), "horizon": str(horizon)},
    )
    return [valid, ahead]
