"""dim_symbol as an SCD Type 2 table: pure Polars functions, no I/O except `load_overrides`.

Model
-----
* Natural key: (exchange, exchange_symbol). One row per version of an instrument, valid on the
  half-open window [valid_from_us, valid_until_us); the open end is `ids.VALID_UNTIL_OPEN`
  (2**63-1) and `is_current` is exactly `valid_until_us == VALID_UNTIL_OPEN`.
* A new version starts only when a TRACKED attribute changes. Comparison is null-safe: a value
  appearing where there was null (or disappearing) is a change. Empty strings from vendors are
  read as null first, so "" vs null is not a spurious change.
* symbol_id = blake2b-8 of "exchange|exchange_symbol|valid_from_us" (docs/decisions/0002-symbol-id.md).
  It is a pure function of the row, so rebuilding from the same history gives the same ids.
* Exact numbers: increments and multipliers arrive as text and are parsed to Decimal(38, 9)
  without floats; text that cannot be stored exactly raises (a dimension is never rounded).

Two ways to maintain the table
------------------------------
* `rebuild_from_history(versions)`: the whole table from a version history (vendor metadata plus
  overrides). This is the only way to change the past.
* `bootstrap` / `upsert`: apply full snapshots of current attributes going forward. A change at or
  before the current version's start raises `BackdatedChangeError`: use rebuild_from_history.

Overrides (config/symbol_overrides.csv)
---------------------------------------
A CSV whose header is exactly the columns of `vendors.base.INSTRUMENT_COLUMNS`, one row per
corrected version, decimals as text, cells trimmed, empty cell = null. `apply_overrides` matches rows on
(exchange, exchange_symbol, valid_from_us): a matching vendor version is replaced as a whole (all
attributes, including valid_until_us, so an override can also shorten a vendor window); an
unmatched row is added as a new version. Every override row gets source="override". Empty
valid_until_us means "until the next version" as in vendor history. To insert a version inside a
vendor window that has an explicit end, also override that vendor row with the shortened end,
otherwise the rebuild reports the overlap. Overrides cannot delete a version. The file ships with
its header only (no corrections).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import polars as pl

from pointline.ids import VALID_UNTIL_OPEN, symbol_ids
from pointline.numbers import EXACT, EXACT_PATTERN, INTEGER_PATTERN, SCALE, exact_number
from pointline.schemas import DIM_SYMBOL, validate_frame
from vendors.base import INSTRUMENT_COLUMNS

__all__ = [
    "NATURAL_KEY",
    "TRACKED",
    "SNAPSHOT_COLUMNS",
    "DELISTING_COLUMNS",
    "VALID_UNTIL_OPEN",
    "BackdatedChangeError",
    "versions_to_dim",
    "rebuild_from_history",
    "bootstrap",
    "upsert",
    "apply_overrides",
    "load_overrides",
    "validate_dim",
]

NATURAL_KEY: tuple[str, str] = ("exchange", "exchange_symbol")
TRACKED: tuple[str, ...] = (
    "instrument_type",
    "base_asset",
    "quote_asset",
    "price_increment",
    "amount_increment",
    "contract_multiplier",
    "expiry_us",
    "underlying",
    "option_type",
    "strike",
    "settlement_type",
    "settlement_asset",
    "is_inverse",
    "contract_month",
    "isin",
    "listing_exchange",
    "canonical_symbol",
)
# A snapshot: current attributes per key, no windows (the caller supplies the effective time).
SNAPSHOT_COLUMNS: tuple[str, ...] = (*NATURAL_KEY, *TRACKED, "source")
DELISTING_COLUMNS: dict[str, pl.DataType] = {
    "exchange": pl.String(),
    "exchange_symbol": pl.String(),
    "delisted_at_us": pl.Int64(),
}

_STRING_FIELDS = (
    "instrument_type",
    "base_asset",
    "quote_asset",
    "underlying",
    "option_type",
    "settlement_type",
    "settlement_asset",
    "contract_month",
    "isin",
    "listing_exchange",
    "canonical_symbol",
)
_DECIMAL_FIELDS = ("price_increment", "amount_increment", "contract_multiplier", "strike")
_INT_FIELDS = ("expiry_us",)
_BOOL_FIELDS = ("is_inverse",)
_BOOL_TEXT = {"true": True, "false": False}
_VF, _VU = "valid_from_us", "valid_until_us"
_MAX_EXAMPLES = 5


class BackdatedChangeError(ValueError):
    """An upsert would start a version at or before the start of the version it replaces.

    Forward-only maintenance cannot rewrite the past without silently changing what earlier
    rows resolved to; such corrections go through `rebuild_from_history`.
    """


# --------------------------------------------------------------------------- helpers


def _key_text(row: dict) -> str:
    return f"{row['exchange']}/{row['exchange_symbol']}"


def _examples(lines: list[str], total: int | None = None) -> str:
    """The first few problems, and how many more there are (error messages stay readable)."""
    more = (len(lines) if total is None else total) - min(len(lines), _MAX_EXAMPLES)
    return "; ".join(lines[:_MAX_EXAMPLES]) + (f"; ... and {more} more" if more > 0 else "")


def _require_columns(df: pl.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what} is missing column(s) {missing}; it has {df.columns}")


def _typed_attributes(df: pl.DataFrame, what: str) -> pl.DataFrame:
    """Cast the TRACKED columns to their DIM_SYMBOL dtypes.

    Decimal fields may arrive as vendor text (parsed exactly, never through a float) or as an
    integer/decimal column. Text that is non-empty but not exact raises a ValueError naming the
    key and field: a wrong tick size in the dimension would corrupt every join downstream.
    """
    exprs: list[pl.Expr] = []
    problems: list[str] = []
    n_bad = 0
    for c in _STRING_FIELDS:
        col = pl.col(c).cast(pl.String)
        exprs.append(pl.when(col == "").then(None).otherwise(col).alias(c))
    for c in _DECIMAL_FIELDS:
        dtype = df.schema[c]
        if dtype == pl.String:
            bad = df.filter(pl.col(c).is_not_null() & (pl.col(c) != "") & ~pl.col(c).str.contains(EXACT_PATTERN))
            n_bad += bad.height
            for row in bad.head(_MAX_EXAMPLES).iter_rows(named=True):
                at = f" valid_from_us={row[_VF]}" if _VF in row else ""
                problems.append(f"{_key_text(row)}{at} field {c}={row[c]!r}")
            exprs.append(exact_number(c).alias(c))
        elif isinstance(dtype, pl.Decimal):
            if dtype.scale is not None and dtype.scale > SCALE:
                raise ValueError(f"{what}: column {c} has {dtype}; more than {SCALE} fractional digits cannot be exact")
            exprs.append(pl.col(c).cast(EXACT).alias(c))
        elif dtype.is_integer() or dtype == pl.Null:
            exprs.append(pl.col(c).cast(EXACT).alias(c))
        else:
            raise ValueError(f"{what}: column {c} has type {dtype}; pass decimals as text (floats are not exact)")
    for c in _BOOL_FIELDS:
        dtype = df.schema[c]
        if dtype == pl.String:
            text = pl.col(c).str.strip_chars().str.to_lowercase()
            bad = df.filter(pl.col(c).is_not_null() & (pl.col(c) != "") & ~text.is_in(list(_BOOL_TEXT)))
            n_bad += bad.height
            problems += [f"{_key_text(r)} field {c}={r[c]!r} (expected true or false)" for r in bad.head(5).to_dicts()]
            exprs.append(text.replace_strict(_BOOL_TEXT, default=None, return_dtype=pl.Boolean).alias(c))
        elif dtype in (pl.Boolean, pl.Null):
            exprs.append(pl.col(c).cast(pl.Boolean).alias(c))
        else:
            raise ValueError(f"{what}: column {c} has type {dtype}, expected a boolean")
    for c in _INT_FIELDS:
        dtype = df.schema[c]
        if not (dtype.is_integer() or dtype == pl.Null):
            raise ValueError(f"{what}: column {c} has type {dtype}, expected an integer (UTC microseconds)")
        exprs.append(pl.col(c).cast(pl.Int64).alias(c))
    if problems:
        raise ValueError(
            f"{what}: {n_bad} value(s) are not exact decimals (at most {SCALE} fractional digits, "
            f"no exponent): {_examples(problems, n_bad)}"
        )
    return df.with_columns(exprs)


def _typed_versions(versions: pl.DataFrame) -> pl.DataFrame:
    """INSTRUMENT_COLUMNS frame (text or typed decimals) -> typed versions, until still nullable.

    A frame without columns (`pl.DataFrame()`, no vendor delivered anything) is an empty history.
    """
    if versions.width == 0:
        versions = pl.DataFrame(schema=INSTRUMENT_COLUMNS)
    _require_columns(versions, INSTRUMENT_COLUMNS, "instrument versions")
    df = versions.select(list(INSTRUMENT_COLUMNS)).with_columns(
        pl.col("exchange", "exchange_symbol", "source").cast(pl.String),
        pl.col(_VF, _VU).cast(pl.Int64),
    )
    return _typed_attributes(df, "instrument versions")


def _typed_snapshot(snapshot: pl.DataFrame) -> pl.DataFrame:
    """Snapshot -> key + TRACKED (DIM_SYMBOL dtypes) + source, one row per key."""
    windows = [c for c in (_VF, _VU, "is_current") if c in snapshot.columns]
    if windows:
        raise ValueError(
            f"snapshot has window column(s) {windows}: a snapshot holds current attributes only "
            "(the effective time is an argument); load version history with rebuild_from_history"
        )
    _require_columns(snapshot, SNAPSHOT_COLUMNS, "snapshot")
    df = snapshot.select(SNAPSHOT_COLUMNS).with_columns(pl.col("exchange", "exchange_symbol", "source").cast(pl.String))
    df = _typed_attributes(df, "snapshot")
    nulls = df.filter(pl.any_horizontal(pl.col(*NATURAL_KEY, "source").is_null()))
    if nulls.height:
        raise ValueError(f"snapshot: {nulls.height} row(s) with a null exchange, exchange_symbol or source")
    dup = df.filter(pl.len().over(NATURAL_KEY) > 1).select(NATURAL_KEY).unique().sort(NATURAL_KEY)
    if dup.height:
        raise ValueError(f"snapshot: duplicate key(s) {_examples([_key_text(r) for r in dup.iter_rows(named=True)])}")
    return df


def _finish(df: pl.DataFrame) -> pl.DataFrame:
    """Typed versions with closed-or-open windows -> DIM_SYMBOL frame (ids, is_current, order)."""
    out = df.with_columns(
        pl.col(_VU).fill_null(VALID_UNTIL_OPEN),
    ).with_columns(
        (pl.col(_VU) == VALID_UNTIL_OPEN).alias("is_current"),
        symbol_ids(df["exchange"], df["exchange_symbol"], df[_VF])
        if df.height
        else pl.lit(None, pl.Int64).alias("symbol_id"),
    )
    out = DIM_SYMBOL.conform(out.with_columns(pl.col("symbol_id").cast(pl.Int64))).sort(DIM_SYMBOL.sort_by)
    validate_frame(out, DIM_SYMBOL)
    return out


def _tracked_equal(suffix: str) -> pl.Expr:
    """Null-safe equality of every TRACKED column with its `suffix`ed twin."""
    return pl.all_horizontal([pl.col(c).eq_missing(pl.col(f"{c}{suffix}")) for c in TRACKED])


# --------------------------------------------------------------------------- building


def versions_to_dim(versions: pl.DataFrame) -> pl.DataFrame:
    """INSTRUMENT_COLUMNS frame -> DIM_SYMBOL frame, one row per version, windows taken as given.

    Null valid_until_us means open. No window arithmetic here (see rebuild_from_history); the
    result matches DIM_SYMBOL exactly (validated), sorted by DIM_SYMBOL.sort_by.
    """
    return _finish(_typed_versions(versions))


def rebuild_from_history(versions: pl.DataFrame) -> pl.DataFrame:
    """The whole dim_symbol from a version history: the one place where the past may change.

    Per key, versions are ordered by valid_from_us; a version without an explicit end lasts
    until the next one starts (the last one stays open); an explicit end leaves a gap when it
    is before the next start and raises when it is after (overlap). Duplicate starts raise.
    Consecutive versions with identical tracked values and touching windows are merged into
    the earlier one, so its symbol_id (and every row already resolved to it) stays valid.
    """
    df = _typed_versions(versions)
    dup = df.filter(pl.len().over(*NATURAL_KEY, _VF) > 1).select(*NATURAL_KEY, _VF).unique().sort(pl.all())
    if dup.height:
        lines = [f"{_key_text(r)} valid_from_us={r[_VF]}" for r in dup.iter_rows(named=True)]
        raise ValueError(
            f"instrument history: duplicate versions of (exchange, exchange_symbol, valid_from_us): {_examples(lines)}"
        )

    df = df.sort(*NATURAL_KEY, _VF).with_columns(pl.col(_VF).shift(-1).over(NATURAL_KEY).alias("_next_from"))
    df = df.with_columns(pl.coalesce(_VU, "_next_from", pl.lit(VALID_UNTIL_OPEN)).alias(_VU))

    overlap = df.filter(pl.col("_next_from").is_not_null() & (pl.col(_VU) > pl.col("_next_from")))
    if overlap.height:
        nxt = df.select(*NATURAL_KEY, pl.col(_VF).alias("_next_from"), pl.col(_VU).alias("_next_until"))
        overlap = overlap.join(nxt, on=[*NATURAL_KEY, "_next_from"], how="left")
        lines = [
            f"{_key_text(r)} [{r[_VF]}, {r[_VU]}) overlaps [{r['_next_from']}, {r['_next_until']})"
            for r in overlap.iter_rows(named=True)
        ]
        raise ValueError(f"instrument history: overlapping versions: {_examples(lines)}")
    empty = df.filter(pl.col(_VU) <= pl.col(_VF))
    if empty.height:
        lines = [f"{_key_text(r)} [{r[_VF]}, {r[_VU]})" for r in empty.iter_rows(named=True)]
        raise ValueError(f"instrument history: versions ending at or before their start: {_examples(lines)}")

    prev = [pl.col(c).shift(1).over(NATURAL_KEY).alias(f"{c}_prev") for c in (*TRACKED, _VU)]
    df = df.with_columns(prev).with_columns(
        (~(pl.col(f"{_VU}_prev").eq_missing(pl.col(_VF)) & _tracked_equal("_prev"))).alias("_starts")
    )
    # Touching windows with equal attributes: one version (earlier start, later end, first source).
    merged = (
        df.with_columns(pl.col("_starts").cum_sum().alias("_grp"))
        .group_by("_grp", maintain_order=True)
        .agg(pl.col(*NATURAL_KEY, _VF, *TRACKED, "source").first(), pl.col(_VU).last())
    )
    dim = _finish(merged)
    validate_dim(dim)
    return dim


def bootstrap(snapshot: pl.DataFrame, effective_us: int) -> pl.DataFrame:
    """First dim_symbol from a snapshot: every key gets one open version from effective_us."""
    snap = _typed_snapshot(snapshot)
    dim = _finish(snap.with_columns(pl.lit(effective_us, pl.Int64).alias(_VF), pl.lit(None, pl.Int64).alias(_VU)))
    validate_dim(dim)
    return dim


def upsert(
    dim: pl.DataFrame,
    snapshot: pl.DataFrame,
    effective_us: int,
    delistings: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Apply a full snapshot taken at effective_us, forward only, to the exchanges it contains.

    - key not current (new, or relisted after its last window ended) -> new open version;
    - tracked values differ (null-safe) -> current version closes at effective_us, a new one opens;
    - key of a snapshot exchange absent from the snapshot -> closed at effective_us (delisted),
      unless `delistings` (exchange, exchange_symbol, delisted_at_us) is given: then exactly the
      listed keys close, each at its own time, and other absent keys stay current. A listed key
      with no current version is already delisted and is left alone (re-runs are no-ops);
    - exchanges absent from the snapshot and delistings are not touched;
    - nothing changed -> the input frame is returned unchanged.
    Raises BackdatedChangeError when a change would start at or before the version it replaces.
    """
    validate_frame(dim, DIM_SYMBOL)
    snap = _typed_snapshot(snapshot)
    dl = None
    if delistings is not None:
        _require_columns(delistings, DELISTING_COLUMNS, "delistings")
        dl = delistings.select(list(DELISTING_COLUMNS)).cast(DELISTING_COLUMNS)
        if dl.select(pl.all().null_count().sum()).row(0)[0]:
            raise ValueError("delistings: null exchange, exchange_symbol or delisted_at_us")
        dupd = dl.filter(pl.len().over(NATURAL_KEY) > 1).select(NATURAL_KEY).unique().sort(NATURAL_KEY)
        if dupd.height:
            raise ValueError(
                f"delistings: duplicate key(s) {_examples([_key_text(r) for r in dupd.iter_rows(named=True)])}"
            )
        both = dl.join(snap, on=NATURAL_KEY, how="semi").sort(NATURAL_KEY)
        if both.height:
            lines = [_key_text(r) for r in both.iter_rows(named=True)]
            raise ValueError(f"delistings: key(s) both delisted and present in the snapshot: {_examples(lines)}")

    current = dim.filter(pl.col("is_current")).select(
        *NATURAL_KEY, "symbol_id", _VF, *[pl.col(c).alias(f"{c}_cur") for c in TRACKED]
    )
    last_until = dim.group_by(NATURAL_KEY).agg(
        pl.col(_VF).max().alias("_last_from"), pl.col(_VU).max().alias("_last_until")
    )

    # Snapshot against the current versions.
    cmp = snap.join(current, on=NATURAL_KEY, how="left").join(last_until, on=NATURAL_KEY, how="left")
    changed = cmp.filter(pl.col("symbol_id").is_not_null() & ~_tracked_equal("_cur"))
    added = cmp.filter(pl.col("symbol_id").is_null())

    # Current versions that close without a successor: (symbol_id, close_at).
    if dl is None:
        scope = snap.select("exchange").unique()
        gone = current.join(scope, on="exchange", how="semi").join(snap, on=NATURAL_KEY, how="anti")
        gone = gone.with_columns(pl.lit(effective_us, pl.Int64).alias("_close_at"))
    else:
        gone = current.join(dl, on=NATURAL_KEY, how="inner").rename({"delisted_at_us": "_close_at"})

    backdated: list[str] = []
    for r in changed.filter(pl.col(_VF) >= effective_us).iter_rows(named=True):
        backdated.append(f"{_key_text(r)}: change at {effective_us} but current version starts at {r[_VF]}")
    for r in added.filter(pl.col("_last_until").is_not_null() & (pl.col("_last_until") > effective_us)).iter_rows(
        named=True
    ):
        backdated.append(
            f"{_key_text(r)}: relisting at {effective_us} but its last version [{r['_last_from']}, "
            f"{r['_last_until']}) ends later"
        )
    for r in gone.filter(pl.col("_close_at") <= pl.col(_VF)).iter_rows(named=True):
        backdated.append(f"{_key_text(r)}: delisting at {r['_close_at']} but current version starts at {r[_VF]}")
    if backdated:
        raise BackdatedChangeError(
            f"upsert cannot change the past ({len(backdated)} key(s)): {_examples(backdated)}. "
            "Forward upserts must be strictly after the current version's valid_from_us; "
            "use rebuild_from_history to correct history."
        )

    if not (changed.height or added.height or gone.height):
        return dim

    closes = pl.concat(
        [
            changed.select("symbol_id", pl.lit(effective_us, pl.Int64).alias("_close_at")),
            gone.select("symbol_id", pl.col("_close_at").cast(pl.Int64)),
        ]
    )
    kept = (
        dim.join(closes, on="symbol_id", how="left")
        .with_columns(pl.coalesce("_close_at", _VU).alias(_VU))
        .with_columns((pl.col(_VU) == VALID_UNTIL_OPEN).alias("is_current"))
        .select(DIM_SYMBOL.names)
    )
    opened = pl.concat([changed, added]).select(
        *NATURAL_KEY,
        pl.lit(effective_us, pl.Int64).alias(_VF),
        pl.lit(None, pl.Int64).alias(_VU),
        *TRACKED,
        "source",
    )
    out = pl.concat([kept, _finish(opened)]).sort(DIM_SYMBOL.sort_by)
    validate_dim(out)
    return out


