"""The Pointline code location: one Definitions composed from the per-layer modules.

Bronze (external specs, one per vendor plugin) -> dimensions -> Silver -> Gold, plus the Bronze
sensor, the dry-run job and the maintenance jobs/schedules (compaction, vacuum, lake stats).
Resources: the lake storage and the vendor plugins, both configurable.
"""

from dagster import Definitions

from pointline_assets.bars import BAR_ASSETS
from pointline_assets.bronze import bronze_specs
from pointline_assets.calendars import dim_trading_calendar
from pointline_assets.dimensions import dim_exchange, dim_symbol
from pointline_assets.dry_run import dry_run_job
from pointline_assets.events import EVENT_ASSETS
from pointline_assets.gold import daily_ohlcv
from pointline_assets.gold_sensor import gold_sensor
from pointline_assets.jobs import ALL_JOBS, GOLD_JOBS
from pointline_assets.maintenance import MAINTENANCE_ASSETS, MAINTENANCE_JOBS, MAINTENANCE_SCHEDULES
from pointline_assets.options_grid import OPTIONS_GRID_ASSETS
from pointline_assets.reflexivity import REFLEXIVITY_ASSETS
from pointline_assets.sensors import bronze_sensor
from pointline_assets.unpack import UNPACK_ASSETS
from resources.lake import LakeResource
from resources.vendors import VendorsResource

defs = Definitions(
    assets=[
        *bronze_specs(),
        *UNPACK_ASSETS.values(),
        dim_exchange,
        dim_symbol,
        dim_trading_calendar,
        *EVENT_ASSETS.values(),
        daily_ohlcv,
        *BAR_ASSETS.values(),
        *REFLEXIVITY_ASSETS.values(),
        *OPTIONS_GRID_ASSETS.values(),
        *MAINTENANCE_ASSETS,
    ],
    jobs=[*ALL_JOBS, *GOLD_JOBS, dry_run_job, *MAINTENANCE_JOBS],
    sensors=[bronze_sensor, gold_sensor],
    schedules=MAINTENANCE_SCHEDULES,
    resources={"lake": LakeResource(), "vendors": VendorsResource()},
)
