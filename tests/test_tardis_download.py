"""vendors.tardis.download against a local HTTP server that answers like datasets.tardis.dev / api.tardis.dev.

Real HTTP end to end: the tardis-dev SDK (datasets) and urllib (instruments) talk to a
ThreadingHTTPServer on 127.0.0.1; nothing of ours is mocked. The server records every request
so the tests can see exactly what reached it (paths, retries, the Authorization header).
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from vendors.tardis import TardisPlugin
from vendors.tardis.download import (
    API_KEY_ENV,
    TardisDownloadError,
    download_datasets,
    download_instruments,
)

pytest.importorskip("tardis_dev")

REPO = Path(__file__).resolve().parents[1]
EXCHANGE = "binance-futures"
KEY = "td-test-key-8f3a1c"
TRADES_HEADER = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount"
QUOTES_HEADER = "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount"
DAY_US = 86_400_000_000


# ---------------------------------------------------------------- recorded Tardis answers


def _day_start_us(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days * DAY_US


def trades_csv_gz(symbol: str, day: dt.date, rows: int = 5) -> bytes:
    """A daily trades file in the exact Tardis CSV format (gzip, as served)."""
    start = _day_start_us(day)
    lines = [TRADES_HEADER]
    for i in range(rows):
        ts = start + 1_000_000 * (i + 1) + 137
        side = "buy" if i % 2 else "sell"
        lines.append(
            f"{EXCHANGE},{symbol},{ts},{ts + 4_211},{3_950_118_207 + i},{side},{63120.1 + i / 10:.1f},0.00{i + 1}"
        )
    return gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)


def quotes_csv_gz(symbol: str, day: dt.date, rows: int = 4) -> bytes:
    """A daily quotes file in the exact Tardis CSV format (column order as in real files)."""
    start = _day_start_us(day)
    lines = [QUOTES_HEADER]
    for i in range(rows):
        ts = start + 500_000 * (i + 1)
        lines.append(f"{EXCHANGE},{symbol},{ts},{ts + 2_003},{1.5 + i},63120.2,63120.1,{2.25 + i}")
    return gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)


INSTRUMENTS_BODY = (
    b'[\n  {"id":"BTCUSDT","datasetId":"BTCUSDT","exchange":"binance-futures","baseCurrency":"BTC",'
    b'"quoteCurrency":"USDT","type":"perpetual","active":true,"availableSince":"2019-11-17T00:00:00.000Z",'
    b'"priceIncrement":0.10,"amountIncrement":0.001,"contractMultiplier":1,'
    b'"changes":[{"until":"2024-03-01T00:00:00.000Z","priceIncrement":0.01}]},\n'
    b'  {"id":"ETHUSDT","datasetId":"ETHUSDT","exchange":"binance-futures","baseCurrency":"ETH",'
    b'"quoteCurrency":"USDT","type":"perpetual","active":true,"availableSince":"2019-11-27T00:00:00.000Z",'
    b'"priceIncrement":0.01,"amountIncrement":0.001,"contractMultiplier":1,"note":"\xc3\xa9"}\n]'
)


def dataset_url_path(data_type: str, day: dt.date, symbol: str) -> str:
    """Where datasets.tardis.dev serves a file."""
    return f"/v1/{EXCHANGE}/{data_type}/{day:%Y/%m/%d}/{symbol}.csv.gz"


def bronze_rel(data_type: str, day: dt.date, symbol: str) -> str:
    """Where the file must land, relative to the Bronze root."""
    return f"tardis/exchange={EXCHANGE}/type={data_type}/date={day}/symbol={symbol}/{symbol}.csv.gz"


# ---------------------------------------------------------------- the server


@dataclass(frozen=True)
class Seen:
    """One request as it reached the server."""

    path: str
    query: str
    authorization: str | None
    accept_encoding: str | None


@dataclass
class FakeTardis:
    """State behind the handler: what to serve, what to fail first, what was asked."""

    files: dict[str, bytes] = field(default_factory=dict)  # URL path -> body
    fail_first: dict[str, list[int | str]] = field(default_factory=dict)  # path -> statuses / "truncate" / "hang"
    api_key: str | None = None  # when set, everything but first-of-month datasets needs it
    gzip_json: bool = False  # compress JSON when the client accepts gzip
    hang_s: float = 2.0
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    base: str = ""

    def requests_for(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    def dataset_requests(self) -> list[Seen]:
        return [s for s in self.seen if s.path.endswith(".csv.gz")]


def _needs_key(path: str) -> bool:
    """Tardis serves the first day of each month without a key."""
    parts = path.split("/")
    return not (path.endswith(".csv.gz") and len(parts) >= 7 and parts[-2] == "01")


def _make_handler(state: FakeTardis) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
            pass

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            with state.lock:
                state.seen.append(
                    Seen(url.path, url.query, self.headers.get("Authorization"), self.headers.get("Accept-Encoding"))
                )
                queue = state.fail_first.get(url.path, [])
                failure = queue.pop(0) if queue else None
            body = state.files.get(url.path)
            if failure == "hang":
                time.sleep(state.hang_s)
                self.close_connection = True
                return
            if isinstance(failure, int):
                return self._send(failure, b'{"code":%d,"message":"temporary failure"}' % failure, "application/json")
            if body is None:
                return self._send(404, b'{"code":404,"message":"not found"}', "application/json")
            auth = self.headers.get("Authorization")
            if state.api_key and _needs_key(url.path) and auth != f"Bearer {state.api_key}":
                message = f'{{"code":401,"message":"Invalid API key provided: {auth}"}}'.encode()
                return self._send(401, message, "application/json")
            if url.path.endswith(".csv.gz"):
                return self._send(200, body, "text/csv", encoding="gzip", truncate=failure == "truncate")
            if state.gzip_json and "gzip" in (self.headers.get("Accept-Encoding") or ""):
                return self._send(200, gzip.compress(body, mtime=0), "application/json", encoding="gzip")
            return self._send(200, body, "application/json")

        def _send(
            self, code: int, body: bytes, ctype: str, encoding: str | None = None, truncate: bool = False
        ) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            if encoding:
                self.send_header("Content-Encoding", encoding)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2] if truncate else body)
            if truncate:
                self.wfile.flush()
                self.close_connection = True

    return Handler


@pytest.fixture
def tardis(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTardis]:
    """A running local Tardis; proxies from the environment must not capture 127.0.0.1."""
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    state = FakeTardis()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


MAY = [dt.date(2024, 5, 1), dt.date(2024, 5, 2), dt.date(2024, 5, 3)]
SYMBOLS = ["BTCUSDT", "ETHUSDT"]


def serve_may(state: FakeTardis) -> dict[str, bytes]:
    """Serve trades and quotes for both symbols on 1-3 May; returns {bronze rel path: bytes}."""
    expected: dict[str, bytes] = {}
    for day in MAY:
        for symbol in SYMBOLS:
            for data_type, make in (("trades", trades_csv_gz), ("quotes", quotes_csv_gz)):
                body = make(symbol, day)
                state.files[dataset_url_path(data_type, day, symbol)] = body
                expected[bronze_rel(data_type, day, symbol)] = body
    return expected


def tree(root: Path) -> dict[str, bytes]:
    """Every file below root: {posix rel path: bytes}."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- datasets


