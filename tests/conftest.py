"""Shared fixtures: real Dagster instances in temp dirs, temp lakes, and the real vendor fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import instance_for_test

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REAL_FIXTURES = SHARED / "fixtures" / "real"


@pytest.fixture
def real_fixtures() -> Path:
    """../shared/fixtures/real; CI always has it, a user's clone may not."""
    if not REAL_FIXTURES.is_dir():
        pytest.skip(f"real vendor fixtures not found at {REAL_FIXTURES} (they live in ../shared beside the repo)")
    return REAL_FIXTURES


@pytest.fixture
def dagster_instance(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    with instance_for_test(temp_dir=str(home)) as instance:
        yield instance
