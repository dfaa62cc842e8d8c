"""Fetch Tardis data into Bronze: daily CSV datasets (via the tardis-dev SDK) and instrument snapshots.

Datasets land exactly where `vendors.tardis.discovery` looks for them:
`<bronze_root>/<subdir>/exchange=<x>/type=<data_type>/date=<YYYY-MM-DD>/symbol=<S>/<S>.csv.gz`,
named through the SDK's `get_filename` hook. The SDK streams every file to
`<final path><16 hex>.unconfirmed` and `os.replace`s it into place only when complete, and it
skips a target that already exists, so a final path only ever holds a complete file and a re-run
resumes without rewriting anything.

Instrument snapshots (`GET <api>/instruments/<exchange>`) are written verbatim, once per date,
to `exchange=<x>/type=instruments/date=<d>/instruments.json` (`.json.gz` when the server
gzips the body). The API key comes from `TARDIS_API_KEY` unless passed; it is sent only as a
Bearer header and never appears in messages. Standard library and tardis-dev only: no Dagster.

CLI: `python -m vendors.tardis.download datasets|instruments --help`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import gzip
import http.client
import json
import os
import re
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

API_KEY_ENV = "TARDIS_API_KEY"
DEFAULT_DATASETS_ENDPOINT = "https://datasets.tardis.dev/v1"
DEFAULT_API_ENDPOINT = "https://api.tardis.dev/v1"
DEFAULT_SUBDIR = "tardis"
FORMAT = "csv"
INSTRUMENTS_TYPE = "instruments"
# Content-Encoding of the instruments answer -> snapshot file name (both are read by discovery).
SNAPSHOT_NAMES = {"identity": "instruments.json", "gzip": "instruments.json.gz"}
PART_SUFFIX = ".part"
STALE_PART_S = 600.0

_EXCHANGE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_DATA_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]*$")
_UNSAFE_SYMBOL_CHARS = re.compile(r'[:\\/?*<>|"]')  # what tardis_dev.default_file_name replaces
_SDK_TEMP = re.compile(r"^[0-9a-f]{16}\.unconfirmed$")  # suffix tardis_dev puts after the final name


class TardisDownloadError(RuntimeError):
    """A download failed; the message names the URL (never the API key).

    `summary` holds what the run had already finished when it failed (datasets only).
    """

    def __init__(self, message: str, summary: DownloadSummary | None = None):
        super().__init__(message)
        self.summary = summary


@dataclass(frozen=True)
class DownloadSummary:
    """What a dataset run did, per target file (absolute paths, in plan order)."""

    downloaded: list[Path] = field(default_factory=list)
    already_present: list[Path] = field(default_factory=list)
    removed_stale_temp: list[Path] = field(default_factory=list)

    def format(self, root: Path | None = None) -> str:
        """Human-readable report; paths relative to `root` when given."""
        lines = [f"downloaded {len(self.downloaded)}, already present {len(self.already_present)}"]
        for label, paths in (
            ("downloaded", self.downloaded),
            ("already present", self.already_present),
            ("removed stale temp file", self.removed_stale_temp),
        ):
            lines += [f"  {label}: {_display(p, root)}" for p in paths]
        return "\n".join(lines)


@dataclass(frozen=True)
class SnapshotResult:
    """Where the instruments snapshot for a date is, and whether this call wrote it."""

    path: Path
    status: str  # "downloaded" | "already present"

    def format(self, root: Path | None = None) -> str:
        """One line for the CLI."""
        return f"{self.status}: {_display(self.path, root)}"


def _display(path: Path, root: Path | None) -> str:
    """Path relative to root when it is below it (CLI output stays short)."""
    if root is not None and path.is_relative_to(root):
        return path.relative_to(root).as_posix()
    return str(path)


# ---------------------------------------------------------------- shared helpers


def resolve_api_key(api_key: str | None) -> str | None:
    """Explicit key, else $TARDIS_API_KEY, else None (first-of-month files and some API calls need none)."""
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
    return key or None


def _redact(text: str, api_key: str | None) -> str:
    """Never let a key echoed by a server (or a URL) reach an error message or log."""
    return text.replace(api_key, "***") if api_key else text


def _check_exchange(exchange: str) -> str:
    """Exchange ids become a Hive directory value: only Tardis-style lowercase ids are accepted."""
    if not _EXCHANGE.match(exchange):
        raise ValueError(f"invalid Tardis exchange id {exchange!r} (expected e.g. 'binance-futures')")
    return exchange


def _to_date(value: dt.date | str, name: str) -> dt.date:
    """Accept a date or a strict YYYY-MM-DD string (datetimes would make the day boundary ambiguous)."""
    if isinstance(value, dt.datetime):
        raise ValueError(f"{name} must be a date, not a datetime: {value!r}")
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{name} must be YYYY-MM-DD, got {value!r}") from exc


def _fsync_path(path: Path) -> None:
    """Flush a file or directory to disk so a crash cannot leave a renamed-but-empty file behind."""
    flags = os.O_RDONLY
    if path.is_dir():
        flags |= getattr(os, "O_DIRECTORY", 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- datasets


def normalize_symbol(symbol: str) -> str:
    """The symbol as tardis-dev sends it in URLs and to get_filename (upper case, ':' and '/' -> '-')."""
    return symbol.strip().replace(":", "-").replace("/", "-").upper()


def bronze_filename(exchange: str, data_type: str, date: dt.date, symbol: str, format: str = FORMAT) -> str:
    """Relative Bronze path of one dataset file; the SDK's `get_filename` hook, so it follows its signature."""
    safe = _UNSAFE_SYMBOL_CHARS.sub("-", symbol)
    return f"exchange={exchange}/type={data_type}/date={date:%Y-%m-%d}/symbol={safe}/{safe}.{format}.gz"


