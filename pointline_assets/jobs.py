"""Asset jobs, one per partitioning: a Dagster run materializes assets of one partitions definition.

The Bronze sensor targets these jobs, so each run request names the job its assets belong to.
"""

# No `from __future__ import annotations`: Dagster inspects these type hints at runtime.

from dagster import define_asset_job

from pointline_assets.bars import BAR_ASSETS
from pointline_assets.events import DAILY_TABLES, EXCHANGE_SCOPED_TABLES
from pointline_assets.options_grid import OPTIONS_GRID_ASSETS
from pointline_assets.reflexivity import REFLEXIVITY_ASSETS
from pointline_assets.unpack import UNPACK_ASSETS, unpack_key

dimensions_job = define_asset_job(
    "dimensions_job",
    selection=["dim_exchange", "dim_symbol", "dim_trading_calendar"],
    description="Unpartitioned dimension tables.",
)
silver_job = define_asset_job(
    "silver_job", selection=list(EXCHANGE_SCOPED_TABLES), description="Tables partitioned by (date, exchange)."
)
daily_job = define_asset_job(
    "daily_job", selection=list(DAILY_TABLES), description="Tables partitioned by UTC date only (vendor snapshots)."
)
unpack_job = define_asset_job(
    "unpack_job",
    selection=[unpack_key(vendor) for vendor in UNPACK_ASSETS],
    description="Vendor archives unpacked into Bronze (vendors with the optional unpack hook).",
)
# the asset jobs the Bronze sensor targets
ALL_JOBS = [dimensions_job, silver_job, daily_job, *([unpack_job] if UNPACK_ASSETS else [])]
# Gold (docs/gold-contract.md): one job per partitioning, like Silver; not targeted by the Bronze sensor.
gold_job = define_asset_job(
    "gold_job",
    selection=[*BAR_ASSETS, *REFLEXIVITY_ASSETS, *OPTIONS_GRID_ASSETS],
    description=(
        "Gold tables partitioned by (date, exchange): the bars family (run the days of a range in order), "
        "reflexivity_bars (after its bars) and options_surface_grid."
    ),
)
gold_daily_job = define_asset_job(
    "gold_daily_job", selection=["daily_ohlcv"], description="Gold tables partitioned by date: daily_ohlcv."
)
GOLD_JOBS = [gold_job, gold_daily_job]
