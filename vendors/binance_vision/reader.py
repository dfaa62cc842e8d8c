"""Binance Vision kline zip -> a `kline_<interval>` staged frame of vendor text.

One pass: verify the sibling `.CHECKSUM` against the zip's bytes, take the zip's single CSV
member, read its 12 columns as text with polars, then one `select` of expressions. The only
rewrites are the ones the contract asks for: timestamps become integer microseconds (Binance
writes milliseconds, spot files from 2025-01-01 on microseconds) and the inclusive
`close_time` becomes the exclusive bar end. Prices and volumes stay Binance's text.

`file_line` is the physical line of the CSV: polars keeps blank lines as all-null rows, so
the n-th row (0-based) is line n + 1; a header row (some files have one) is line 1 and is
dropped after numbering. Binance never quotes fields (quote_char=None keeps a stray `"`
from swallowing lines).
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from pathlib import Path

import polars as pl

from pointline.schemas import get_table_spec
from vendors.base import BronzeFile, BronzeFileError
from vendors.binance_vision.layout import (
    CHECKSUM_SUFFIX,
    KLINE_COLUMNS,
    parse_checksum,
    routes,
    sha256_bytes,
)

# Binance's rule: a time value of 16 or more digits is microseconds, shorter ones milliseconds.
MICROS_THRESHOLD = 10**15
_FIELDS = len(KLINE_COLUMNS)
_HEADER_FIELD = re.compile(rb"^[A-Za-z_][A-Za-z0-9_ ]*$")
# What zipfile raises on damaged archives (bad CRC, cut-off data, garbage central directory).
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    NotImplementedError,
    OSError,
    struct.error,
)


def read_klines(file: BronzeFile, table: str) -> pl.DataFrame:
    """Parse one Bronze kline zip into `table`'s staged frame; BronzeFileError when it cannot be read."""
    path = Path(file.path)
    routed = routes().get(file.data_type)
    if routed != table:
        target = f"table {routed!r}" if routed else "no event table"
        raise BronzeFileError(path, f"data type {file.data_type!r} feeds {target}; it cannot be read as {table!r}")
    raw = read_raw(path)
    return raw.select(_projection(table, file.exchange, file.symbol)).rechunk()


def read_raw(path: Path) -> pl.DataFrame:
    """The CSV's 12 columns as text plus `file_line`, header dropped, blank lines kept as null rows."""
    data = csv_member(path, _read_verified(path))  # the archive's bytes are released before parsing
    return parse_csv(path, data)


def _read_verified(path: Path) -> bytes:
    """The zip's bytes, checked against `<zip>.CHECKSUM` when Binance's checksum file is beside it."""
    try:
        archive = path.read_bytes()
    except OSError as exc:
        raise BronzeFileError(path, f"cannot open file: {exc}") from exc
    checksum = path.with_name(path.name + CHECKSUM_SUFFIX)
    if checksum.is_file():
        try:
            expected = parse_checksum(checksum.read_text(encoding="utf-8", errors="replace"))
        except (OSError, ValueError) as exc:
            raise BronzeFileError(path, f"unreadable checksum file {checksum.name}: {exc}") from exc
        actual = sha256_bytes(archive)
        if actual != expected:
            raise BronzeFileError(
                path, f"sha256 mismatch: {checksum.name} expects {expected}, the file hashes to {actual}"
            )
    return archive


def csv_member(path: Path, archive: bytes) -> bytes:
    """The bytes of the zip's single CSV member (CRC-checked by zipfile)."""
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as zf:
            members = [m for m in zf.infolist() if not m.is_dir()]
            data = zf.read(members[0]) if len(members) == 1 else b""
    except _ZIP_ERRORS as exc:
        raise BronzeFileError(path, f"corrupt or truncated zip archive ({type(exc).__name__}: {exc})") from exc
    if len(members) != 1:
        names = ", ".join(m.filename for m in members) or "none"
        raise BronzeFileError(path, f"expected exactly one CSV member in the zip, found {len(members)}: {names}")
    name = members[0].filename
    if not name.lower().endswith(".csv"):
        raise BronzeFileError(path, f"the zip's only member {name!r} is not a .csv file")
    if not data:
        raise BronzeFileError(path, f"CSV member {name!r} is empty (0 bytes)")
    return data


def parse_csv(path: Path, data: bytes) -> pl.DataFrame:
    """Every column as text with physical line numbers; ragged lines and bad UTF-8 raise, naming the line."""
    body = data.lstrip(b"\r\n")
    # polars takes the column count from the first line, so leading blank lines are cut off
    # here and put back as null rows (they are real lines of the file).
    leading = data.count(b"\n", 0, len(data) - len(body))
    frame = _read_csv(path, data, body) if body else _null_rows(0)
    frame = pl.concat([_null_rows(leading), frame]) if leading else frame
    frame = frame.with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("file_line"))
    _check_short_lines(path, data, frame)
    if leading == 0 and has_header(body):
        frame = frame.slice(1)
    return frame


