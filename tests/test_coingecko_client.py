"""CoinGecko download client against a local HTTP server that answers like the real API.

The server (a real ThreadingHTTPServer on 127.0.0.1) records every request and serves
recorded-style /coins/markets answers; scripted answers (429, 500, slow responses, errors)
are queued per test. Time is injected (a fake clock that only moves when the client sleeps),
so the waits are asserted exactly without waiting.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from vendors.coingecko import CoinGeckoPlugin
from vendors.coingecko.client import (
    MAX_IDS_PER_REQUEST,
    PRO_BASE_URL,
    PUBLIC_BASE_URL,
    CoinGeckoClient,
    CoinGeckoError,
    fetch_asset_stats,
    main,
    split_json_array,
)

# Records as CoinGecko's /coins/markets sends them (compact JSON, its own number notation).
BITCOIN = (
    '{"id":"bitcoin","symbol":"btc","name":"Bitcoin","image":"https://coin-images.coingecko.com/coins/images/1/large/'
    'bitcoin.png?1696501400","current_price":60123.45,"market_cap":1183424593231,"market_cap_rank":1,'
    '"fully_diluted_valuation":1262592450000,"total_volume":27683834939,"high_24h":61234.0,"low_24h":59012.11,'
    '"price_change_24h":-812.3376455,"price_change_percentage_24h":-1.33311,"market_cap_change_24h":-15984253651.2,'
    '"market_cap_change_percentage_24h":-1.33267,"circulating_supply":19675962.0,"total_supply":21000000.0,'
    '"max_supply":21000000.0,"ath":73738,"ath_change_percentage":-18.46406,"ath_date":"2024-03-14T07:10:36.635Z",'
    '"atl":67.81,"atl_change_percentage":88562.73,"atl_date":"2013-07-06T00:00:00.000Z","roi":null,'
    '"last_updated":"2024-05-01T12:34:56.789Z"}'
)
ETHEREUM = (
    '{"id":"ethereum","symbol":"eth","name":"Ethereum","image":"https://coin-images.coingecko.com/coins/images/279/'
    'large/ethereum.png?1696501628","current_price":3015.27,"market_cap":362183735121,"market_cap_rank":2,'
    '"fully_diluted_valuation":362183735121,"total_volume":14129381127,"high_24h":3070.1,"low_24h":2963.4,'
    '"price_change_24h":21.07,"price_change_percentage_24h":0.70372,"market_cap_change_24h":2661013579,'
    '"market_cap_change_percentage_24h":0.74016,"circulating_supply":120121361.526396,"total_supply":120121361.526396,'
    '"max_supply":null,"ath":4878.26,"ath_change_percentage":-38.18942,"ath_date":"2021-11-10T14:24:19.604Z",'
    '"atl":0.432979,"atl_change_percentage":696287.43588,"atl_date":"2015-10-20T00:00:00.000Z",'
    '"roi":{"times":46.13853,"currency":"btc","percentage":4613.853},"last_updated":"2024-05-01T12:35:02.112Z"}'
)
BIGSUPPLY = (
    '{"id":"big-supply-token","symbol":"big","name":"Big Supply","image":null,"current_price":1.2e-09,'
    '"market_cap":1481475468,"market_cap_rank":180,"fully_diluted_valuation":null,"total_volume":1024.5,'
    '"circulating_supply":1.23456789012345e+18,"total_supply":1.23456789012345e+18,"max_supply":null,'
    '"last_updated":"2024-05-01T12:30:00.000Z"}'
)
CATALOG = {"bitcoin": BITCOIN, "ethereum": ETHEREUM, "big-supply-token": BIGSUPPLY}


@dataclass
class Seen:
    """One request as the server saw it."""

    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class Scripted:
    """A canned answer served before the default ones."""

    status: int
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


class FakeCoinGecko(ThreadingHTTPServer):
    """Answers /coins/markets from CATALOG (unknown ids omitted, or synthesized when `synthesize`)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[Seen] = []
        self.script: deque[Scripted] = deque()
        self.synthesize = False
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api/v3"

    def handle_error(self, request, client_address) -> None:  # a client that timed out closed the socket
        pass

    def answer(self, query: dict[str, list[str]]) -> Scripted:
        with self.lock:
            if self.script:
                return self.script.popleft()
        ids = query.get("ids", [""])[0].split(",")
        records = [CATALOG.get(i) or (self.synthesize and _synthetic(i)) for i in ids]
        return Scripted(200, "[" + ",".join(r for r in records if r) + "]", {"Content-Type": "application/json"})


