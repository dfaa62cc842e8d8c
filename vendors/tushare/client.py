"""Download Tushare Pro `stock_basic` into a Bronze snapshot (stdlib HTTP; no SDK, no Dagster).

    TUSHARE_TOKEN=... python -m vendors.tushare.client --bronze-root ./bronze

The Tushare Pro API is one endpoint: POST JSON `{"api_name", "token", "params", "fields"}` to
http://api.tushare.pro, answered by `{"code": 0, "msg": "", "data": {"fields": [...],
"items": [[...], ...]}}`; a non-zero `code` is an error explained in `msg` (HTTP status 200).

`stock_basic` returns only listed securities unless asked otherwise, so one snapshot is the
union of three requests, list_status L, D and P (a delisting then shows up as a status change
instead of a silent disappearance). The client spaces requests by a minimum interval (Tushare
limits calls per minute per token), retries network errors, HTTP 429/5xx and Tushare's
rate-limit answers with exponential backoff, and fails at once on a rejected token or any
other error, naming the API and the vendor's message. The token is sent only in the request
body and redacted from every message; it is never written to Bronze.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from vendors.snapshots import PacedClient, http_error_body
from vendors.tushare.layout import FIELDS, VENDOR
from vendors.tushare.snapshot import write_snapshot

__all__ = [
    "DEFAULT_BASE_URL",
    "TOKEN_ENV",
    "TushareError",
    "TushareAuthError",
    "TushareClient",
    "FetchResult",
    "fetch_stock_basic",
    "main",
]

DEFAULT_BASE_URL = "http://api.tushare.pro"
TOKEN_ENV = "TUSHARE_TOKEN"
LIST_STATUSES = ("L", "D", "P")
USER_AGENT = "pointline-tushare/1"
# Tushare answers these with HTTP 200 and a code: retry (too many calls) or give up (token).
RATE_LIMIT_CODES = frozenset({40203})
AUTH_CODES = frozenset({-2001, -2002, 40101})
_RATE_LIMIT_HINTS = ("每分钟", "最多访问", "频率", "rate limit", "too many")
_TOKEN_HINTS = ("token",)


class TushareError(RuntimeError):
    """A request failed for good; the message names the API and the vendor's reason (never the token)."""

    def __init__(self, message: str, code: int | None = None):
        self.code = code
        super().__init__(message)


class TushareAuthError(TushareError):
    """The token is missing or Tushare rejected it."""


@dataclass(frozen=True)
class _Retry:
    reason: str


@dataclass(frozen=True)
class FetchResult:
    """What fetch_stock_basic wrote: the snapshot path and the record count per list status."""

    path: Path
    records: int
    per_status: dict[str, int]