def has_header(data: bytes) -> bool:
    """A header row is all names (e.g. `open_time,open,...`); a row with any number in it is data, never dropped."""
    end = data.find(b"\n")
    first = (data if end < 0 else data[:end]).rstrip(b"\r")
    return all(_HEADER_FIELD.match(field.strip()) for field in first.split(b","))


def _read_csv(path: Path, data: bytes, body: bytes) -> pl.DataFrame:
    """polars' reader, all text; its errors become BronzeFileError naming the offending line."""
    try:
        return pl.read_csv(body, has_header=False, infer_schema=False, quote_char=None, new_columns=list(KLINE_COLUMNS))
    except (pl.exceptions.ComputeError, pl.exceptions.SchemaError, pl.exceptions.ShapeError) as exc:
        raise BronzeFileError(path, _explain(data, exc)) from exc


def _null_rows(n: int) -> pl.DataFrame:
    return pl.DataFrame({c: [None] * n for c in KLINE_COLUMNS}, schema=dict.fromkeys(KLINE_COLUMNS, pl.String))


def _check_short_lines(path: Path, data: bytes, frame: pl.DataFrame) -> None:
    """polars pads lines with too few fields with nulls: find rows partly null and count their fields.

    Valid Binance rows have no empty field, so this only looks at the raw lines of the (rare)
    rows with a null next to a value.
    """
    nulls = [pl.col(c).is_null() for c in KLINE_COLUMNS]
    suspects = frame.filter(pl.any_horizontal(nulls) & ~pl.all_horizontal(nulls)).get_column("file_line")
    if suspects.is_empty():
        return
    lines = data.split(b"\n")
    for number in suspects:
        fields = lines[number - 1].rstrip(b"\r").count(b",") + 1
        if fields != _FIELDS:
            raise BronzeFileError(path, _ragged(number, fields))


def _explain(data: bytes, exc: Exception) -> str:
    """Name the first line that is not UTF-8 or has the wrong number of fields (error path only)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        return f"line {line} is not valid UTF-8 (byte {column} of the line)"
    for number, line in enumerate(data.split(b"\n"), start=1):
        line = line.rstrip(b"\r")
        if line and line.count(b",") + 1 != _FIELDS:
            return _ragged(number, line.count(b",") + 1)
    return f"malformed CSV: {str(exc).splitlines()[0]}"


def _ragged(number: int, fields: int) -> str:
    return f"line {number} has {fields} fields, a kline row has {_FIELDS} ({','.join(KLINE_COLUMNS)})"


def time_us_text(col: str, *, exclusive_end: bool = False) -> pl.Expr:
    """Binance ms (or µs) time text -> integer µs text; text that is not an integer is passed through.

    The unit is decided per value (>= 1e15 is already µs), since Binance switched spot files
    to µs on 2025-01-01. `exclusive_end` adds one unit first: Binance's close_time is the
    bar's last ms (or µs), the lake stores the bar's exclusive end. Int128 arithmetic so an
    absurd value yields an out-of-range integer the core reports, never a wrapped one.
    """
    text = pl.col(col)
    value = text.str.to_integer(strict=False).cast(pl.Int128)
    one = pl.lit(1, dtype=pl.Int128)
    end = value + one if exclusive_end else value
    micros = pl.when(value >= MICROS_THRESHOLD).then(end).otherwise(end * pl.lit(1000, dtype=pl.Int128))
    return pl.when(value.is_null()).then(text).otherwise(micros.cast(pl.String))


def _column_exprs(exchange: str, symbol: str | None) -> dict[str, pl.Expr]:
    """Output column -> expression over the raw Binance columns."""
    present = pl.any_horizontal(pl.col(c).is_not_null() for c in KLINE_COLUMNS)
    return {
        # from the path; null on blank lines so the core sees an all-null row (blank_line)
        "exchange": pl.when(present).then(pl.lit(exchange, dtype=pl.String)),
        "symbol": pl.when(present).then(pl.lit(symbol, dtype=pl.String)),
        "ts_open_us": time_us_text("open_time"),
        "ts_close_us": time_us_text("close_time", exclusive_end=True),
        "open": pl.col("open"),
        "high": pl.col("high"),
        "low": pl.col("low"),
        "close": pl.col("close"),
        "volume": pl.col("volume"),
        "quote_volume": pl.col("quote_volume"),
        "trade_count": pl.col("count"),
        "taker_buy_base_volume": pl.col("taker_buy_volume"),
        "taker_buy_quote_volume": pl.col("taker_buy_quote_volume"),
    }


def _projection(table: str, exchange: str, symbol: str | None) -> list[pl.Expr]:
    """The spec's source columns in spec order; fails loudly if the spec grows a column we do not map."""
    exprs = _column_exprs(exchange, symbol)
    out: list[pl.Expr] = []
    for col in get_table_spec(table).source_columns:
        if col.name == "file_line":
            out.append(pl.col("file_line"))
        elif col.name in exprs:
            out.append(exprs[col.name].cast(pl.String).alias(col.name))
        else:
            raise KeyError(f"binance_vision plugin does not supply {table}.{col.name}; update vendors/binance_vision")
    return out


# Fail at import, not mid-ingest, when the kline spec and this mapping drift apart.
_projection("kline_1h", "binance", "BTCUSDT")