def _plan(
    base: Path, exchange: str, data_types: Sequence[str], symbols: Sequence[str], start: dt.date, end: dt.date
) -> list[Path]:
    """Path of every (symbol, data_type, day) the SDK downloads for [start, end), in its loop order."""
    days = [start + dt.timedelta(days=i) for i in range((end - start).days)]
    return [
        base / bronze_filename(exchange, data_type, day, symbol)
        for symbol in symbols
        for data_type in data_types
        for day in days
    ]


def _unique(values: Iterable[str]) -> list[str]:
    """De-duplicate keeping order: the SDK would otherwise fetch the same file twice in parallel."""
    return list(dict.fromkeys(values))


def _check_dataset_args(data_types: Sequence[str], symbols: Sequence[str], start: dt.date, end: dt.date) -> None:
    """Fail before any request on arguments the SDK would reject late or turn into odd paths."""
    if end <= start:
        raise ValueError(f"end ({end}) must be after start ({start}): end is exclusive, one day is start..start+1")
    if not data_types or not symbols:
        raise ValueError("at least one data type and one symbol are required")
    for data_type in data_types:
        if not _DATA_TYPE.match(data_type):
            raise ValueError(f"invalid Tardis data type {data_type!r} (expected e.g. 'trades', 'book_snapshot_25')")
    for symbol in symbols:
        if not symbol or symbol in (".", "..") or "=" in symbol:
            raise ValueError(f"invalid symbol {symbol!r}")


def _remove_stale_temps(targets: Sequence[Path], max_age_s: float) -> list[Path]:
    """Delete SDK `.unconfirmed` files a killed run left beside its targets.

    A live download writes its temp file at least every `timeout` seconds (the SDK aborts on
    longer silence), so a temp file idle for longer belongs to a dead process.
    """
    removed: list[Path] = []
    now = time.time()
    for target in targets:
        if not target.parent.is_dir():
            continue
        for candidate in target.parent.glob(f"{glob.escape(target.name)}*.unconfirmed"):
            rest = candidate.name[len(target.name) :]
            if _SDK_TEMP.match(rest) and now - candidate.stat().st_mtime > max_age_s:
                candidate.unlink(missing_ok=True)
                removed.append(candidate)
    return removed