def _synthetic(coin: str) -> str:
    return f'{{"id":"{coin}","symbol":"x","name":"X","current_price":1.5,"last_updated":"2024-05-01T00:00:00.000Z"}}'


class _Handler(BaseHTTPRequestHandler):
    server: FakeCoinGecko

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        with self.server.lock:
            self.server.seen.append(Seen(parts.path, query, {k.lower(): v for k, v in self.headers.items()}))
        reply = self.server.answer(query)
        if reply.delay_s:
            time.sleep(reply.delay_s)
        body = reply.body.encode()
        self.send_response(reply.status)
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:  # keep pytest output clean
        pass


class FakeTime:
    """clock() and sleep() for the client: time moves only when the client sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def server() -> Iterator[FakeCoinGecko]:
    srv = FakeCoinGecko()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(autouse=True)
def no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests decide about keys themselves; a developer's real key must not leak into them."""
    monkeypatch.delenv("COINGECKO_API_KEY", raising=False)
    monkeypatch.delenv("COINGECKO_API_PLAN", raising=False)


def make_client(server: FakeCoinGecko, fake: FakeTime | None = None, **kwargs) -> CoinGeckoClient:
    fake = fake or FakeTime()
    options = {"min_interval_s": 0.0, "max_retries": 3, "backoff_s": 1.0, **kwargs}
    return CoinGeckoClient(base_url=server.url, sleep=fake.sleep, clock=fake.clock, **options)


# --- plans, keys and base URLs ------------------------------------------------------------------


def test_pro_key_header_and_default_pro_url(server: FakeCoinGecko) -> None:
    assert CoinGeckoClient(api_key="cg-pro-123").base_url == PRO_BASE_URL
    client = make_client(server, api_key="cg-pro-123")
    assert client.plan == "pro"
    client.markets(["bitcoin"])
    (seen,) = server.seen
    assert seen.headers["x-cg-pro-api-key"] == "cg-pro-123"
    assert "x-cg-demo-api-key" not in seen.headers
    assert "cg-pro-123" not in repr(client)


