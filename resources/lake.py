"""The lake storage resource: owns the lake and Bronze roots and opens the Delta tables."""

from __future__ import annotations

import os
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from pointline.config import REPO_ROOT, default_lake_root, settings
from pointline.lake import Lake


class LakeResource(ConfigurableResource):
    """Where the lake lives. Empty roots fall back to $POINTLINE_LAKE_ROOT / $POINTLINE_BRONZE_ROOT,
    then to ./lake and ./bronze under the repository. `storage_options` go to delta-rs unchanged
    (e.g. AWS_REGION, AWS_ENDPOINT_URL) so the same code can point at s3://... later."""

    lake_root: str = Field(default="", description="Lake root path or URI; default $POINTLINE_LAKE_ROOT or ./lake")
    bronze_root: str = Field(default="", description="Bronze root path; default $POINTLINE_BRONZE_ROOT or ./bronze")
    storage_options: dict[str, str] = Field(default_factory=dict, description="delta-rs object-store options")

    def resolved_lake_root(self) -> str:
        return self.lake_root or default_lake_root()  # the same default as pointline.research

    def resolved_bronze_root(self) -> Path:
        return Path(self.bronze_root or os.environ.get("POINTLINE_BRONZE_ROOT") or REPO_ROOT / "bronze")

    def lake(self) -> Lake:
        return Lake(
            self.resolved_lake_root(),
            storage_options=self.storage_options,
            max_row_group_size=settings().max_row_group_size,
        )