def download_datasets(
    bronze_root: Path | str,
    exchange: str,
    data_types: Sequence[str],
    symbols: Sequence[str],
    start: dt.date | str,
    end: dt.date | str,
    *,
    api_key: str | None = None,
    subdir: str = DEFAULT_SUBDIR,
    endpoint: str | None = None,
    concurrency: int = 20,
    timeout: int = 30 * 60,
    http_proxy: str | None = None,
) -> DownloadSummary:
    """Download Tardis daily CSV files for every symbol x data type x day in [start, end) into Bronze.

    `end` is EXCLUSIVE, as Tardis' `to_date`: start=2024-05-01, end=2024-05-02 fetches exactly
    2024-05-01. Dates are UTC days. Symbols are normalized as the SDK does (upper case, ':'/'/'
    -> '-') and that form names the Bronze file. `api_key` defaults to $TARDIS_API_KEY; None is
    fine for the first day of a month. `endpoint` is the datasets base URL (default
    https://datasets.tardis.dev/v1). A file already at its Bronze path is never fetched or
    rewritten; the SDK retries 5xx/429/network errors itself (up to 30 attempts, exponential
    backoff) and fails fast on 401/403/404. Raises TardisDownloadError (with the partial summary)
    when a file cannot be fetched.
    """
    first, stop = _to_date(start, "start"), _to_date(end, "end")
    _check_exchange(exchange)
    data_types, norm_symbols = _unique(data_types), _unique(normalize_symbol(s) for s in symbols)
    _check_dataset_args(data_types, norm_symbols, first, stop)
    key = resolve_api_key(api_key)
    base = Path(bronze_root).absolute() / subdir
    targets = _plan(base, exchange, data_types, norm_symbols, first, stop)
    removed = _remove_stale_temps(targets, max_age_s=timeout + 60)
    present = {t for t in targets if t.exists()}
    requested: set[Path] = set()

    def get_filename(exchange_: str, data_type: str, date: dt.datetime, symbol: str, format: str) -> str:
        """The SDK's naming hook; records what the SDK actually asked for, to check our plan against it."""
        name = bronze_filename(exchange_, data_type, date.date(), symbol, format)
        requested.add(base / name)
        return name

    try:
        _run_sdk(
            exchange=exchange,
            data_types=data_types,
            symbols=norm_symbols,
            from_date=first.isoformat(),
            to_date=stop.isoformat(),
            api_key=key or "",
            download_dir=str(base),
            endpoint=(endpoint or DEFAULT_DATASETS_ENDPOINT).rstrip("/"),
            timeout=timeout,
            http_proxy=http_proxy,
            concurrency=concurrency,
            get_filename=get_filename,
        )
    except urllib.error.HTTPError as exc:
        summary = _summarize(targets, present, removed)
        raise TardisDownloadError(_http_error_message(exc.url, exc.code, str(exc.msg), key), summary) from None
    except Exception as exc:  # network errors the SDK gave up on after its retries
        summary = _summarize(targets, present, removed)
        message = _redact(f"download failed after tardis-dev's retries: {type(exc).__name__}: {exc}", key)
        raise TardisDownloadError(message, summary) from exc
    summary = _summarize(targets, present, removed)
    _check_complete(targets, requested, summary)
    return summary


def _run_sdk(**kwargs: object) -> None:
    """Call tardis_dev.download_datasets (imported here so instrument snapshots work without the SDK)."""
    try:
        from tardis_dev import download_datasets as sdk_download
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("the tardis-dev package is required for dataset downloads: pip install tardis-dev") from exc
    sdk_download(**kwargs, format=FORMAT, skip_if_exists=True)


def _summarize(targets: Sequence[Path], present: set[Path], removed: list[Path]) -> DownloadSummary:
    """Split targets into fetched now / there before, fsyncing new files (the SDK renames without fsync)."""
    downloaded = [t for t in targets if t not in present and t.exists()]
    for path in downloaded:
        _fsync_path(path)
    for folder in dict.fromkeys(p.parent for p in downloaded):
        _fsync_path(folder)
    return DownloadSummary(
        downloaded=downloaded,
        already_present=[t for t in targets if t in present],
        removed_stale_temp=removed,
    )


def _check_complete(targets: Sequence[Path], requested: set[Path], summary: DownloadSummary) -> None:
    """Guard against an SDK upgrade changing which files it fetches or how it names them."""
    planned = set(targets)
    missing = [t for t in targets if not t.exists()]
    if requested != planned or missing:
        unexpected = sorted(requested - planned)
        raise TardisDownloadError(
            f"tardis-dev did not fetch the planned files (missing {missing[:3]}, unexpected {unexpected[:3]}); "
            "check the installed tardis-dev version against the one this module was written for",
            summary,
        )


def _http_error_message(url: str, code: int, body: str, api_key: str | None) -> str:
    """One line naming the URL and status, with a hint for auth errors; the key is redacted."""
    hint = ""
    if code in (401, 403):
        hint = " (no API key: set TARDIS_API_KEY)" if not api_key else " (check the API key and its plan)"
    text = f"GET {url} failed: HTTP {code}{hint}: {body.strip()[:300]}"
    return _redact(text, api_key)


# ---------------------------------------------------------------- instruments


def snapshot_dir(bronze_root: Path | str, exchange: str, day: dt.date, subdir: str = DEFAULT_SUBDIR) -> Path:
    """Folder of one exchange's instruments snapshot for a date (the discovery layout)."""
    return Path(bronze_root).absolute() / subdir / f"exchange={exchange}" / f"type={INSTRUMENTS_TYPE}" / f"date={day}"


def _existing_snapshot(folder: Path) -> Path | None:
    """A snapshot already taken for this date under either name."""
    for name in SNAPSHOT_NAMES.values():
        if (folder / name).exists():
            return folder / name
    return None


