"""Dated JSON-lines snapshots in Bronze: what vendors that store API answers this way share.

A snapshot vendor (CoinGecko, Tushare) writes one file per fetch:

    <bronze_root>/<subdir>/type=<data type>/date=<YYYY-MM-DD>/snapshot_ts=<us>/<prefix>_<us>.jsonl.gz

`date` is the UTC date of `snapshot_ts`, so a path alone says which daily partition the file
feeds. Each line is a JSON envelope (`schema_version`, `vendor`, `dataset`, `captured_at_us`,
`snapshot_ts_us`, `partitions`, `request`, then the vendor's `record`); files are gzip with
mtime 0 (same input, same bytes), written atomically and never overwritten.

Here: the layout (SnapshotLayout: paths, parsing them back, discovery as BronzeFiles), the
time arithmetic, the envelope head, writing and reading snapshot files, and the pacing and
retry settings of the download clients. What a record means stays in each vendor's package.
Standard library only (no Polars, no Dagster).
"""

from __future__ import annotations

import datetime as dt
import errno
import gzip
import http.client
import io
import json
import os
import re
import secrets
import time
import urllib.error
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import ClassVar

from vendors.base import BronzeFile, BronzeFileError, walk_files

__all__ = [
    "EPOCH",
    "SCHEMA_VERSION",
    "US_PER_DAY",
    "PacedClient",
    "ScanResult",
    "SnapshotDiscovery",
    "SnapshotKeys",
    "SnapshotLayout",
    "datetime_to_us",
    "day_start_us",
    "envelope_head",
    "gzip_text",
    "http_error_body",
    "read_envelopes",
    "utc_date",
    "write_new_file",
]

SCHEMA_VERSION = 1
US_PER_DAY = 86_400_000_000
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

_ONE_US = dt.timedelta(microseconds=1)
_DATE_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
_SNAPSHOT_DIR = re.compile(r"^snapshot_ts=(\d{1,19})$")
_EXISTS = "snapshot already exists; snapshots are never overwritten"

# ---------------------------------------------------------------------------- time


def utc_date(ts_us: int) -> dt.date:
    """UTC calendar date of a microsecond timestamp (the partition a snapshot belongs to)."""
    return (EPOCH + dt.timedelta(microseconds=ts_us)).date()


def day_start_us(day: dt.date) -> int:
    """UTC midnight of `day` in microseconds."""
    return (day - EPOCH.date()).days * US_PER_DAY


def datetime_to_us(value: dt.datetime) -> int:
    """An aware datetime (naive = UTC) as integer microseconds, without float rounding."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return (value - EPOCH) // _ONE_US


# ---------------------------------------------------------------------------- layout and discovery


@dataclass(frozen=True)
class SnapshotKeys:
    """What a snapshot's path says: its UTC date and capture time."""

    date: dt.date
    snapshot_ts_us: int


