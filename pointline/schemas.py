"""The schema registry: one canonical spec per lake table, declared once.

Every write validates against its spec first (`validate_frame`), `docs/schemas.md` is
rendered from it (`render_markdown`), and tests build frames from it. Nothing else in
the code base declares a table's columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from pointline.numbers import EXACT

__all__ = [
    "ColumnSpec",
    "TableSpec",
    "SchemaValidationError",
    "TABLES",
    "get_table_spec",
    "validate_frame",
    "render_markdown",
]


class SchemaValidationError(ValueError):
    """A frame does not match its table's canonical spec; nothing was written."""

    def __init__(self, table: str, problems: list[str]):
        self.table = table
        self.problems = problems
        super().__init__(f"{table}: frame does not match the schema registry: " + "; ".join(problems))


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    dtype: pl.DataType
    description: str
    nullable: bool = False
    # True when the core derives the column (trading date, symbol_id, lineage);
    # False when a vendor plugin supplies it (as text, coerced by the core).
    derived: bool = False


@dataclass(frozen=True)
class TableSpec:
    name: str
    kind: str  # "event" | "dimension" | "control"
    description: str
    columns: tuple[ColumnSpec, ...]
    partition_by: tuple[str, ...] = ()
    sort_by: tuple[str, ...] = ()  # deterministic tie-break order of rows inside a partition
    time_axis: str | None = None  # column whose exchange-local date defines the trading date
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: duplicate column names")
        for key in (*self.partition_by, *self.sort_by, *([self.time_axis] if self.time_axis else [])):
            if key not in names:
                raise ValueError(f"{self.name}: key column {key!r} is not a column")

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def polars_schema(self) -> pl.Schema:
        return pl.Schema({c.name: c.dtype for c in self.columns})

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")

    @property
    def source_columns(self) -> list[ColumnSpec]:
        """Columns a vendor plugin must supply (as text) for this table."""
        return [c for c in self.columns if not c.derived]

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.polars_schema)

    def conform(self, df: pl.DataFrame) -> pl.DataFrame:
        """Select the spec's columns in spec order (after validation)."""
        return df.select(self.names)


def _c(name: str, dtype: pl.DataType, description: str, *, nullable: bool = False, derived: bool = False) -> ColumnSpec:
    return ColumnSpec(name, dtype, description, nullable=nullable, derived=derived)


def _event_head() -> tuple[ColumnSpec, ...]:
    return (
        _c("date", pl.Date(), "Partition: exchange-local trading date of the table's time axis.", derived=True),
        _c("exchange", pl.String(), "Partition: normalized exchange name (a key of dim_exchange)."),
        _c("symbol", pl.String(), "Exchange-native symbol exactly as the vendor delivered it."),
        _c("symbol_id", pl.Int64(), "dim_symbol surrogate key, resolved point-in-time at ts_local_us.", derived=True),
        _c("ts_local_us", pl.Int64(), "Arrival (capture) time, UTC microseconds; the time axis."),
        _c("ts_exch_us", pl.Int64(), "Exchange timestamp, UTC microseconds (vendor falls back to arrival)."),
    )


def _lineage() -> tuple[ColumnSpec, ...]:
    return (
        _c(
            "file_id",
            pl.Int64(),
            "Lineage: blake2b-8 id of the Bronze file's path relative to the Bronze root.",
            derived=True,
        ),
        _c(
            "file_line",
            pl.Int64(),
            "Lineage: physical 1-based line number of the row in the (decompressed) Bronze file.",
        ),
    )


_EVENT_SORT = ("symbol_id", "ts_local_us", "file_id", "file_line")

TRADES = TableSpec(
    name="trades",
    kind="event",
    description="Every public trade (tick), one row per fill as reported by the venue.",
    columns=(
        *_event_head(),
        _c("trade_id", pl.String(), "Venue trade id; null when the venue gives none.", nullable=True),
        _c("side", pl.String(), "Taker (aggressor) side: buy, sell or unknown."),
        _c("price", EXACT, "Trade price, exact decimal (scale 9)."),
        _c("qty", EXACT, "Trade quantity in the venue's amount unit, exact decimal (scale 9)."),
        *_lineage(),
    ),
    partition_by=("date", "exchange"),
    sort_by=_EVENT_SORT,
    time_axis="ts_local_us",
)

QUOTES = TableSpec(
    name="quotes",
    kind="event",
    description="Top of book (best bid and ask) updates.",
    columns=(
        *_event_head(),
        _c("bid_price", EXACT, "Best bid price; null when the bid side is empty.", nullable=True),
        _c("bid_qty", EXACT, "Size at the best bid; null when the bid side is empty.", nullable=True),
        _c("ask_price", EXACT, "Best ask price; null when the ask side is empty.", nullable=True),
        _c("ask_qty", EXACT, "Size at the best ask; null when the ask side is empty.", nullable=True),
        *_lineage(),
    ),
    partition_by=("date", "exchange"),
    sort_by=_EVENT_SORT,
    time_axis="ts_local_us",
)

