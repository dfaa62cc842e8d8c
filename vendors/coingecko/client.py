"""Download CoinGecko /coins/markets into a Bronze snapshot (stdlib HTTP; no Dagster, no SDK).

    COINGECKO_API_KEY=... python -m vendors.coingecko.client --bronze-root ./bronze

Plans: with an API key the Pro API (`pro-api.coingecko.com`, header `x-cg-pro-api-key`);
`COINGECKO_API_PLAN=demo` selects the Demo plan (public host, header `x-cg-demo-api-key`);
without a key the keyless public API. The client spaces requests by a minimum interval (the
plans are rate limited per minute), retries 429 (honouring Retry-After), 5xx, timeouts and
connection errors with exponential backoff, and fails at once on any other 4xx with the URL
in the message. The API key travels only in a header and is redacted from every message.

Responses are kept as text: each record's JSON is cut out of the response verbatim, so the
snapshot holds the numbers exactly as CoinGecko sent them (never round-tripped through float).
"""

from __future__ import annotations

import argparse
import datetime as dt
import email.utils
import http.client
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from vendors.coingecko.assets import load_asset_map
from vendors.coingecko.layout import VENDOR
from vendors.coingecko.snapshot import VS_CURRENCY, record_id, write_snapshot
from vendors.snapshots import PacedClient, http_error_body

__all__ = [
    "PRO_BASE_URL",
    "PUBLIC_BASE_URL",
    "MAX_IDS_PER_REQUEST",
    "CoinGeckoError",
    "CoinGeckoClient",
    "FetchResult",
    "split_json_array",
    "write_snapshot",
    "fetch_asset_stats",
    "main",
]

PRO_BASE_URL = "https://pro-api.coingecko.com/api/v3"
PUBLIC_BASE_URL = "https://api.coingecko.com/api/v3"
MAX_IDS_PER_REQUEST = 250
KEY_HEADERS = {"pro": "x-cg-pro-api-key", "demo": "x-cg-demo-api-key"}
# Seconds between requests per plan: public ~5-15 calls/min, Demo 30/min, Pro >= 500/min.
DEFAULT_MIN_INTERVAL_S = {"public": 12.0, "demo": 2.0, "pro": 0.2}
USER_AGENT = "pointline-coingecko/1"

_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder(parse_float=str, parse_int=str, parse_constant=str)


class CoinGeckoError(RuntimeError):
    """A request failed for good; the message names the URL (never the API key)."""

    def __init__(self, message: str, url: str, status: int | None = None):
        self.url = url
        self.status = status
        super().__init__(message)


@dataclass(frozen=True)
class _Retry:
    """A transient failure: wait `wait_s` (None = exponential backoff) and try again."""

    wait_s: float | None
    reason: str


@dataclass(frozen=True)
class FetchResult:
    """What fetch_asset_stats wrote: the snapshot, and which requested coins CoinGecko did not return."""

    path: Path
    records: int
    requested: tuple[str, ...]
    missing: tuple[str, ...]