class TushareClient(PacedClient):
    """A small, polite Tushare Pro client. `sleep`/`clock` are injectable so tests need not wait;
    `max_retries` counts retries after the first attempt."""

    def __init__(
        self,
        token: str | None = None,
        base_url: str | None = None,
        *,
        min_interval_s: float = 0.5,
        max_retries: int = 5,
        backoff_s: float = 2.0,
        max_backoff_s: float = 60.0,
        timeout_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token = token if token is not None else (os.environ.get(TOKEN_ENV) or "").strip()
        self.base_url = (base_url or os.environ.get("TUSHARE_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        super().__init__(min_interval_s, max_retries, backoff_s, max_backoff_s, timeout_s, sleep, clock)

    def __repr__(self) -> str:
        return f"TushareClient(base_url={self.base_url!r}, token={'set' if self.token else 'missing'})"

    def query(
        self, api_name: str, params: Mapping[str, object] | None = None, fields: Sequence[str] = ()
    ) -> list[dict[str, object]]:
        """Call `api_name`; the answer's rows as dicts keyed by the returned field names."""
        if not self.token:
            raise TushareAuthError(f"no Tushare token: set {TOKEN_ENV} (https://tushare.pro, user centre)")
        body = json.dumps(
            {"api_name": api_name, "token": self.token, "params": dict(params or {}), "fields": ",".join(fields)},
            ensure_ascii=False,
        ).encode("utf-8")
        last = ""
        for attempt in range(self.max_retries + 1):
            self._throttle()
            outcome = self._attempt(api_name, body)
            if not isinstance(outcome, _Retry):
                return outcome
            last = outcome.reason
            if attempt < self.max_retries:
                self.sleep(self._backoff(attempt))
        raise TushareError(
            self._redact(f"{api_name} at {self.base_url} failed after {self.max_retries + 1} attempt(s); last: {last}")
        )

    def _attempt(self, api_name: str, body: bytes) -> list[dict[str, object]] | _Retry:
        request = urllib.request.Request(
            self.base_url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Accept": "application/json", "User-Agent": USER_AGENT},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                text = response.read().decode(response.headers.get_content_charset() or "utf-8")
        except urllib.error.HTTPError as exc:
            detail = self._redact(http_error_body(exc))
            if exc.code == 429 or exc.code >= 500:
                return _Retry(f"HTTP {exc.code} {exc.reason}: {detail}")
            raise TushareError(self._redact(f"{api_name}: HTTP {exc.code} {exc.reason}: {detail}")) from None
        except (TimeoutError, urllib.error.URLError, ConnectionError, http.client.HTTPException) as exc:
            return _Retry(self._redact(f"{type(exc).__name__}: {exc}"))
        return self._rows(api_name, text)

    def _rows(self, api_name: str, text: str) -> list[dict[str, object]] | _Retry:
        try:
            answer = json.loads(text)
        except json.JSONDecodeError:
            return _Retry(f"answer is not JSON: {text[:200]!r}")
        if not isinstance(answer, dict) or "code" not in answer:
            raise TushareError(f"{api_name}: unexpected answer {text[:200]!r}")
        code, msg = answer.get("code"), str(answer.get("msg") or "")
        if code != 0:
            lowered = msg.lower()
            if code in RATE_LIMIT_CODES or any(h in lowered for h in _RATE_LIMIT_HINTS):
                return _Retry(f"rate limited (code {code}): {msg}")
            if code in AUTH_CODES or any(h in lowered for h in _TOKEN_HINTS):
                raise TushareAuthError(
                    self._redact(f"{api_name}: Tushare rejected the token (code {code}: {msg}); check {TOKEN_ENV}"),
                    code,
                )
            raise TushareError(self._redact(f"{api_name}: Tushare error code {code}: {msg}"), code)
        data = answer.get("data") or {}
        fields, items = data.get("fields"), data.get("items")
        if not isinstance(fields, list) or not isinstance(items, list):
            raise TushareError(f"{api_name}: answer has no data.fields/data.items: {text[:200]!r}")
        rows = []
        for item in items:
            if not isinstance(item, list) or len(item) != len(fields):
                raise TushareError(f"{api_name}: item {item!r} does not match fields {fields}")
            rows.append(dict(zip(fields, item, strict=True)))
        return rows

    def _redact(self, text: str) -> str:
        return text.replace(self.token, "***") if self.token else text


def fetch_stock_basic(
    bronze_root: Path | str,
    client: TushareClient | None = None,
    now_us: int | None = None,
    *,
    statuses: Sequence[str] = LIST_STATUSES,
    subdir: str = VENDOR,
) -> FetchResult:
    """Fetch stock_basic for every list status and write one snapshot of all records.

    The capture time is taken after the last answer (no record is newer than its snapshot);
    `now_us` overrides it. Nothing is written unless every request succeeded.
    """
    client = client or TushareClient()
    pairs: list[tuple[dict[str, object], dict[str, object]]] = []
    per_status: dict[str, int] = {}
    for status in statuses:
        params = {"list_status": status}
        rows = client.query("stock_basic", params, FIELDS)
        request = {"api_name": "stock_basic", "params": params, "fields": ",".join(FIELDS)}
        pairs.extend((row, request) for row in rows)
        per_status[status] = len(rows)
    if not pairs:
        raise TushareError(f"stock_basic returned no records for list_status {list(statuses)}")
    captured_at_us = now_us if now_us is not None else time.time_ns() // 1_000
    path = write_snapshot(bronze_root, pairs, captured_at_us, subdir)
    return FetchResult(path, len(pairs), per_status)


def main(argv: list[str] | None = None) -> int:
    """CLI: fetch one stock_basic snapshot into BRONZE_ROOT/<subdir>/ and say what was written."""
    parser = argparse.ArgumentParser(
        prog="python -m vendors.tushare.client",
        description=f"Fetch Tushare stock_basic (list status L, D, P) into one Bronze snapshot. Token: ${TOKEN_ENV}.",
    )
    parser.add_argument("--bronze-root", type=Path, required=True)
    parser.add_argument("--subdir", default=VENDOR, help="vendor folder below the Bronze root")
    parser.add_argument("--base-url", help=f"API URL (default {DEFAULT_BASE_URL}; a proxy or a test server)")
    parser.add_argument("--status", action="append", choices=LIST_STATUSES, help="list status(es); default all")
    args = parser.parse_args(argv)
    try:
        client = TushareClient(base_url=args.base_url)
        result = fetch_stock_basic(args.bronze_root, client, statuses=args.status or LIST_STATUSES, subdir=args.subdir)
    except (TushareError, FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    counts = ", ".join(f"{s}={n}" for s, n in result.per_status.items())
    print(f"wrote {result.records} record(s) ({counts}) to {result.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