def test_demo_plan_from_env_uses_demo_header_and_public_url(
    server: FakeCoinGecko, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COINGECKO_API_KEY", "cg-demo-456")
    monkeypatch.setenv("COINGECKO_API_PLAN", "demo")
    default = CoinGeckoClient()
    assert (default.plan, default.base_url, default.api_key) == ("demo", PUBLIC_BASE_URL, "cg-demo-456")
    make_client(server).markets(["bitcoin"])
    (seen,) = server.seen
    assert seen.headers["x-cg-demo-api-key"] == "cg-demo-456"
    assert "x-cg-pro-api-key" not in seen.headers


def test_env_key_selects_pro(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COINGECKO_API_KEY", "cg-env")
    client = CoinGeckoClient()
    assert (client.plan, client.base_url, client.api_key) == ("pro", PRO_BASE_URL, "cg-env")


def test_no_key_uses_public_api_without_key_headers(server: FakeCoinGecko) -> None:
    client = CoinGeckoClient()
    assert (client.plan, client.base_url, client.api_key) == ("public", PUBLIC_BASE_URL, None)
    make_client(server).markets(["bitcoin"])
    (seen,) = server.seen
    assert not [h for h in seen.headers if h.startswith("x-cg-")]
    assert seen.headers["accept"] == "application/json"


def test_unknown_plan_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COINGECKO_API_PLAN", "enterprise")
    with pytest.raises(ValueError, match="COINGECKO_API_PLAN"):
        CoinGeckoClient(api_key="k")


# --- /coins/markets -----------------------------------------------------------------------------


def test_markets_request_and_verbatim_records(server: FakeCoinGecko) -> None:
    records = make_client(server).markets(["bitcoin", "ethereum", "no-such-coin", "bitcoin"])
    assert records == [BITCOIN, ETHEREUM]  # byte-exact slices of the answer; unknown ids absent
    (seen,) = server.seen
    assert seen.path == "/api/v3/coins/markets"
    assert seen.query == {
        "vs_currency": ["usd"],
        "ids": ["bitcoin,ethereum,no-such-coin"],  # deduplicated, order kept
        "per_page": ["250"],
        "page": ["1"],
    }


def test_markets_batches_at_most_250_ids(server: FakeCoinGecko) -> None:
    server.synthesize = True
    ids = [f"coin-{i:03d}" for i in range(600)]
    records = make_client(server).markets(ids)
    batches = [s.query["ids"][0].split(",") for s in server.seen]
    assert [len(b) for b in batches] == [MAX_IDS_PER_REQUEST, MAX_IDS_PER_REQUEST, 100]
    assert [i for b in batches for i in b] == ids
    assert [json.loads(r)["id"] for r in records] == ids


def test_rate_limit_spaces_requests_by_min_interval(server: FakeCoinGecko) -> None:
    server.synthesize = True
    fake = FakeTime()
    client = make_client(server, fake, min_interval_s=2.5)
    client.markets([f"c{i}" for i in range(3 * MAX_IDS_PER_REQUEST)])  # three requests back to back
    assert fake.sleeps == [2.5, 2.5]
    fake.now += 1.0  # the caller spent a second elsewhere: only the rest of the interval is waited
    client.markets(["bitcoin"])
    assert fake.sleeps == [2.5, 2.5, 1.5]
    fake.now += 10.0
    client.markets(["bitcoin"])
    assert fake.sleeps == [2.5, 2.5, 1.5]
    assert len(server.seen) == 5


def test_429_honours_retry_after_then_succeeds(server: FakeCoinGecko) -> None:
    server.script.append(
        Scripted(429, '{"status":{"error_code":429,"error_message":"rate limited"}}', {"Retry-After": "7"})
    )
    fake = FakeTime()
    records = make_client(server, fake).markets(["bitcoin"])
    assert records == [BITCOIN]
    assert fake.sleeps == [7.0]
    assert len(server.seen) == 2


def test_429_without_retry_after_backs_off_exponentially(server: FakeCoinGecko) -> None:
    server.script.extend([Scripted(429), Scripted(429)])
    fake = FakeTime()
    assert make_client(server, fake).markets(["ethereum"]) == [ETHEREUM]
    assert fake.sleeps == [1.0, 2.0]


def test_5xx_retries_then_fails_with_clear_error(server: FakeCoinGecko) -> None:
    server.script.extend(Scripted(500, "upstream exploded") for _ in range(3))
    fake = FakeTime()
    client = make_client(server, fake, max_retries=2)
    with pytest.raises(CoinGeckoError) as info:
        client.markets(["bitcoin"])
    message = str(info.value)
    assert "failed after 3 attempt(s)" in message
    assert "HTTP 500" in message and "upstream exploded" in message
    assert f"{server.url}/coins/markets?vs_currency=usd&ids=bitcoin&per_page=250&page=1" in message
    assert fake.sleeps == [1.0, 2.0]
    assert len(server.seen) == 3


def test_5xx_then_success(server: FakeCoinGecko) -> None:
    server.script.extend([Scripted(502), Scripted(503)])
    fake = FakeTime()
    assert make_client(server, fake).markets(["bitcoin"]) == [BITCOIN]
    assert fake.sleeps == [1.0, 2.0]


def test_timeout_is_retried(server: FakeCoinGecko) -> None:
    server.script.append(Scripted(200, "[]", delay_s=1.0))
    fake = FakeTime()
    assert make_client(server, fake, timeout_s=0.2).markets(["bitcoin"]) == [BITCOIN]
    assert fake.sleeps == [1.0]
    assert len(server.seen) == 2


def test_4xx_fails_at_once_naming_the_url_without_the_key(server: FakeCoinGecko) -> None:
    server.script.append(Scripted(401, '{"status":{"error_code":10002,"error_message":"Invalid key secret-key-789"}}'))
    fake = FakeTime()
    with pytest.raises(CoinGeckoError) as info:
        make_client(server, fake, api_key="secret-key-789").markets(["bitcoin"])
    message = str(info.value)
    assert info.value.status == 401
    assert f"{server.url}/coins/markets?vs_currency=usd&ids=bitcoin" in message
    assert "HTTP 401" in message and "10002" in message
    assert "secret-key-789" not in message
    assert fake.sleeps == [] and len(server.seen) == 1


def test_non_array_answer_is_an_error(server: FakeCoinGecko) -> None:
    server.script.append(Scripted(200, '{"status":{"error_code":0,"error_message":"surprise"}}'))
    with pytest.raises(CoinGeckoError, match="expected a JSON array"):
        make_client(server).markets(["bitcoin"])


def test_split_json_array_keeps_text_and_handles_whitespace() -> None:
    text = ' [\n  {"a": 1.10, "b": [1, 2]} ,\n {"c":"x,]"}\n]\n'
    assert split_json_array(text) == ['{"a": 1.10, "b": [1, 2]}', '{"c":"x,]"}']
    assert split_json_array("[]") == []
    for bad in ("[1]", "[{}] x", "[{} {}]", "", "[{"):
        with pytest.raises(ValueError):
            split_json_array(bad)


# --- fetch + snapshot ---------------------------------------------------------------------------

NOW_US = 1_714_566_900_123_456  # 2024-05-01T12:35:00.123456Z


def _asset_csv(tmp_path: Path, rows: str) -> Path:
    path = tmp_path / "assets.csv"
    path.write_text("base_asset,coin_id\n" + rows)
    return path


def test_fetch_writes_one_exact_snapshot(server: FakeCoinGecko, tmp_path: Path) -> None:
    assets = _asset_csv(tmp_path, "BTC,bitcoin\nETH,ethereum\nXYZ,not-listed\nBIG,big-supply-token\n")
    bronze = tmp_path / "bronze"
    result = fetch_asset_stats(bronze, assets, make_client(server), now_us=NOW_US)

    expected = (
        bronze / "coingecko/type=asset_stats/date=2024-05-01/snapshot_ts=1714566900123456"
        "/coingecko_markets_1714566900123456.jsonl.gz"
    )
    assert result.path == expected
    assert (result.records, result.missing) == (3, ("not-listed",))
    assert result.requested == ("bitcoin", "ethereum", "not-listed", "big-supply-token")
    assert [p.name for p in expected.parent.iterdir()] == [expected.name]  # no .part left behind

    head = (
        '{"schema_version":1,"vendor":"coingecko","dataset":"coins_markets","captured_at_us":1714566900123456,'
        '"snapshot_ts_us":1714566900123456,"partitions":{"date":"2024-05-01"},'
        '"request":{"vs_currency":"usd","ids":["bitcoin","ethereum","not-listed","big-supply-token"]},"record":'
    )
    text = gzip.decompress(expected.read_bytes()).decode()
    assert text == "".join(f"{head}{record}}}\n" for record in (BITCOIN, ETHEREUM, BIGSUPPLY))

    frame = CoinGeckoPlugin(asset_map=str(assets)).read_events(CoinGeckoPlugin().discover(bronze)[0], "dim_asset_stats")
    assert frame["total_supply"].to_list() == ["21000000.0", "120121361.526396", "1.23456789012345e+18"]


def test_fetch_never_overwrites_a_snapshot(server: FakeCoinGecko, tmp_path: Path) -> None:
    assets = _asset_csv(tmp_path, "BTC,bitcoin\n")
    first = fetch_asset_stats(tmp_path / "b", assets, make_client(server), now_us=NOW_US)
    before = first.path.read_bytes()
    server.synthesize = True
    with pytest.raises(FileExistsError):
        fetch_asset_stats(
            tmp_path / "b", _asset_csv(tmp_path, "BTC,bitcoin\nETH,ethereum\n"), make_client(server), now_us=NOW_US
        )
    assert first.path.read_bytes() == before
    assert sorted(p.name for p in first.path.parent.iterdir()) == [first.path.name]


def test_fetch_with_no_records_writes_nothing(server: FakeCoinGecko, tmp_path: Path) -> None:
    with pytest.raises(CoinGeckoError, match="no records"):
        fetch_asset_stats(tmp_path / "b", _asset_csv(tmp_path, "XYZ,not-listed\n"), make_client(server), now_us=NOW_US)
    assert not (tmp_path / "b").exists()


def test_cli_prints_what_it_wrote(server: FakeCoinGecko, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assets = _asset_csv(tmp_path, "BTC,bitcoin\nXYZ,not-listed\n")
    code = main(["--bronze-root", str(tmp_path / "b"), "--asset-map", str(assets), "--base-url", server.url])
    out = capsys.readouterr().out
    assert code == 0
    (written,) = CoinGeckoPlugin().discover(tmp_path / "b")
    assert f"wrote 1 record(s) for 2 requested coin id(s) to {written.path}" in out
    assert "not returned by CoinGecko: not-listed" in out


def test_cli_reports_http_errors(server: FakeCoinGecko, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server.script.append(Scripted(404, '{"error":"Not Found"}'))
    assets = _asset_csv(tmp_path, "BTC,bitcoin\n")
    code = main(["--bronze-root", str(tmp_path / "b"), "--asset-map", str(assets), "--base-url", server.url])
    assert code == 1
    assert "HTTP 404" in capsys.readouterr().err