def test_datasets_land_at_bronze_paths_verbatim_and_are_discovered(tardis, tmp_path, monkeypatch):
    expected_all = serve_may(tardis)
    tardis.api_key = KEY
    monkeypatch.setenv(API_KEY_ENV, KEY)

    summary = download_datasets(
        tmp_path,
        EXCHANGE,
        ["trades", "quotes"],
        ["btcusdt", "ETHUSDT"],
        "2024-05-01",
        "2024-05-03",
        endpoint=tardis.base,
    )

    # end is exclusive: 1 and 2 May only, and 3 May was never even requested
    expected = {rel: body for rel, body in expected_all.items() if "date=2024-05-03" not in rel}
    assert tree(tmp_path) == expected
    assert sorted(p.relative_to(tmp_path).as_posix() for p in summary.downloaded) == sorted(expected)
    assert summary.already_present == []
    assert not any("/2024/05/03/" in s.path for s in tardis.seen)
    # the key from the environment reached the server exactly as the SDK sends it
    assert {s.authorization for s in tardis.dataset_requests()} == {f"Bearer {KEY}"}
    assert {s.accept_encoding for s in tardis.dataset_requests()} == {"gzip"}

    plugin = TardisPlugin()
    found = plugin.discover(tmp_path)
    assert [(f.rel_path, f.exchange, f.data_type, f.date, f.symbol) for f in found] == sorted(
        (bronze_rel(data_type, day, symbol), EXCHANGE, data_type, day, symbol)
        for data_type in ("trades", "quotes")
        for day in MAY[:2]
        for symbol in SYMBOLS
    )
    assert plugin.unrecognized(tmp_path) == []
    trades = next(f for f in found if f.data_type == "trades")
    assert plugin.read_events(trades, "trades").height == 5