# --------------------------------------------------------------------------- overrides


def _as_instrument_frame(df: pl.DataFrame, what: str) -> pl.DataFrame:
    if df.width == 0:  # pl.DataFrame(): no vendor delivered anything
        return pl.DataFrame(schema=INSTRUMENT_COLUMNS)
    _require_columns(df, INSTRUMENT_COLUMNS, what)
    return df.select(list(INSTRUMENT_COLUMNS)).cast(INSTRUMENT_COLUMNS)


def apply_overrides(versions: pl.DataFrame, overrides: pl.DataFrame) -> pl.DataFrame:
    """Vendor versions with manual corrections applied (see the module docstring for semantics).

    Both frames are INSTRUMENT_COLUMNS frames; the result is one too, sorted by key and start.
    """
    v = _as_instrument_frame(versions, "instrument versions")
    o = _as_instrument_frame(overrides, "overrides").with_columns(pl.lit("override").alias("source"))
    match = [*NATURAL_KEY, _VF]
    dup = o.filter(pl.len().over(match) > 1).select(match).unique().sort(match)
    if dup.height:
        lines = [f"{_key_text(r)} valid_from_us={r[_VF]}" for r in dup.iter_rows(named=True)]
        raise ValueError(f"overrides: more than one override for {_examples(lines)}")
    return pl.concat([v.join(o, on=match, how="anti"), o]).sort(match)


