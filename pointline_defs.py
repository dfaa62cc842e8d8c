"""The Pointline code location: one Definitions composed from the per-layer modules.

Bronze (external specs, one per vendor plugin) -> dimensions -> Silver, plus the Bronze
sensor. Resources: the lake storage and the vendor plugins, both configurable.
"""

from dagster import Definitions, define_asset_job

from pointline_assets.bronze import bronze_specs
from pointline_assets.dimensions import dim_exchange, dim_symbol
from pointline_assets.events import quotes, trades
from pointline_assets.sensors import bronze_sensor
from resources.lake import LakeResource
from resources.vendors import VendorsResource

dimensions_job = define_asset_job("dimensions_job", selection=["dim_exchange", "dim_symbol"])
silver_job = define_asset_job("silver_job", selection=["trades", "quotes"])

defs = Definitions(
    assets=[*bronze_specs(), dim_exchange, dim_symbol, trades, quotes],
    jobs=[dimensions_job, silver_job],
    sensors=[bronze_sensor],
    resources={"lake": LakeResource(), "vendors": VendorsResource()},
)