def test_end_is_exclusive_and_must_follow_start(tardis, tmp_path):
    serve_may(tardis)

    summary = download_datasets(
        tmp_path, EXCHANGE, ["trades"], ["BTCUSDT"], dt.date(2024, 5, 1), dt.date(2024, 5, 2), endpoint=tardis.base
    )

    assert [p.relative_to(tmp_path).as_posix() for p in summary.downloaded] == [
        bronze_rel("trades", dt.date(2024, 5, 1), "BTCUSDT")
    ]
    assert [s.path for s in tardis.dataset_requests()] == [dataset_url_path("trades", dt.date(2024, 5, 1), "BTCUSDT")]
    with pytest.raises(ValueError, match="exclusive"):
        download_datasets(tmp_path, EXCHANGE, ["trades"], ["BTCUSDT"], "2024-05-01", "2024-05-01", endpoint=tardis.base)
    assert len(tardis.dataset_requests()) == 1


def test_second_run_downloads_nothing_and_leaves_files_untouched(tardis, tmp_path):
    serve_may(tardis)
    args = (tmp_path, EXCHANGE, ["trades", "quotes"], SYMBOLS, "2024-05-01", "2024-05-04")
    first = download_datasets(*args, endpoint=tardis.base)
    before = {p: p.stat().st_mtime_ns for p in first.downloaded}
    assert len(before) == 12
    requests_after_first = len(tardis.seen)

    second = download_datasets(*args, endpoint=tardis.base)

    assert second.downloaded == []
    assert second.already_present == first.downloaded
    assert {p: p.stat().st_mtime_ns for p in first.downloaded} == before
    assert len(tardis.seen) == requests_after_first  # not even a HEAD/GET for present files


def test_resume_fetches_only_missing_files(tardis, tmp_path):
    serve_may(tardis)
    args = (tmp_path, EXCHANGE, ["trades"], ["BTCUSDT"], "2024-05-01", "2024-05-04")
    first = download_datasets(*args, endpoint=tardis.base)
    lost = first.downloaded[1]
    lost.unlink()
    kept_mtimes = {p: p.stat().st_mtime_ns for p in first.downloaded if p != lost}

    again = download_datasets(*args, endpoint=tardis.base)

    assert again.downloaded == [lost]
    assert {p: p.stat().st_mtime_ns for p in kept_mtimes} == kept_mtimes


def test_server_error_then_success_is_retried(tardis, tmp_path):
    serve_may(tardis)
    path = dataset_url_path("trades", dt.date(2024, 5, 1), "BTCUSDT")
    tardis.fail_first[path] = [500]

    summary = download_datasets(
        tmp_path, EXCHANGE, ["trades"], ["BTCUSDT"], "2024-05-01", "2024-05-02", endpoint=tardis.base
    )

    assert [(s.path, s.query) for s in tardis.requests_for(path)] == [(path, ""), (path, "retryAttempt=1")]
    assert summary.downloaded[0].read_bytes() == tardis.files[path]