def load_overrides(path: Path | str) -> pl.DataFrame:
    """config/symbol_overrides.csv -> INSTRUMENT_COLUMNS frame; errors name the file, line and field."""
    path = Path(path)
    try:
        raw = pl.read_csv(path, infer_schema=False, raise_if_empty=True)
    except pl.exceptions.NoDataError:
        raise ValueError(f"{path}: empty file; it needs at least the header {','.join(INSTRUMENT_COLUMNS)}") from None
    if raw.columns != list(INSTRUMENT_COLUMNS):
        raise ValueError(f"{path}: header must be exactly {','.join(INSTRUMENT_COLUMNS)}; got {','.join(raw.columns)}")
    raw = raw.with_columns(pl.all().str.strip_chars()).with_columns(
        pl.when(pl.all() == "").then(None).otherwise(pl.all()).name.keep()
    )
    problems: list[str] = []
    checks = {c: INTEGER_PATTERN for c in ("valid_from_us", "valid_until_us", "expiry_us")}
    checks |= {c: EXACT_PATTERN for c in _DECIMAL_FIELDS}
    for c, pattern in checks.items():
        bad = raw.with_row_index("_line", offset=2).filter(pl.col(c).is_not_null() & ~pl.col(c).str.contains(pattern))
        problems += [f"line {r['_line']} field {c}={r[c]!r}" for r in bad.iter_rows(named=True)]
    required = raw.with_row_index("_line", offset=2).filter(
        pl.any_horizontal(pl.col("exchange", "exchange_symbol", "valid_from_us").is_null())
    )
    problems += [
        f"line {r['_line']}: exchange, exchange_symbol and valid_from_us are required"
        for r in required.iter_rows(named=True)
    ]
    if problems:
        raise ValueError(f"{path}: {_examples(problems)}")
    return raw.cast({c: t for c, t in INSTRUMENT_COLUMNS.items() if t != pl.Boolean}).with_columns(
        pl.col(c).str.to_lowercase().replace_strict(_BOOL_TEXT, default=None, return_dtype=pl.Boolean)
        for c in _BOOL_FIELDS
    )


