"""Tardis daily CSV (.csv / .csv.gz) -> a table's staged frame of vendor text.

This is the ingestion hot path: one polars read with every column as text, then a single
`select` of expressions. Values are never converted to numbers here (the core parses the
text exactly); the only rewrites are the ones Tardis documents or the contract asks for:
exchange lowercased/trimmed, side lowercased, empty `id` -> null, and `timestamp` falling
back to `local_timestamp` when empty.

`file_line` is the physical line: polars keeps blank lines as all-null rows, so the n-th
row (0-based) is line n + 2 (the header is line 1). That holds because Tardis never quotes
fields; a quoted field spanning lines would shift the numbering.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable
from pathlib import Path

import polars as pl

from pointline.schemas import BOOK_LEVELS, get_table_spec
from vendors.base import BronzeFileError
from vendors.tardis.common import is_gzip

# Tardis data type -> Silver table. book_snapshot_5 lands in book_snapshot_25, null-padded.
ROUTES: dict[str, str] = {
    "trades": "trades",
    "quotes": "quotes",
    "book_snapshot_25": "book_snapshot_25",
    "book_snapshot_5": "book_snapshot_25",
    "incremental_book_L2": "orderbook_updates",
    "derivative_ticker": "derivative_ticker",
    "liquidations": "liquidations",
    "options_chain": "options_chain",
}
BOOK_DEPTH = {"book_snapshot_25": 25, "book_snapshot_5": 5}

# Header columns each data type needs, in the Tardis order.
_COMMON = ("exchange", "symbol", "timestamp", "local_timestamp")


def _book_header(depth: int) -> tuple[str, ...]:
    return tuple(
        f"{side}[{i}].{field}" for i in range(depth) for side in ("asks", "bids") for field in ("price", "amount")
    )


_OPTIONS_VALUES = (
    "type",
    "expiration",
    "open_interest",
    "last_price",
    "bid_price",
    "bid_amount",
    "bid_iv",
    "ask_price",
    "ask_amount",
    "ask_iv",
    "mark_price",
    "mark_iv",
    "underlying_index",
    "underlying_price",
    "delta",
    "gamma",
    "vega",
    "theta",
    "rho",
)
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "trades": (*_COMMON, "id", "side", "price", "amount"),
    "quotes": (*_COMMON, "bid_price", "bid_amount", "ask_price", "ask_amount"),
    "book_snapshot_25": (*_COMMON, *_book_header(25)),
    "book_snapshot_5": (*_COMMON, *_book_header(5)),
    "incremental_book_L2": (*_COMMON, "is_snapshot", "side", "price", "amount"),
    "derivative_ticker": (
        *_COMMON,
        "funding_timestamp",
        "funding_rate",
        "predicted_funding_rate",
        "open_interest",
        "last_price",
        "index_price",
        "mark_price",
    ),
    "liquidations": (*_COMMON, "id", "side", "price", "amount"),
    # the strike is `strike_price` in the files and `strike` in some Tardis docs: either is accepted
    "options_chain": (*_COMMON, *_OPTIONS_VALUES),
}
STRIKE_COLUMNS = ("strike_price", "strike")


def _non_empty(name: str) -> pl.Expr:
    """True when the text column holds something (null and "" are both missing)."""
    return pl.col(name).fill_null("") != ""


def _lower(expr: pl.Expr) -> pl.Expr:
    """Enumerations (side, option type): the contract's values are lowercase."""
    return expr.str.strip_chars().str.to_lowercase()


_DISTINCT_MIN_ROWS = 100_000


def _normalized(raw: pl.DataFrame, name: str, normalize: Callable[[pl.Expr], pl.Expr] = _lower) -> pl.Expr:
    """Normalize a low-cardinality text column through its distinct values.

    exchange and side hold a handful of values per file; normalizing those and replacing
    only the ones that change is 3-5x cheaper than string ops on every row (and free when
    nothing needs changing, the usual case). A small file is normalized row by row: there the
    distinct pass's fixed cost (~1 ms) is what counts, and a day has hundreds of small files.
    """
    if raw.height < _DISTINCT_MIN_ROWS:
        return normalize(pl.col(name))
    distinct = raw.select(pl.col(name).unique().drop_nulls())
    changed = distinct.with_columns(normalize(pl.col(name)).alias("_new")).filter(pl.col(name) != pl.col("_new"))
    if changed.is_empty():
        return pl.col(name)
    return pl.col(name).replace(changed[name], changed["_new"])


def _or_null(name: str) -> pl.Expr:
    """Empty text as null (ids that Tardis leaves empty when the venue gives none)."""
    return pl.when(_non_empty(name)).then(pl.col(name)).otherwise(None)