def download_instruments(
    bronze_root: Path | str,
    exchange: str,
    *,
    api_key: str | None = None,
    subdir: str = DEFAULT_SUBDIR,
    endpoint: str = DEFAULT_API_ENDPOINT,
    on_date: dt.date | str | None = None,
    timeout: float = 120.0,
    max_attempts: int = 5,
    backoff_s: float = 1.0,
    accept_gzip: bool = False,
) -> SnapshotResult:
    """Save the raw `GET <endpoint>/instruments/<exchange>` answer as the snapshot for `on_date` (default: today UTC).

    The body is written byte for byte (it is Bronze), atomically, and only if no snapshot exists
    for that date yet (then nothing is requested: status "already present"). 5xx, 429, timeouts
    and dropped connections are retried with exponential backoff (`backoff_s`, doubling);
    other 4xx raise TardisDownloadError naming the URL. With `accept_gzip` the server may
    compress and the compressed bytes are stored as instruments.json.gz.
    """
    _check_exchange(exchange)
    day = dt.datetime.now(dt.UTC).date() if on_date is None else _to_date(on_date, "on_date")
    folder = snapshot_dir(bronze_root, exchange, day, subdir)
    existing = _existing_snapshot(folder)
    if existing is not None:
        return SnapshotResult(existing, "already present")
    key = resolve_api_key(api_key)
    url = f"{endpoint.rstrip('/')}/instruments/{urllib.parse.quote(exchange, safe='')}"
    body, encoding = _fetch_with_retries(url, key, timeout, max_attempts, backoff_s, accept_gzip)
    _check_json(url, body, encoding)
    path = folder / SNAPSHOT_NAMES[encoding]
    written = _write_once(path, body)
    return SnapshotResult(path if written else (_existing_snapshot(folder) or path), _status(written))


def _status(written: bool) -> str:
    """Result status text shared by the API and CLI."""
    return "downloaded" if written else "already present"


class _Retryable(Exception):
    """A failure worth another attempt (server error, throttling, network)."""

    def __init__(self, message: str, delay_s: float | None = None):
        super().__init__(message)
        self.delay_s = delay_s


def _fetch_with_retries(
    url: str, api_key: str | None, timeout: float, max_attempts: int, backoff_s: float, accept_gzip: bool
) -> tuple[bytes, str]:
    """Body and content encoding of a 200 answer; retries transient failures, raises on the rest."""
    last = ""
    for attempt in range(1, max_attempts + 1):
        try:
            return _fetch_once(url, api_key, timeout, accept_gzip)
        except _Retryable as exc:
            last = str(exc)
            if attempt < max_attempts:
                time.sleep(exc.delay_s if exc.delay_s is not None else backoff_s * 2 ** (attempt - 1))
    raise TardisDownloadError(_redact(f"GET {url} failed after {max_attempts} attempts: {last}", api_key))