def test_truncated_body_never_reaches_the_final_path(tardis, tmp_path):
    serve_may(tardis)
    path = dataset_url_path("quotes", dt.date(2024, 5, 1), "ETHUSDT")
    tardis.fail_first[path] = ["truncate"]

    summary = download_datasets(
        tmp_path, EXCHANGE, ["quotes"], ["ETHUSDT"], "2024-05-01", "2024-05-02", endpoint=tardis.base
    )

    assert len(tardis.requests_for(path)) == 2
    assert tree(tmp_path) == {bronze_rel("quotes", dt.date(2024, 5, 1), "ETHUSDT"): tardis.files[path]}
    assert summary.downloaded == [tmp_path / bronze_rel("quotes", dt.date(2024, 5, 1), "ETHUSDT")]


def test_stale_sdk_temp_files_are_removed_fresh_ones_kept(tardis, tmp_path):
    serve_may(tardis)
    final = tmp_path / bronze_rel("trades", dt.date(2024, 5, 1), "BTCUSDT")
    final.parent.mkdir(parents=True)
    stale = final.with_name(final.name + "0123456789abcdef.unconfirmed")
    fresh = final.with_name(final.name + "fedcba9876543210.unconfirmed")
    stale.write_bytes(b"partial")
    fresh.write_bytes(b"partial, maybe still being written")
    old = time.time() - 3600
    os.utime(stale, (old, old))

    summary = download_datasets(
        tmp_path, EXCHANGE, ["trades"], ["BTCUSDT"], "2024-05-01", "2024-05-02", endpoint=tardis.base, timeout=60
    )

    assert summary.removed_stale_temp == [stale]
    assert not stale.exists() and fresh.exists()
    assert final.read_bytes() == tardis.files[dataset_url_path("trades", dt.date(2024, 5, 1), "BTCUSDT")]


def test_first_day_of_month_needs_no_key(tardis, tmp_path):
    serve_may(tardis)
    tardis.api_key = KEY  # the server wants a key, but not for the 1st

    summary = download_datasets(
        tmp_path, EXCHANGE, ["trades"], ["BTCUSDT"], "2024-05-01", "2024-05-02", endpoint=tardis.base
    )

    assert len(summary.downloaded) == 1
    assert [s.authorization for s in tardis.dataset_requests()] == [None]


def test_dataset_auth_error_names_the_url_never_the_key(tardis, tmp_path):
    serve_may(tardis)
    tardis.api_key = "the-right-key"
    wrong = "td-wrong-key-77e1"

    with pytest.raises(TardisDownloadError) as caught:
        download_datasets(
            tmp_path, EXCHANGE, ["trades"], ["BTCUSDT"], "2024-05-02", "2024-05-03", api_key=wrong, endpoint=tardis.base
        )

    message = str(caught.value)
    assert f"{tardis.base}/{EXCHANGE}/trades/2024/05/02/BTCUSDT.csv.gz" in message
    assert "401" in message
    assert wrong not in message  # the server echoed it; we redact
    assert [s.authorization for s in tardis.dataset_requests()] == [f"Bearer {wrong}"]  # 401 is not retried
    assert caught.value.summary is not None and caught.value.summary.downloaded == []
    assert tree(tmp_path) == {}


def test_invalid_arguments_fail_before_any_request(tardis, tmp_path):
    for kwargs in (
        {"exchange": "Binance Futures"},
        {"data_types": ["../trades"]},
        {"symbols": [".."]},
        {"start": "2024-5-1"},
    ):
        args = {
            "exchange": EXCHANGE,
            "data_types": ["trades"],
            "symbols": ["BTCUSDT"],
            "start": "2024-05-01",
            "end": "2024-05-02",
        } | kwargs
        with pytest.raises(ValueError):
            download_datasets(tmp_path, endpoint=tardis.base, **args)
    assert tardis.seen == []