def _common_exprs(raw: pl.DataFrame) -> dict[str, pl.Expr]:
    """Columns every Tardis event table shares."""
    return {
        "exchange": _normalized(raw, "exchange"),
        "symbol": pl.col("symbol"),
        "ts_local_us": pl.col("local_timestamp"),
        # Tardis: "timestamp ... falls back to local_timestamp when the exchange gives none".
        "ts_exch_us": pl.when(_non_empty("timestamp")).then(pl.col("timestamp")).otherwise(pl.col("local_timestamp")),
    }


def _levels(raw: pl.DataFrame, side: str, field: str, depth: int) -> pl.Expr:
    """One book side's prices or amounts as a 25-element list, best level first, null-padded.

    Levels are the text as delivered (dictionary-encoded, see `_dictionary_groups`): an empty
    level stays "" (the core reads it as missing), which saves a copy of every level column.
    """
    present = [pl.col(f"{side}[{i}].{field}") for i in range(depth)]
    padding = [pl.lit(None).cast(raw.schema[f"{side}[0].{field}"])] * (BOOK_LEVELS - depth)
    # concat_arr then to_list: same lists, ~9x faster than concat_list on 25 columns (polars 2.1)
    return pl.concat_arr([*present, *padding]).arr.to_list()


def _book_exprs(raw: pl.DataFrame, depth: int) -> dict[str, pl.Expr]:
    return {
        "depth": pl.when(pl.any_horizontal(pl.all().is_not_null())).then(pl.lit(str(depth))),  # blank line: null
        "bid_prices": _levels(raw, "bids", "price", depth),
        "bid_qtys": _levels(raw, "bids", "amount", depth),
        "ask_prices": _levels(raw, "asks", "price", depth),
        "ask_qtys": _levels(raw, "asks", "amount", depth),
    }


def _dictionary_groups(data_type: str) -> list[list[str]]:
    """Columns read dictionary-encoded, each group sharing one dictionary: a book file's level
    prices, and its level amounts. A day of 25-level snapshots holds ~30M level cells but only
    thousands of distinct texts; reading them as Categorical hashes each cell once, in the CSV
    reader's threads, and the core then parses every distinct text once (see pointline.numbers)."""
    depth = BOOK_DEPTH.get(data_type)
    if depth is None:
        return []
    return [[f"{s}[{i}].{field}" for i in range(depth) for s in ("asks", "bids")] for field in ("price", "amount")]


def _options_exprs(raw: pl.DataFrame) -> dict[str, pl.Expr]:
    strike = next(c for c in STRIKE_COLUMNS if c in raw.columns)
    same = ("open_interest", "last_price", "bid_price", "bid_iv", "ask_price", "ask_iv", "mark_price", "mark_iv")
    greeks = ("underlying_index", "underlying_price", "delta", "gamma", "vega", "theta", "rho")
    return {
        "option_type": _normalized(raw, "type"),
        "strike": pl.col(strike),
        "expiry_us": pl.col("expiration"),
        **{c: pl.col(c) for c in (*same, *greeks)},
        "bid_qty": pl.col("bid_amount"),
        "ask_qty": pl.col("ask_amount"),
    }


def _type_exprs(data_type: str, raw: pl.DataFrame) -> dict[str, pl.Expr]:
    """Silver column -> expression over the raw Tardis columns of one data type."""
    if data_type == "trades":
        return {
            "trade_id": _or_null("id"),
            "side": _normalized(raw, "side"),
            "price": pl.col("price"),
            "qty": pl.col("amount"),
        }
    if data_type == "quotes":
        return {
            "bid_price": pl.col("bid_price"),
            "bid_qty": pl.col("bid_amount"),
            "ask_price": pl.col("ask_price"),
            "ask_qty": pl.col("ask_amount"),
        }
    if data_type in BOOK_DEPTH:
        return _book_exprs(raw, BOOK_DEPTH[data_type])
    if data_type == "incremental_book_L2":
        return {
            "is_snapshot": pl.col("is_snapshot"),
            "side": _normalized(raw, "side"),
            "price": pl.col("price"),
            "qty": pl.col("amount"),
        }
    if data_type == "derivative_ticker":
        same = ("last_price", "index_price", "mark_price", "open_interest", "funding_rate", "predicted_funding_rate")
        return {**{c: pl.col(c) for c in same}, "funding_ts_us": pl.col("funding_timestamp")}
    if data_type == "liquidations":
        return {
            "liq_id": _or_null("id"),
            "side": _normalized(raw, "side"),
            "price": pl.col("price"),
            "qty": pl.col("amount"),
        }
    if data_type == "options_chain":
        return _options_exprs(raw)
    raise KeyError(f"tardis plugin has no mapping for data type {data_type!r}")