@dataclass
class ScanResult:
    """The vendor subtree split into snapshot files and everything else (reported, never ingested)."""

    files: list[BronzeFile] = field(default_factory=list)
    unrecognized: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class SnapshotLayout:
    """One vendor data type's snapshots: `type=<data_type>/.../<prefix>_<us>.jsonl.gz` below the vendor subdir.

    `vendor` and `data_type` are what discovered BronzeFiles carry; the file name repeats vendor
    and dataset through `prefix` so a copied file still says what it is.
    """

    vendor: str
    data_type: str
    prefix: str

    def file_name(self, snapshot_ts_us: int) -> str:
        return f"{self.prefix}_{snapshot_ts_us}.jsonl.gz"

    def rel_path(self, snapshot_ts_us: int, subdir: str | None = None) -> PurePosixPath:
        """Path of the snapshot captured at `snapshot_ts_us`, relative to the Bronze root (subdir: the vendor's)."""
        if snapshot_ts_us < 0:
            raise ValueError(f"snapshot_ts_us must be >= 0, got {snapshot_ts_us}")
        return PurePosixPath(
            self.vendor if subdir is None else subdir,
            f"type={self.data_type}",
            f"date={utc_date(snapshot_ts_us).isoformat()}",
            f"snapshot_ts={snapshot_ts_us}",
            self.file_name(snapshot_ts_us),
        )

    def parse(self, parts: tuple[str, ...]) -> SnapshotKeys | None:
        """Keys of a path below the vendor subdir, or None unless it is exactly the snapshot layout.

        The name, the `snapshot_ts=` directory and the `date=` directory must agree: a file whose
        date is not the UTC date of its timestamp would feed the wrong partition, so it is reported.
        """
        if len(parts) != 4 or parts[0] != f"type={self.data_type}":
            return None
        name_re = rf"^{re.escape(self.prefix)}_(\d{{1,19}})\.jsonl\.gz$"
        date_m, snap_m, name_m = _DATE_DIR.match(parts[1]), _SNAPSHOT_DIR.match(parts[2]), re.match(name_re, parts[3])
        if date_m is None or snap_m is None or name_m is None or snap_m[1] != name_m[1]:
            return None
        ts_us = int(snap_m[1])
        try:
            day = dt.date.fromisoformat(date_m[1])
            if utc_date(ts_us) != day:
                return None
        except (ValueError, OverflowError):  # impossible date, or a timestamp beyond year 9999
            return None
        return SnapshotKeys(day, ts_us)

    def scan(self, bronze_root: Path, subdir: str) -> ScanResult:
        """Walk `<bronze_root>/<subdir>` once; files sorted by rel_path, unrecognized sorted by path."""
        root = Path(bronze_root).absolute()
        base = root / subdir
        result = ScanResult()
        for path in walk_files(base):
            keys = self.parse(path.relative_to(base).parts)
            if keys is None:
                result.unrecognized.append(path)
            else:
                result.files.append(self._bronze_file(root, path, keys))
        result.files.sort(key=lambda f: f.rel_path)
        result.unrecognized.sort()
        return result

    def _bronze_file(self, root: Path, path: Path, keys: SnapshotKeys) -> BronzeFile:
        """A snapshot as a BronzeFile: not exchange-scoped, its window is the snapshot's UTC day."""
        stat = path.stat()
        start = day_start_us(keys.date)
        return BronzeFile(
            vendor=self.vendor,
            data_type=self.data_type,
            path=path,
            rel_path=path.relative_to(root).as_posix(),
            exchange="",
            date=keys.date,
            symbol=None,
            size=stat.st_size,
            mtime_ns=stat.st_mtime_ns,
            window_start_us=start,
            window_end_us=start + US_PER_DAY,
            extra={"snapshot_ts_us": str(keys.snapshot_ts_us)},
        )


class SnapshotDiscovery:
    """`discover` and `unrecognized` of a VendorPlugin whose subtree `<bronze_root>/<subdir>` holds
    only `layout`'s snapshots (anything else, e.g. a leftover .part file, is reported, never ingested)."""

    layout: ClassVar[SnapshotLayout]
    subdir: str

    def discover(self, bronze_root: Path) -> list[BronzeFile]:
        """Every snapshot under `<bronze_root>/<subdir>`, sorted by rel_path."""
        return self.layout.scan(Path(bronze_root), self.subdir).files

    def unrecognized(self, bronze_root: Path) -> list[Path]:
        """Files in the subtree outside the snapshot layout (e.g. leftover .part files), sorted."""
        return self.layout.scan(Path(bronze_root), self.subdir).unrecognized


# ---------------------------------------------------------------------------- writing


def envelope_head(vendor: str, dataset: str, captured_at_us: int, request: Mapping[str, object]) -> dict[str, object]:
    """Every envelope field but `record`, in file order (the record is always last)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "vendor": vendor,
        "dataset": dataset,
        "captured_at_us": captured_at_us,
        "snapshot_ts_us": captured_at_us,
        "partitions": {"date": utc_date(captured_at_us).isoformat()},
        "request": dict(request),
    }


def gzip_text(text: str) -> bytes:
    """`text` as UTF-8 gzip with mtime 0 and no file name: the same text gives the same bytes."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as gz:
        gz.write(text.encode("utf-8"))
    return buf.getvalue()