# ---------------------------------------------------------------- instruments


def serve_instruments(state: FakeTardis, body: bytes = INSTRUMENTS_BODY) -> str:
    path = f"/v1/instruments/{EXCHANGE}"
    state.files[path] = body
    return path


def test_instruments_snapshot_is_verbatim_written_once_and_discovered(tardis, tmp_path):
    url_path = serve_instruments(tardis)
    tardis.api_key = KEY

    result = download_instruments(tmp_path, EXCHANGE, api_key=KEY, endpoint=tardis.base, on_date="2024-05-01")

    expected = tmp_path / f"tardis/exchange={EXCHANGE}/type=instruments/date=2024-05-01/instruments.json"
    assert (result.path, result.status) == (expected, "downloaded")
    assert tree(tmp_path) == {expected.relative_to(tmp_path).as_posix(): INSTRUMENTS_BODY}
    assert [s.authorization for s in tardis.requests_for(url_path)] == [f"Bearer {KEY}"]
    assert TardisPlugin().reference_files(tmp_path) == [expected]
    assert TardisPlugin().unrecognized(tmp_path) == []
    assert set(TardisPlugin().instrument_versions(tmp_path)["exchange_symbol"]) == {"BTCUSDT", "ETHUSDT"}
    mtime = expected.stat().st_mtime_ns

    tardis.files[url_path] = b"[]"  # a later answer must not replace the day's snapshot
    again = download_instruments(tmp_path, EXCHANGE, api_key=KEY, endpoint=tardis.base, on_date=dt.date(2024, 5, 1))

    assert (again.path, again.status) == (expected, "already present")
    assert expected.read_bytes() == INSTRUMENTS_BODY and expected.stat().st_mtime_ns == mtime
    assert len(tardis.requests_for(url_path)) == 1  # nothing requested when the snapshot exists


def test_instruments_default_date_is_today_utc_and_key_from_env(tardis, tmp_path, monkeypatch):
    url_path = serve_instruments(tardis)
    monkeypatch.setenv(API_KEY_ENV, KEY)

    result = download_instruments(tmp_path, EXCHANGE, endpoint=tardis.base)

    assert result.path.parent.name == f"date={dt.datetime.now(dt.UTC).date()}"
    assert [s.authorization for s in tardis.requests_for(url_path)] == [f"Bearer {KEY}"]


def test_instruments_without_key_sends_no_authorization(tardis, tmp_path):
    url_path = serve_instruments(tardis)

    download_instruments(tmp_path, EXCHANGE, endpoint=tardis.base, on_date="2024-05-01")

    assert [s.authorization for s in tardis.requests_for(url_path)] == [None]


def test_instruments_retry_server_errors_and_timeouts(tardis, tmp_path):
    url_path = serve_instruments(tardis)
    tardis.fail_first[url_path] = [503, "hang", 500]
    tardis.hang_s = 1.5

    result = download_instruments(
        tmp_path, EXCHANGE, endpoint=tardis.base, on_date="2024-05-01", timeout=0.5, backoff_s=0.01
    )

    assert result.status == "downloaded" and result.path.read_bytes() == INSTRUMENTS_BODY
    assert len(tardis.requests_for(url_path)) == 4


def test_instruments_give_up_after_max_attempts(tardis, tmp_path):
    url_path = serve_instruments(tardis)
    tardis.fail_first[url_path] = [502, 502, 502]

    with pytest.raises(TardisDownloadError, match="after 3 attempts.*502"):
        download_instruments(
            tmp_path, EXCHANGE, endpoint=tardis.base, on_date="2024-05-01", max_attempts=3, backoff_s=0.01
        )
    assert tree(tmp_path) == {}