class CoinGeckoClient(PacedClient):
    """A small, polite CoinGecko client: plan selection, client-side rate limit, retries.

    `sleep` and `clock` are injectable so tests can check the waits without waiting.
    `max_retries` counts retries after the first attempt.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        min_interval_s: float | None = None,
        max_retries: int = 5,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        *,
        plan: str | None = None,
        timeout_s: float = 30.0,
        backoff_s: float = 2.0,
        max_backoff_s: float = 60.0,
        max_retry_after_s: float = 300.0,
    ) -> None:
        self.api_key = api_key if api_key is not None else (os.environ.get("COINGECKO_API_KEY") or None)
        self.plan = _plan(self.api_key, plan if plan is not None else os.environ.get("COINGECKO_API_PLAN"))
        self.base_url = (base_url or (PRO_BASE_URL if self.plan == "pro" else PUBLIC_BASE_URL)).rstrip("/")
        interval = DEFAULT_MIN_INTERVAL_S[self.plan] if min_interval_s is None else float(min_interval_s)
        super().__init__(interval, max_retries, backoff_s, max_backoff_s, timeout_s, sleep, clock)
        self.max_retry_after_s = max_retry_after_s

    def __repr__(self) -> str:
        return (
            f"CoinGeckoClient(plan={self.plan!r}, base_url={self.base_url!r}, key={'set' if self.api_key else 'none'})"
        )

    def markets(self, coin_ids: Iterable[str]) -> list[str]:
        """/coins/markets in USD for `coin_ids` (deduplicated, <= 250 per request): raw JSON text per record.

        Unknown ids are silently absent from CoinGecko's answer; callers compare ids if they care.
        """
        records: list[str] = []
        for batch in _batches(list(dict.fromkeys(coin_ids)), MAX_IDS_PER_REQUEST):
            params = {
                "vs_currency": VS_CURRENCY,
                "ids": ",".join(batch),
                "per_page": str(MAX_IDS_PER_REQUEST),
                "page": "1",
            }
            url = self.url("/coins/markets", params)
            try:
                records.extend(split_json_array(self.get_text(url)))
            except ValueError as exc:
                message = f"GET {url}: unexpected answer: {exc}"
                raise CoinGeckoError(self._redact(message), self._redact(url)) from None
        return records

    def url(self, path: str, params: dict[str, str]) -> str:
        """Full request URL; commas in `ids` stay literal as in CoinGecko's documentation."""
        return f"{self.base_url}/{path.lstrip('/')}?{urllib.parse.urlencode(params, safe=',')}"

    def get_text(self, url: str) -> str:
        """GET `url` with rate limiting and retries; the body as text, or CoinGeckoError."""
        last = ""
        for attempt in range(self.max_retries + 1):
            self._throttle()
            outcome = self._attempt(url)
            if isinstance(outcome, str):
                return outcome
            last = outcome.reason
            if attempt < self.max_retries:
                self.sleep(outcome.wait_s if outcome.wait_s is not None else self._backoff(attempt))
        attempts = self.max_retries + 1
        message = f"GET {url} failed after {attempts} attempt(s); last error: {last}"
        raise CoinGeckoError(self._redact(message), self._redact(url))

    def _headers(self) -> dict[str, str]:
        """JSON, a user agent, and the plan's key header when there is a key."""
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if self.api_key:
            headers[KEY_HEADERS[self.plan]] = self.api_key
        return headers

    def _attempt(self, url: str) -> str | _Retry:
        """One HTTP request: the body, a _Retry for transient failures, or CoinGeckoError for the rest."""
        request = urllib.request.Request(url, headers=self._headers())
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return response.read().decode(response.headers.get_content_charset() or "utf-8")
        except urllib.error.HTTPError as exc:
            body = self._redact(http_error_body(exc))
            if exc.code == 429:
                wait = _retry_after_s(exc.headers.get("Retry-After"))
                wait = None if wait is None else min(wait, self.max_retry_after_s)
                return _Retry(wait, f"HTTP 429 Too Many Requests: {body}")
            if exc.code >= 500:
                return _Retry(None, f"HTTP {exc.code} {exc.reason}: {body}")
            message = f"GET {url} -> HTTP {exc.code} {exc.reason}: {body}"
            raise CoinGeckoError(self._redact(message), self._redact(url), exc.code) from None
        except (TimeoutError, urllib.error.URLError, ConnectionError, http.client.HTTPException) as exc:
            return _Retry(None, self._redact(f"{type(exc).__name__}: {exc}"))

    def _redact(self, text: str) -> str:
        """Never let the key reach a log or an exception."""
        return text.replace(self.api_key, "***") if self.api_key else text


def _plan(api_key: str | None, requested: str | None) -> str:
    """'public' without a key; otherwise 'pro' unless 'demo' is asked for."""
    if not api_key:
        return "public"
    plan = (requested or "pro").strip().lower()
    if plan not in KEY_HEADERS:
        raise ValueError(f"COINGECKO_API_PLAN must be 'pro' or 'demo', got {requested!r}")
    return plan