QUARANTINE = TableSpec(
    name="quarantine",
    kind="control",
    description="Every Bronze row that did not reach Silver, with the rule it failed and its raw values.",
    columns=(
        _c("table_name", pl.String(), "Partition: the Silver table the row was meant for."),
        _c("date", pl.Date(), "Partition: trading date of the partition that read the row."),
        _c("exchange", pl.String(), "Partition: exchange of that partition."),
        _c("file_id", pl.Int64(), "Lineage: id of the Bronze file (see trades.file_id)."),
        _c("file_line", pl.Int64(), "Lineage: physical line of the row in the Bronze file."),
        _c("bronze_path", pl.String(), "Bronze file path relative to the Bronze root."),
        _c("reason", pl.String(), "Rule that failed (see docs/quarantine.md)."),
        _c("detail", pl.String(), "Human-readable explanation of the failure."),
        _c("symbol", pl.String(), "Symbol as delivered, when the row had one.", nullable=True),
        _c("ts_local_us", pl.Int64(), "Arrival timestamp when it parsed.", nullable=True),
        _c("raw", pl.String(), "The row's raw vendor values as a JSON object of strings."),
    ),
    partition_by=("table_name", "date", "exchange"),
    sort_by=("file_id", "file_line"),
)

DIM_EXCHANGE = TableSpec(
    name="dim_exchange",
    kind="dimension",
    description="Exchanges known to the lake, loaded from config/exchanges.csv.",
    columns=(
        _c("exchange", pl.String(), "Normalized exchange name (primary key)."),
        _c("exchange_id", pl.Int16(), "Stable small integer id."),
        _c("asset_class", pl.String(), "Hierarchical asset class, e.g. crypto-spot, crypto-derivatives, stocks-cn."),
        _c("timezone", pl.String(), "IANA timezone that defines the exchange's trading date."),
        _c("is_active", pl.Boolean(), "False for legacy or defunct venues."),
        _c("description", pl.String(), "Free text.", nullable=True),
    ),
    sort_by=("exchange_id",),
)

DIM_SYMBOL = TableSpec(
    name="dim_symbol",
    kind="dimension",
    description="SCD Type 2 instrument master: one row per (exchange, exchange_symbol, validity window).",
    columns=(
        _c(
            "symbol_id",
            pl.Int64(),
            "blake2b-8 of 'exchange|exchange_symbol|valid_from_us' (docs/decisions/0002-symbol-id.md).",
        ),
        _c("exchange", pl.String(), "Natural key part 1: exchange name."),
        _c("exchange_symbol", pl.String(), "Natural key part 2: exchange-native symbol."),
        _c("valid_from_us", pl.Int64(), "Validity window start, inclusive, UTC microseconds."),
        _c("valid_until_us", pl.Int64(), "Validity window end, exclusive; 2^63-1 when open."),
        _c("is_current", pl.Boolean(), "True for the open (latest) version of a live instrument."),
        _c("instrument_type", pl.String(), "spot, perpetual, future, option, ...", nullable=True),
        _c("base_asset", pl.String(), "Base asset code.", nullable=True),
        _c("quote_asset", pl.String(), "Quote asset code.", nullable=True),
        _c("price_increment", EXACT, "Tick size, exact.", nullable=True),
        _c("amount_increment", EXACT, "Quantity step, exact.", nullable=True),
        _c("contract_multiplier", EXACT, "Contract multiplier (1 for spot).", nullable=True),
        _c("expiry_us", pl.Int64(), "Expiry for dated contracts, UTC microseconds.", nullable=True),
        _c("source", pl.String(), "Where this version came from: a vendor name or 'override'."),
    ),
    sort_by=("exchange", "exchange_symbol", "valid_from_us"),
)

TABLES: dict[str, TableSpec] = {t.name: t for t in (TRADES, QUOTES, QUARANTINE, DIM_EXCHANGE, DIM_SYMBOL)}


def get_table_spec(name: str) -> TableSpec:
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known: {sorted(TABLES)}") from None


def validate_frame(df: pl.DataFrame, spec: TableSpec) -> None:
    """Raise SchemaValidationError naming every missing, unexpected, mistyped or null-violating column."""
    problems: list[str] = []
    actual = df.schema
    for col in spec.columns:
        if col.name not in actual:
            problems.append(f"missing column {col.name!r} ({col.dtype})")
        elif actual[col.name] != col.dtype:
            problems.append(f"column {col.name!r} has type {actual[col.name]}, expected {col.dtype}")
    for name in actual:
        if name not in spec.names:
            problems.append(f"unexpected column {name!r}")
    if not problems:
        required = [c.name for c in spec.columns if not c.nullable]
        nulls = df.select(pl.col(required).null_count()).row(0) if required and df.height else ()
        for name, n in zip(required, nulls, strict=False):
            if n:
                problems.append(f"column {name!r} is not nullable but has {n} null(s)")
    if problems:
        raise SchemaValidationError(spec.name, problems)


def render_markdown() -> str:
    """docs/schemas.md, generated; `python -m pointline.schemas > docs/schemas.md` refreshes it."""
    lines = [
        "# Lake table schemas",
        "",
        "Generated from `pointline/schemas.py` by `make docs`; do not edit by hand (a test fails when stale).",
        "Exact numbers are `Decimal(38, 9)`: see `docs/decisions/0001-exact-numbers.md`.",
        "",
    ]
    for spec in TABLES.values():
        lines += [f"## `{spec.name}` ({spec.kind})", "", spec.description, ""]
        lines.append(f"- partitioned by: {', '.join(f'`{p}`' for p in spec.partition_by) or 'unpartitioned'}")
        lines.append(f"- row order (tie-break keys): {', '.join(f'`{k}`' for k in spec.sort_by) or '-'}")
        if spec.time_axis:
            lines.append(f"- time axis: `{spec.time_axis}`")
        lines += ["", "| column | type | nullable | source | description |", "|---|---|---|---|---|"]
        for c in spec.columns:
            src = "derived" if c.derived else "vendor"
            lines.append(f"| `{c.name}` | {c.dtype} | {'yes' if c.nullable else 'no'} | {src} | {c.description} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_markdown(), end="")
