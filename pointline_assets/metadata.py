"""Small helpers that turn ingest reports into Dagster metadata."""

from __future__ import annotations

import datetime as dt

import polars as pl
from dagster import MetadataValue, TableColumn, TableSchema

from pointline.schemas import TableSpec


def table_metadata(spec: TableSpec) -> dict[str, object]:
    """Definition metadata every table asset shows: its columns, partitioning and row order."""
    return {
        "dagster/column_schema": table_schema(spec),
        "partitioned_by": ", ".join(spec.partition_by),
        "sort_order": ", ".join(spec.sort_by),
    }


def table_schema(spec: TableSpec) -> TableSchema:
    """The registry spec as Dagster column schema, so the UI shows types and descriptions."""
    return TableSchema(
        columns=[TableColumn(name=c.name, type=str(c.dtype), description=c.description) for c in spec.columns]
    )


def markdown_table(df: pl.DataFrame, limit: int = 5) -> MetadataValue:
    head = df.head(limit)
    if head.is_empty():
        return MetadataValue.md("_no rows_")
    cols = head.columns
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in head.iter_rows()]
    return MetadataValue.md("\n".join(lines))


def iso_us(ts_us: int | None) -> str | None:
    if ts_us is None:
        return None
    return (dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=ts_us)).isoformat()
