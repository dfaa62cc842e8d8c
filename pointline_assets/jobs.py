"""Asset jobs, one per partitioning: a Dagster run materializes assets of one partitions definition.

The Bronze sensor targets these jobs, so each run request names the job its assets belong to.
"""

# No `from __future__ import annotations`: Dagster inspects these type hints at runtime.

from dagster import define_asset_job

from pointline_assets.events import DAILY_TABLES, EXCHANGE_SCOPED_TABLES

dimensions_job = define_asset_job(
    "dimensions_job", selection=["dim_exchange", "dim_symbol"], description="Unpartitioned dimension tables."
)
silver_job = define_asset_job(
    "silver_job", selection=list(EXCHANGE_SCOPED_TABLES), description="Tables partitioned by (date, exchange)."
)
daily_job = define_asset_job(
    "daily_job", selection=list(DAILY_TABLES), description="Tables partitioned by UTC date only (vendor snapshots)."
)
ALL_JOBS = [dimensions_job, silver_job, daily_job]  # the asset jobs the Bronze sensor targets