def write_new_file(path: Path, data: bytes) -> None:
    """Create `path` with `data` atomically; never replaces an existing file.

    Readers see either no file or the complete file: the data goes to a uniquely named
    `.part` sibling, is fsynced, then hard-linked into place (link fails on an existing
    target, unlike rename) and the directory is fsynced.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        raise FileExistsError(errno.EEXIST, _EXISTS, str(path))
    part = path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}.part")
    try:
        with part.open("xb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        _link_no_replace(part, path)
    finally:
        part.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _link_no_replace(src: Path, dst: Path) -> None:
    """Atomic create-if-absent; falls back to exists-check + rename where hard links are unsupported."""
    try:
        os.link(src, dst)
    except FileExistsError:
        raise FileExistsError(errno.EEXIST, _EXISTS, str(dst)) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        if dst.exists():
            raise FileExistsError(errno.EEXIST, _EXISTS, str(dst)) from None
        os.rename(src, dst)


def _fsync_dir(directory: Path) -> None:
    """Make the new directory entry durable (best effort where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------- reading


def read_envelopes(path: Path, *, require_snapshot_ts: bool = False) -> list[tuple[int, dict[str, object]]]:
    """(physical 1-based line, envelope) for every non-blank line; numbers stay text.

    Anything but a version-1 envelope with a record object (and, with `require_snapshot_ts`,
    an integer `snapshot_ts_us`) makes the whole file a BronzeFileError.
    """
    lines = _decompress(path).split(b"\n")
    envelopes = [
        (n, _envelope(path, n, raw, require_snapshot_ts)) for n, raw in enumerate(lines, start=1) if raw.strip()
    ]
    if not envelopes:
        raise BronzeFileError(path, "snapshot holds no records (the gzip decompresses to nothing)")
    return envelopes


def _decompress(path: Path) -> bytes:
    """The whole decompressed file (snapshots are small); unreadable or truncated gzip -> BronzeFileError."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BronzeFileError(path, f"cannot open file: {exc}") from exc
    if not data:
        raise BronzeFileError(path, "empty file (0 bytes); expected a gzip-compressed JSONL snapshot")
    try:
        return gzip.decompress(data)
    except gzip.BadGzipFile as exc:
        raise BronzeFileError(path, f"not a gzip file ({exc})") from exc
    except (EOFError, zlib.error) as exc:
        raise BronzeFileError(path, f"truncated or corrupt gzip ({exc})") from exc


def _envelope(path: Path, line_no: int, raw: bytes, require_snapshot_ts: bool) -> dict[str, object]:
    """Decode one line, every number kept as its text."""
    try:
        value = json.loads(raw.decode("utf-8"), parse_float=str, parse_int=str, parse_constant=str)
    except UnicodeDecodeError as exc:
        raise BronzeFileError(path, f"line {line_no} is not valid UTF-8 (byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise BronzeFileError(path, f"line {line_no} is not valid JSON: {exc.msg} (column {exc.colno})") from exc
    if not isinstance(value, dict):
        raise BronzeFileError(path, f"line {line_no} is not a snapshot envelope (a JSON object)")
    if value.get("schema_version") != "1":
        raise BronzeFileError(path, f"line {line_no}: unsupported schema_version {value.get('schema_version')!r}")
    if not isinstance(value.get("record"), dict):
        raise BronzeFileError(path, f"line {line_no}: envelope has no 'record' object")
    if require_snapshot_ts and not (isinstance(value.get("snapshot_ts_us"), str) and value["snapshot_ts_us"].isdigit()):
        raise BronzeFileError(path, f"line {line_no}: envelope has no integer 'snapshot_ts_us'")
    return value


# ---------------------------------------------------------------------------- downloading


class PacedClient:
    """Client-side politeness of a download client: a minimum interval between requests and
    capped exponential backoff between retries. `sleep` and `clock` are injectable so tests
    can check the waits without waiting; `max_retries` counts retries after the first attempt.
    """

    def __init__(
        self,
        min_interval_s: float,
        max_retries: int,
        backoff_s: float,
        max_backoff_s: float,
        timeout_s: float,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.min_interval_s = min_interval_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.timeout_s = timeout_s
        self.sleep = sleep
        self.clock = clock
        self._last_request: float | None = None

    def _throttle(self) -> None:
        """Wait until `min_interval_s` has passed since the previous request started."""
        if self._last_request is not None:
            wait = self._last_request + self.min_interval_s - self.clock()
            if wait > 0:
                self.sleep(wait)
        self._last_request = self.clock()

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff for retry number `attempt` (0-based), capped."""
        return min(self.backoff_s * (2**attempt), self.max_backoff_s)


def http_error_body(exc: urllib.error.HTTPError) -> str:
    """The start of an error response (vendors explain errors in a small body); "" when unreadable."""
    try:
        data = exc.read(500)
    except (OSError, http.client.HTTPException):
        return ""
    return data.decode("utf-8", errors="replace").strip()