def _request(url: str, api_key: str | None, accept_gzip: bool) -> urllib.request.Request:
    """GET with the Bearer header only when there is a key."""
    headers = {"Accept": "application/json", "Accept-Encoding": "gzip" if accept_gzip else "identity"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return urllib.request.Request(url, headers=headers, method="GET")


def _fetch_once(url: str, api_key: str | None, timeout: float, accept_gzip: bool) -> tuple[bytes, str]:
    """One attempt: classify every failure as retryable or final."""
    try:
        with urllib.request.urlopen(_request(url, api_key, accept_gzip), timeout=timeout) as response:
            body = response.read()
            encoding = (response.headers.get("Content-Encoding") or "identity").strip().lower()
    except urllib.error.HTTPError as exc:
        text = _error_body(exc)
        if exc.code >= 500 or exc.code in (408, 429):
            raise _Retryable(f"HTTP {exc.code}: {text}", _retry_after(exc)) from None
        raise TardisDownloadError(_http_error_message(url, exc.code, text, api_key)) from None
    except (urllib.error.URLError, TimeoutError, http.client.HTTPException, ConnectionError) as exc:
        raise _Retryable(f"{type(exc).__name__}: {exc}") from None
    if encoding not in SNAPSHOT_NAMES:
        raise TardisDownloadError(f"GET {url}: unsupported Content-Encoding {encoding!r}")
    return body, encoding


def _error_body(exc: urllib.error.HTTPError) -> str:
    """A short excerpt of the server's error text (it usually says what is wrong)."""
    try:
        return exc.read(2000).decode("utf-8", "replace").strip()
    except Exception:  # the body is only a hint
        return str(exc.reason)


def _retry_after(exc: urllib.error.HTTPError) -> float | None:
    """Honour a short Retry-After (seconds) on 429/503; long ones fall back to our backoff cap."""
    value = (exc.headers or {}).get("Retry-After", "")
    return min(float(value), 300.0) if value.isdigit() else None


def _check_json(url: str, body: bytes, encoding: str) -> None:
    """Refuse to store an answer that is not JSON (e.g. a proxy's HTML page): Bronze must be the vendor's data."""
    try:
        json.loads(gzip.decompress(body) if encoding == "gzip" else body)
    except (ValueError, OSError, EOFError) as exc:
        raise TardisDownloadError(f"GET {url}: answer is not valid JSON ({exc}); nothing written") from None


def _write_once(path: Path, data: bytes) -> bool:
    """Write `data` to `path` atomically unless it exists: .part + fsync, then a no-clobber link.

    os.link fails when the target exists, so a concurrent writer that won the race is never
    overwritten. False when the path was taken.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_parts(path)
    part = path.with_name(f"{path.name}.{secrets.token_hex(8)}{PART_SUFFIX}")
    try:
        with part.open("xb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        written = _publish(part, path)
    finally:
        part.unlink(missing_ok=True)
    _fsync_path(path.parent)
    return written


def _remove_stale_parts(path: Path) -> None:
    """Drop .part files of killed runs: a live writer holds one only while writing an in-memory body."""
    now = time.time()
    for part in path.parent.glob(f"{glob.escape(path.name)}.*{PART_SUFFIX}"):
        if now - part.stat().st_mtime > STALE_PART_S:
            part.unlink(missing_ok=True)


def _publish(part: Path, path: Path) -> bool:
    """Hard-link the finished .part to its final name; rename where links are unsupported."""
    try:
        os.link(part, path)
    except FileExistsError:
        return False
    except OSError:
        if path.exists():
            return False
        os.replace(part, path)
    return True


# ---------------------------------------------------------------- CLI


def _csv_list(text: str) -> list[str]:
    """Comma-separated CLI list, blanks dropped."""
    return [item.strip() for item in text.split(",") if item.strip()]


def build_parser() -> argparse.ArgumentParser:
    """`datasets` and `instruments` subcommands; the API key only via $TARDIS_API_KEY (keeps it out of ps)."""
    parser = argparse.ArgumentParser(prog="python -m vendors.tardis.download", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--bronze-root", type=Path, default=Path(os.environ.get("POINTLINE_BRONZE_ROOT", "bronze")))
    common.add_argument("--exchange", required=True, help="Tardis exchange id, e.g. binance-futures")
    common.add_argument("--subdir", default=DEFAULT_SUBDIR, help="vendor folder below the Bronze root")
    ds = sub.add_parser("datasets", parents=[common], help="daily CSV files for [start, end)")
    ds.add_argument("--data-types", type=_csv_list, required=True, help="e.g. trades,quotes")
    ds.add_argument("--symbols", type=_csv_list, required=True, help="e.g. BTCUSDT,ETHUSDT")
    ds.add_argument("--start", required=True, help="first UTC day, YYYY-MM-DD")
    ds.add_argument("--end", required=True, help="exclusive end day, YYYY-MM-DD: --end = --start + 1 fetches one day")
    ds.add_argument("--endpoint", default=None, help=f"datasets base URL (default {DEFAULT_DATASETS_ENDPOINT})")
    ds.add_argument("--concurrency", type=int, default=20, help="parallel days per symbol and data type")
    ds.add_argument("--timeout", type=int, default=30 * 60, help="seconds of network silence before a retry")
    ins = sub.add_parser("instruments", parents=[common], help="today's (or --date's) instruments snapshot")
    ins.add_argument("--date", default=None, help="snapshot date, YYYY-MM-DD (default: today UTC)")
    ins.add_argument("--endpoint", default=DEFAULT_API_ENDPOINT, help="API base URL")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand and print its summary; errors go to stderr with exit code 1."""
    args = build_parser().parse_args(argv)
    root = args.bronze_root.absolute()
    try:
        if args.command == "datasets":
            result: DownloadSummary | SnapshotResult = download_datasets(
                root,
                args.exchange,
                args.data_types,
                args.symbols,
                args.start,
                args.end,
                subdir=args.subdir,
                endpoint=args.endpoint,
                concurrency=args.concurrency,
                timeout=args.timeout,
            )
        else:
            result = download_instruments(
                root, args.exchange, subdir=args.subdir, endpoint=args.endpoint, on_date=args.date
            )
    except (TardisDownloadError, ValueError) as exc:
        summary = getattr(exc, "summary", None)
        if summary is not None:
            print(summary.format(root))
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(result.format(root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