def _batches(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    """Consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _retry_after_s(value: str | None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def split_json_array(text: str) -> list[str]:
    """The verbatim text of each object in a JSON array; ValueError unless `text` is an array of objects.

    The decoder only finds where each element ends (numbers are decoded as text, never floats);
    the slices of the original text are what Bronze stores.
    """
    idx = _WS.match(text).end()
    if text[idx : idx + 1] != "[":
        raise ValueError(f"expected a JSON array, got {text[:200]!r}")
    idx = _WS.match(text, idx + 1).end()
    records: list[str] = []
    if text[idx : idx + 1] == "]":
        end = idx + 1
    else:
        while True:
            try:
                value, end = _DECODER.raw_decode(text, idx)
            except json.JSONDecodeError as exc:
                raise ValueError(f"invalid JSON in element {len(records)}: {exc}") from None
            if not isinstance(value, dict):
                raise ValueError(f"element {len(records)} is not a JSON object: {text[idx:end][:200]!r}")
            records.append(text[idx:end])
            idx = _WS.match(text, end).end()
            sep = text[idx : idx + 1]
            if sep == "]":
                end = idx + 1
                break
            if sep != ",":
                raise ValueError(f"expected ',' or ']' at offset {idx}")
            idx = _WS.match(text, idx + 1).end()
    if _WS.match(text, end).end() != len(text):
        raise ValueError(f"unexpected data after the JSON array at offset {end}")
    return records


def fetch_asset_stats(
    bronze_root: Path | str,
    asset_map: pl.DataFrame | Path | str | None = None,
    client: CoinGeckoClient | None = None,
    now_us: int | None = None,
    *,
    subdir: str = VENDOR,
) -> FetchResult:
    """Fetch /coins/markets for every coin in the asset map and write one snapshot.

    The capture time (the snapshot's timestamp and the table's time axis) is taken after the
    last answer arrived, so no record can be newer than its snapshot; `now_us` overrides it.
    """
    frame = asset_map if isinstance(asset_map, pl.DataFrame) else load_asset_map(asset_map)
    ids = list(dict.fromkeys(frame["coin_id"].to_list()))
    client = client or CoinGeckoClient()
    records = client.markets(ids)
    if not records:
        raise CoinGeckoError(f"CoinGecko returned no records for {len(ids)} coin id(s)", client.base_url)
    captured_at_us = now_us if now_us is not None else time.time_ns() // 1_000
    path = write_snapshot(bronze_root, records, captured_at_us, subdir, request_ids=ids)
    returned = {record_id(r) for r in records}
    return FetchResult(path, len(records), tuple(ids), tuple(i for i in ids if i not in returned))


def main(argv: list[str] | None = None) -> int:
    """CLI: fetch one snapshot into BRONZE_ROOT/<subdir>/ and say what was written."""
    parser = argparse.ArgumentParser(
        prog="python -m vendors.coingecko.client",
        description="Fetch CoinGecko /coins/markets for the configured assets into one Bronze snapshot. "
        "Uses COINGECKO_API_KEY (Pro API) and COINGECKO_API_PLAN=demo when set.",
    )
    parser.add_argument("--bronze-root", type=Path, required=True)
    parser.add_argument("--asset-map", type=Path, help="base_asset,coin_id CSV (default: config/coingecko_assets.csv)")
    parser.add_argument("--subdir", default=VENDOR, help="vendor folder below the Bronze root")
    parser.add_argument("--base-url", help="override the API base URL (a proxy or a test server)")
    args = parser.parse_args(argv)
    try:
        client = CoinGeckoClient(base_url=args.base_url)
        result = fetch_asset_stats(args.bronze_root, args.asset_map, client, subdir=args.subdir)
    except (CoinGeckoError, FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {result.records} record(s) for {len(result.requested)} requested coin id(s) to {result.path}")
    if result.missing:
        print(f"not returned by CoinGecko: {', '.join(result.missing)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