def test_instruments_client_error_names_the_url_never_the_key(tardis, tmp_path):
    url_path = serve_instruments(tardis)
    tardis.api_key = "the-right-key"
    wrong = "td-wrong-key-0b5d"

    with pytest.raises(TardisDownloadError) as caught:
        download_instruments(
            tmp_path, EXCHANGE, api_key=wrong, endpoint=tardis.base, on_date="2024-05-01", backoff_s=0.01
        )

    message = str(caught.value)
    assert f"{tardis.base}/instruments/{EXCHANGE}" in message and "401" in message
    assert wrong not in message
    assert len(tardis.requests_for(url_path)) == 1  # 4xx is final
    assert tree(tmp_path) == {}


def test_instruments_unknown_exchange_404(tardis, tmp_path):
    with pytest.raises(TardisDownloadError, match=f"{tardis.base}/instruments/{EXCHANGE}.*404"):
        download_instruments(tmp_path, EXCHANGE, endpoint=tardis.base, on_date="2024-05-01")
    assert tree(tmp_path) == {}


def test_instruments_non_json_answer_is_not_stored(tardis, tmp_path):
    serve_instruments(tardis, b"<html>captive portal</html>")

    with pytest.raises(TardisDownloadError, match="not valid JSON"):
        download_instruments(tmp_path, EXCHANGE, endpoint=tardis.base, on_date="2024-05-01")
    assert tree(tmp_path) == {}


def test_instruments_gzip_answer_is_stored_compressed_and_discovered(tardis, tmp_path):
    serve_instruments(tardis)
    tardis.gzip_json = True

    result = download_instruments(tmp_path, EXCHANGE, endpoint=tardis.base, on_date="2024-05-01", accept_gzip=True)

    assert result.path.name == "instruments.json.gz"
    assert result.path.read_bytes() == gzip.compress(INSTRUMENTS_BODY, mtime=0)
    assert TardisPlugin().reference_files(tmp_path) == [result.path]
    assert download_instruments(tmp_path, EXCHANGE, endpoint=tardis.base, on_date="2024-05-01").status == (
        "already present"
    )


# ---------------------------------------------------------------- CLI


def _cli(command: str, common: list[str], env_key: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the module's CLI in a fresh process (space-separated `command`), key only via the environment."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and k != API_KEY_ENV}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    if env_key:
        env[API_KEY_ENV] = env_key
    argv = [sys.executable, "-m", "vendors.tardis.download", *command.split(), *common]
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_cli_datasets_and_instruments(tardis, tmp_path):
    serve_may(tardis)
    serve_instruments(tardis)
    tardis.api_key = KEY
    common = ["--bronze-root", str(tmp_path), "--exchange", EXCHANGE, "--endpoint", tardis.base]
    both = "datasets --data-types trades,quotes --symbols BTCUSDT,ETHUSDT --start 2024-05-01 --end 2024-05-03"
    one_day = "datasets --data-types trades --symbols BTCUSDT --start 2024-05-01 --end 2024-05-02"
    keyed_day = "datasets --data-types trades --symbols BTCUSDT --start 2024-05-03 --end 2024-05-04"

    run = _cli(both, common, env_key=KEY)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0] == "downloaded 8, already present 0"
    assert f"  downloaded: {bronze_rel('quotes', dt.date(2024, 5, 2), 'ETHUSDT')}" in run.stdout
    assert KEY not in run.stdout + run.stderr

    rerun = _cli(one_day, common)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.splitlines()[0] == "downloaded 0, already present 1"

    ins = _cli("instruments --date 2024-05-01", common, env_key=KEY)
    assert ins.returncode == 0, ins.stderr
    rel = f"tardis/exchange={EXCHANGE}/type=instruments/date=2024-05-01/instruments.json"
    assert ins.stdout.strip() == f"downloaded: {rel}"
    assert (tmp_path / rel).read_bytes() == INSTRUMENTS_BODY

    wrong = "td-cli-wrong-key"
    bad = _cli(keyed_day, common, env_key=wrong)
    assert bad.returncode == 1
    assert "HTTP 401" in bad.stderr and f"{tardis.base}/{EXCHANGE}/trades/2024/05/03/BTCUSDT.csv.gz" in bad.stderr
    assert wrong not in bad.stderr + bad.stdout
