"""Download Binance Vision kline zips into the Bronze layout, verified and resumable.

For every (symbol, interval, day or month) the client fetches
`<base>/data/<market>/<daily|monthly>/klines/<SYMBOL>/<interval>/<SYMBOL>-<interval>-<key>.zip`
and its `.CHECKSUM`, and only publishes a zip whose sha256 matches. Publishing is atomic: the
bytes go to `<name>.part` in the target folder, are fsynced, then renamed, so Bronze never
holds a partial file under a real name (a crash leaves a `.part`, discarded by the next run).
A zip already in Bronze that verifies is skipped and never rewritten. Transient failures (5xx,
429, timeouts, resets, truncated bodies) are retried with exponential backoff; a 404 means
"not published (yet)" and is reported, not raised.

CLI: `python -m vendors.binance_vision.download --bronze-root bronze --exchange binance-futures
--symbols BTCUSDT ETHUSDT --intervals 1h 1d --start 2024-05-01 --end 2024-05-02`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import http.client
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from vendors.binance_vision.layout import (
    CHECKSUM_SUFFIX,
    DEFAULT_SUBDIR,
    bronze_dir,
    check_exchange,
    check_interval,
    check_period,
    parse_checksum,
    period_key,
    period_starts,
    remote_path,
    sha256_file,
    zip_name,
)

__all__ = ["DEFAULT_BASE_URL", "DownloadSummary", "download_klines", "main"]

DEFAULT_BASE_URL = "https://data.binance.vision"
PART_SUFFIX = ".part"
_USER_AGENT = "pointline-binance-vision/0.1 (+urllib)"
_CHUNK = 1 << 20
_RETRY_STATUS = {408, 425, 429}


class NotPublished(Exception):
    """HTTP 404: Binance has not published this file (not listed, or not yet)."""


class DownloadError(Exception):
    """A failure that retrying will not fix, or retries ran out."""


class _Transient(Exception):
    """A failure worth retrying: 5xx, 429, timeouts, resets, truncated or corrupted bodies."""


@dataclass
class DownloadSummary:
    """What one run did, by Bronze path (POSIX, relative to the Bronze root)."""

    downloaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already in Bronze and verified
    missing: list[str] = field(default_factory=list)  # 404: not published
    failed: dict[str, str] = field(default_factory=dict)  # path -> reason

    @property
    def ok(self) -> bool:
        return not self.failed

    def render(self) -> str:
        """Counts, then every missing and failed file, for the CLI and logs."""
        lines = [
            f"downloaded {len(self.downloaded)}, skipped {len(self.skipped)} (already verified), "
            f"missing {len(self.missing)} (not published), failed {len(self.failed)}"
        ]
        lines += [f"missing: {path}" for path in self.missing]
        lines += [f"failed: {path}: {reason}" for path, reason in self.failed.items()]
        return "\n".join(lines)


@dataclass(frozen=True)
class _Client:
    """urllib with a timeout and retries; `sleep` is injectable so tests do not wait."""

    attempts: int = 4
    backoff_s: float = 1.0
    timeout_s: float = 60.0
    sleep: Callable[[float], None] = time.sleep

    def get_bytes(self, url: str) -> bytes:
        """A small body (a CHECKSUM file)."""
        return self._retrying(url, lambda: self._read_all(url))

    def download_to(self, url: str, part: Path, expected: str) -> None:
        """Stream `url` into `part` (fsynced) and check its sha256; a mismatch is retried, then fails."""
        try:
            self._retrying(url, lambda: self._stream(url, part, expected))
        except BaseException:
            part.unlink(missing_ok=True)
            raise

    def _retrying(self, url: str, attempt: Callable[[], bytes | None]) -> bytes | None:
        last: _Transient | None = None
        for number in range(self.attempts):
            if number:
                self.sleep(self.backoff_s * 2 ** (number - 1))
            try:
                return attempt()
            except _Transient as exc:
                last = exc
        raise DownloadError(f"{url}: gave up after {self.attempts} attempts: {last}")

    def _open(self, url: str) -> http.client.HTTPResponse:
        request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
        try:
            return urllib.request.urlopen(request, timeout=self.timeout_s)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 404:
                raise NotPublished(url) from exc
            if exc.code >= 500 or exc.code in _RETRY_STATUS:
                raise _Transient(f"HTTP {exc.code} {exc.reason}") from exc
            raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, OSError):  # refused, reset, DNS, timeout
                raise _Transient(f"{type(exc.reason).__name__}: {exc.reason}") from exc
            raise DownloadError(f"{url}: {exc.reason}") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from exc

    def _read_all(self, url: str) -> bytes:
        with self._open(url) as response:
            try:
                return response.read()
            except (OSError, http.client.HTTPException) as exc:
                raise _Transient(f"reading the body: {type(exc).__name__}: {exc}") from exc

    def _stream(self, url: str, part: Path, expected: str) -> None:
        digest = hashlib.sha256()
        with self._open(url) as response, part.open("wb") as out:
            try:
                while chunk := response.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            except (OSError, http.client.HTTPException) as exc:
                raise _Transient(f"reading the body: {type(exc).__name__}: {exc}") from exc
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != expected:
            raise _Transient(
                f"sha256 mismatch: CHECKSUM says {expected}, downloaded bytes hash to {digest.hexdigest()}"
            )


def download_klines(
    bronze_root: Path,
    exchange: str,
    symbols: Iterable[str],
    intervals: Iterable[str],
    start: dt.date,
    end: dt.date,
    period: str = "daily",
    base_url: str = DEFAULT_BASE_URL,
    subdir: str = DEFAULT_SUBDIR,
    *,
    attempts: int = 4,
    backoff_s: float = 1.0,
    timeout_s: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] | None = None,
) -> DownloadSummary:
    """Fetch every file of symbols x intervals x (days start..end inclusive | months they touch).

    Symbols are uppercased (Binance's paths are). Raises ValueError for an unknown exchange,
    interval or period (before any request); per-file problems are in the returned summary.
    """
    check_exchange(exchange)
    check_period(period)
    symbols = [symbols] if isinstance(symbols, str) else list(symbols)
    intervals = [intervals] if isinstance(intervals, str) else list(intervals)
    for interval in intervals:
        check_interval(interval)
    keys = [period_key(day, period) for day in period_starts(start, end, period)]
    client = _Client(attempts=attempts, backoff_s=backoff_s, timeout_s=timeout_s, sleep=sleep)
    root = Path(bronze_root)
    summary = DownloadSummary()
    for symbol in (s.strip().upper() for s in symbols):
        for interval in intervals:
            for key in keys:
                target = bronze_dir(root, subdir, exchange, interval, symbol) / zip_name(symbol, interval, key)
                url = f"{base_url.rstrip('/')}/{remote_path(exchange, period, symbol, interval, key)}"
                _record(summary, root, target, lambda t=target, u=url: _fetch_one(client, t, u), log)
    return summary


def _record(
    summary: DownloadSummary, root: Path, target: Path, fetch: Callable[[], str], log: Callable[[str], None] | None
) -> None:
    """Run one file's fetch and file its outcome under its Bronze path."""
    rel = target.relative_to(root).as_posix()
    try:
        outcome = fetch()
    except NotPublished:
        summary.missing.append(rel)
        outcome = "missing"
    except (DownloadError, OSError) as exc:
        summary.failed[rel] = str(exc)
        outcome = f"failed: {exc}"
    else:
        (summary.downloaded if outcome == "downloaded" else summary.skipped).append(rel)
    if log is not None:
        log(f"{outcome}: {rel}")


def _fetch_one(client: _Client, target: Path, url: str) -> str:
    """Make `target` (and its CHECKSUM) present and verified: "downloaded" or "skipped"."""
    checksum_path = target.with_name(target.name + CHECKSUM_SUFFIX)
    for leftover in (target, checksum_path):
        _part(leftover).unlink(missing_ok=True)  # a crashed run's partial file
    if _verified_locally(target, checksum_path):
        return "skipped"
    checksum_body = client.get_bytes(url + CHECKSUM_SUFFIX)
    try:
        expected = parse_checksum(checksum_body.decode("utf-8", errors="replace"))
    except ValueError as exc:
        raise DownloadError(f"{url}{CHECKSUM_SUFFIX}: {exc}") from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_file() and sha256_file(target) == expected:
        _write_atomic(checksum_path, checksum_body)  # the zip is good: keep it, add its checksum
        return "skipped"
    part = _part(target)
    client.download_to(url, part, expected)
    _publish(part, target)
    _write_atomic(checksum_path, checksum_body)
    return "downloaded"


def _verified_locally(target: Path, checksum_path: Path) -> bool:
    """The zip and its CHECKSUM are both in Bronze and agree: nothing to do, no request needed."""
    if not (target.is_file() and checksum_path.is_file()):
        return False
    try:
        return sha256_file(target) == parse_checksum(checksum_path.read_text(encoding="utf-8", errors="replace"))
    except ValueError:
        return False


def _part(path: Path) -> Path:
    return path.with_name(path.name + PART_SUFFIX)


def _write_atomic(path: Path, data: bytes) -> None:
    """Write `data` via `<path>.part` + fsync + rename."""
    part = _part(path)
    with part.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    _publish(part, path)


def _publish(part: Path, target: Path) -> None:
    """Rename into place and make the rename itself durable."""
    os.replace(part, target)
    try:
        fd = os.open(target.parent, os.O_RDONLY)
    except OSError:  # platforms that cannot open a directory (Windows)
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _date_arg(text: str) -> dt.date:
    """YYYY-MM-DD, or YYYY-MM (the 1st of the month) for monthly runs."""
    try:
        return dt.date.fromisoformat(text if len(text) != 7 else f"{text}-01")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD or YYYY-MM): {text!r}") from exc