# --------------------------------------------------------------------------- validation


def validate_dim(dim: pl.DataFrame) -> None:
    """Raise ValueError listing every invariant dim_symbol breaks; PIT resolution relies on them.

    Checks: schema (DIM_SYMBOL), valid_until_us > valid_from_us, no overlapping windows per key,
    at most one current row per key, is_current == (valid_until_us is open), unique symbol_id,
    symbol_id equal to its hash.
    """
    validate_frame(dim, DIM_SYMBOL)
    violations: list[str] = []

    def report(kind: str, frame: pl.DataFrame, fmt: Callable[[dict], str]) -> None:
        if frame.height:
            lines = [fmt(r) for r in frame.head(_MAX_EXAMPLES).iter_rows(named=True)]
            violations.append(f"{kind} ({frame.height}): {_examples(lines, frame.height)}")

    def window(r: dict) -> str:
        return f"{_key_text(r)} [{r[_VF]}, {r[_VU]})"

    report("valid_until_us <= valid_from_us", dim.filter(pl.col(_VU) <= pl.col(_VF)), window)
    srt = dim.sort(*NATURAL_KEY, _VF).with_columns(
        pl.col(_VF).shift(-1).over(NATURAL_KEY).alias("_nf"), pl.col(_VU).shift(-1).over(NATURAL_KEY).alias("_nu")
    )
    report(
        "overlapping windows",
        srt.filter(pl.col("_nf").is_not_null() & (pl.col(_VU) > pl.col("_nf"))),
        lambda r: f"{window(r)} and [{r['_nf']}, {r['_nu']})",
    )
    report(
        "more than one current row per key",
        dim.filter(pl.col("is_current")).group_by(NATURAL_KEY).len().filter(pl.col("len") > 1).sort(NATURAL_KEY),
        lambda r: f"{_key_text(r)} has {r['len']}",
    )
    report(
        "is_current disagrees with valid_until_us",
        dim.filter(pl.col("is_current") != (pl.col(_VU) == VALID_UNTIL_OPEN)),
        lambda r: f"{window(r)} is_current={r['is_current']}",
    )
    report(
        "duplicate symbol_id",
        dim.filter(pl.len().over("symbol_id") > 1).sort("symbol_id", *NATURAL_KEY, _VF),
        lambda r: f"{r['symbol_id']} on {window(r)}",
    )
    if dim.height:
        expected = symbol_ids(dim["exchange"], dim["exchange_symbol"], dim[_VF])
        wrong = dim.with_columns(expected.alias("_expected")).filter(pl.col("symbol_id") != pl.col("_expected"))
        report(
            "symbol_id is not blake2b-8 of 'exchange|exchange_symbol|valid_from_us'",
            wrong,
            lambda r: f"{window(r)} has {r['symbol_id']}, expected {r['_expected']}",
        )
    if violations:
        raise ValueError("dim_symbol is invalid: " + " | ".join(violations))
