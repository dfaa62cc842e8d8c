"""Tushare download client against a local HTTP server (127.0.0.1) answering like Tushare Pro.

The server serves the recorded-style answers in tests/fixtures/tushare/ (one per list status)
and records every request body; scripted answers (HTTP 500, rate limit, bad token) are queued
per test. Time is injected, so backoff waits are asserted without waiting.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import polars as pl
import pytest

from vendors.tushare import TusharePlugin
from vendors.tushare.client import TushareAuthError, TushareClient, TushareError, fetch_stock_basic, main
from vendors.tushare.sample import FIELDS

FIXTURES = Path(__file__).parent / "fixtures" / "tushare"
TOKEN = "0123456789abcdef0123456789abcdef0123456789abcdef01234567"
NOW_US = 1_727_690_400_000_000  # 2024-09-30T10:00:00Z


@dataclass
class Scripted:
    status: int
    body: str


class FakeTushare(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.bodies: list[dict] = []
        self.script: deque[Scripted] = deque()
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def answer(self, body: dict) -> Scripted:
        with self.lock:
            self.bodies.append(body)
            if self.script:
                return self.script.popleft()
        status = body.get("params", {}).get("list_status", "L")
        return Scripted(200, (FIXTURES / f"stock_basic_{status}.json").read_text(encoding="utf-8"))


class _Handler(BaseHTTPRequestHandler):
    server: FakeTushare

    def do_POST(self) -> None:  # noqa: N802 (http.server API)
        length = int(self.headers.get("Content-Length", "0"))
        reply = self.server.answer(json.loads(self.rfile.read(length)))
        data = reply.body.encode("utf-8")
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args) -> None:
        pass


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def server() -> Iterator[FakeTushare]:
    srv = FakeTushare()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _client(server: FakeTushare, clock: FakeTime | None = None, **kw) -> TushareClient:
    clock = clock or FakeTime()
    return TushareClient(TOKEN, server.url, sleep=clock.sleep, clock=clock.clock, **kw)


def test_fetch_writes_one_snapshot_of_all_list_statuses(server, tmp_path):
    clock = FakeTime()
    result = fetch_stock_basic(tmp_path, _client(server, clock), now_us=NOW_US)
    assert result.per_status == {"L": 7, "D": 2, "P": 1} and result.records == 10
    assert [b["params"] for b in server.bodies] == [{"list_status": s} for s in "LDP"]
    assert all(b["api_name"] == "stock_basic" and b["token"] == TOKEN for b in server.bodies)
    assert server.bodies[0]["fields"] == ",".join(FIELDS)
    assert clock.sleeps == [0.5, 0.5]  # requests spaced by the minimum interval
    assert result.path.relative_to(tmp_path).as_posix() == (
        "tushare/type=stock_basic/date=2024-09-30/snapshot_ts=1727690400000000/tushare_stock_basic_1727690400000000.jsonl.gz"
    )
    raw = gzip.decompress(result.path.read_bytes()).decode("utf-8")
    assert TOKEN not in raw
    lines = [json.loads(x) for x in raw.splitlines()]
    assert lines[0]["request"] == {
        "api_name": "stock_basic",
        "params": {"list_status": "L"},
        "fields": ",".join(FIELDS),
    }
    assert {x["record"]["list_status"] for x in lines} == {"L", "D", "P"}
    # the written snapshot is what the plugin reads
    dim_rows = TusharePlugin().instrument_versions(tmp_path)
    assert dim_rows.height == 10 and set(dim_rows["exchange"]) == {"szse", "sse", "bse"}  # every record
    assert dim_rows.filter(pl.col("exchange_symbol") == "000418")["valid_until_us"].null_count() == 0
    with pytest.raises(FileExistsError):  # never rewrites a complete file
        fetch_stock_basic(tmp_path, _client(server), now_us=NOW_US)


def test_retries_server_errors_and_rate_limits_then_succeeds(server, tmp_path):
    server.script.extend(
        [
            Scripted(500, "internal error"),
            Scripted(200, (FIXTURES / "error_rate_limit.json").read_text(encoding="utf-8")),
        ]
    )
    clock = FakeTime()
    rows = _client(server, clock).query("stock_basic", {"list_status": "P"}, FIELDS)
    assert [r["ts_code"] for r in rows] == ["000040.SZ"]
    assert len(server.bodies) == 3
    assert clock.sleeps == [2.0, 4.0]  # exponential backoff (the spacing is covered by the waits)


def test_gives_up_after_max_retries_naming_the_last_error(server):
    server.script.extend(Scripted(503, "busy") for _ in range(3))
    with pytest.raises(TushareError, match=r"failed after 3 attempt\(s\); last: HTTP 503") as info:
        _client(server, max_retries=2).query("stock_basic", {"list_status": "L"}, FIELDS)
    assert TOKEN not in str(info.value)


def test_network_error_is_retried(tmp_path):
    clock = FakeTime()
    client = TushareClient(TOKEN, "http://127.0.0.1:9", max_retries=1, sleep=clock.sleep, clock=clock.clock)
    with pytest.raises(TushareError, match="failed after 2 attempt"):
        client.query("stock_basic")
    assert clock.sleeps == [2.0]


def test_bad_token_fails_at_once_with_a_clear_message(server, tmp_path):
    server.script.append(Scripted(200, (FIXTURES / "error_bad_token.json").read_text(encoding="utf-8")))
    with pytest.raises(TushareAuthError, match="rejected the token .*code -2001.*check TUSHARE_TOKEN") as info:
        fetch_stock_basic(tmp_path, _client(server), now_us=NOW_US)
    assert len(server.bodies) == 1 and TOKEN not in str(info.value)
    assert not list(tmp_path.rglob("*.gz"))  # nothing written unless every request succeeded


def test_missing_token_and_cli(server, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TUSHARE_TOKEN", raising=False)
    with pytest.raises(TushareAuthError, match="set TUSHARE_TOKEN"):
        TushareClient(base_url=server.url).query("stock_basic")
    assert main(["--bronze-root", str(tmp_path), "--base-url", server.url]) == 1
    assert "TUSHARE_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("TUSHARE_TOKEN", TOKEN)
    assert main(["--bronze-root", str(tmp_path), "--base-url", server.url, "--status", "L"]) == 0
    assert "wrote 7 record(s) (L=7)" in capsys.readouterr().out
    assert len(TusharePlugin().discover(tmp_path)) == 1