def _projection(data_type: str, raw: pl.DataFrame) -> list[pl.Expr]:
    """The spec's source columns in spec order; fails loudly if the spec grows a required column we do not map.

    Nullable columns Tardis has no data for (e.g. the equity `conditions` of trades) are left
    out: the core fills them with null.
    """
    table = ROUTES[data_type]
    exprs = {**_common_exprs(raw), **_type_exprs(data_type, raw)}
    line = pl.int_range(2, pl.len() + 2, dtype=pl.Int64)
    out: list[pl.Expr] = []
    for col in get_table_spec(table).source_columns:
        if col.name == "file_line":
            out.append(line.alias("file_line"))
        elif col.name in exprs:  # level lists stay as read: String or dictionary-encoded (Categorical) text
            expr = exprs[col.name]
            out.append((expr if col.length else expr.cast(pl.String)).alias(col.name))
        elif not col.nullable:
            raise KeyError(f"tardis plugin does not supply {table}.{col.name}; update vendors/tardis/csv_reader.py")
    return out


# Fail at import, not mid-ingest, when the table specs and this mapping drift apart.
for _data_type in ROUTES:
    _header = (*REQUIRED_COLUMNS[_data_type], *(("strike_price",) if _data_type == "options_chain" else ()))
    _projection(_data_type, pl.DataFrame(schema=dict.fromkeys(_header, pl.String)))


def read_table(path: Path, data_type: str, table: str) -> pl.DataFrame:
    """Parse one Tardis CSV into `table`'s staged frame; BronzeFileError when it cannot be read."""
    routed = ROUTES.get(data_type)
    if routed != table:
        target = f"table {routed!r}" if routed else "no event table"
        raise BronzeFileError(path, f"data type {data_type!r} feeds {target}; it cannot be read as {table!r}")
    raw = read_raw(path, _dictionary_groups(data_type))
    check_header(path, raw.columns, REQUIRED_COLUMNS[data_type])
    if data_type == "options_chain" and not any(c in raw.columns for c in STRIKE_COLUMNS):
        check_header(path, raw.columns, ("strike_price",))
    # One contiguous chunk (the reader returns ~130 per 2M rows): every later expression over
    # the staged frame runs several times faster.
    return raw.select(_projection(data_type, raw)).rechunk()


def read_raw(path: Path, dictionary_groups: list[list[str]] | None = None) -> pl.DataFrame:
    """Every column as text, blank lines kept as all-null rows; failures become BronzeFileError.

    The columns of each of `dictionary_groups` are read as Categorical text over one private
    dictionary (a random `pl.Categories`, freed with the frame; absent columns are ignored).
    """
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise BronzeFileError(path, f"cannot open file: {exc}") from exc
    if size == 0:
        raise BronzeFileError(
            path, "empty file (0 bytes); expected a CSV header such as 'exchange,symbol,timestamp,local_timestamp,...'"
        )
    try:
        # Tardis never quotes fields: a stray `"` must not swallow the lines that follow it.
        return pl.read_csv(
            path, infer_schema=False, glob=False, quote_char=None, schema_overrides=_dictionaries(dictionary_groups)
        )
    except pl.exceptions.NoDataError as exc:
        raise BronzeFileError(path, "no CSV header: the file decompresses to nothing") from exc
    except (OSError, pl.exceptions.ComputeError) as exc:
        raise BronzeFileError(path, _explain(path, exc)) from exc


def _dictionaries(groups: list[list[str]] | None) -> dict[str, pl.DataType] | None:
    overrides: dict[str, pl.DataType] = {}
    for group in groups or []:
        overrides.update(dict.fromkeys(group, pl.Categorical(pl.Categories.random())))
    return overrides or None


def _explain(path: Path, exc: Exception) -> str:
    """Tell a broken gzip apart from a broken CSV inside a good gzip (only runs on the error path)."""
    if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
        return f"cannot open file: {exc}"
    if is_gzip(path) and not _gzip_intact(path):
        return f"truncated or corrupt gzip ({exc})"
    return f"malformed CSV: {_first_bad_line(path) or str(exc).splitlines()[0]}"


def _first_bad_line(path: Path) -> str | None:
    """Name the first line that is not UTF-8 or has more fields than the header (error path only)."""
    opener = gzip.open if is_gzip(path) else open
    with opener(path, "rb") as fh:
        header = fh.readline()
        fields = header.count(b",") + 1
        for number, line in enumerate(fh, start=2):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as err:
                return f"line {number} is not valid UTF-8 (byte {err.start})"
            if line.count(b",") + 1 > fields:
                return f"line {number} has {line.count(b',') + 1} fields, the header has {fields}"
    return None


def _gzip_intact(path: Path) -> bool:
    """Stream-decompress the whole file; False on a bad stream, checksum or a missing end."""
    decomp = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                decomp.decompress(chunk)
                while decomp.unused_data:  # concatenated gzip members
                    rest = decomp.unused_data
                    decomp = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
                    decomp.decompress(rest)
    except zlib.error:
        return False
    return decomp.eof


def check_header(path: Path, header: list[str], required: tuple[str, ...]) -> None:
    """Name every missing column and show the header found, so a wrong file is obvious."""
    missing = [c for c in required if c not in header]
    if missing:
        raise BronzeFileError(
            path,
            f"header is missing required column(s) {', '.join(missing)}; header found: {','.join(header)}",
        )