def _split(values: list[str]) -> list[str]:
    """Accept `A B`, `A,B` and mixtures."""
    return [v for value in values for v in value.split(",") if v]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vendors.binance_vision.download", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--bronze-root", type=Path, required=True)
    parser.add_argument("--exchange", required=True, help="binance | binance-futures | binance-coin-futures")
    parser.add_argument("--symbols", nargs="+", required=True, help="e.g. BTCUSDT ETHUSDT (or comma-separated)")
    parser.add_argument("--intervals", nargs="+", required=True, help="e.g. 1h 1d (or comma-separated)")
    parser.add_argument("--start", type=_date_arg, required=True)
    parser.add_argument("--end", type=_date_arg, required=True, help="inclusive")
    parser.add_argument("--period", choices=("daily", "monthly"), default="daily")
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL)
    parser.add_argument("--subdir", default=DEFAULT_SUBDIR)
    parser.add_argument("--attempts", type=int, default=4)
    parser.add_argument("--verbose", action="store_true", help="print every file's outcome")
    args = parser.parse_args(argv)
    try:
        summary = download_klines(
            args.bronze_root,
            args.exchange,
            _split(args.symbols),
            _split(args.intervals),
            args.start,
            args.end,
            period=args.period,
            base_url=args.base_url,
            subdir=args.subdir,
            attempts=args.attempts,
            log=(lambda m: print(m, file=sys.stderr)) if args.verbose else None,
        )
    except ValueError as exc:
        parser.error(str(exc))
    print(summary.render())
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
