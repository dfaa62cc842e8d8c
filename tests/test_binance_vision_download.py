"""Binance Vision download client against a local HTTP server that serves generated zips and CHECKSUMs."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from vendors.binance_vision import BinanceVisionPlugin
from vendors.binance_vision.download import download_klines, main
from vendors.binance_vision.sample import write_sample_klines

MAY1, MAY2, MAY3 = dt.date(2024, 5, 1), dt.date(2024, 5, 2), dt.date(2024, 5, 3)
FOLDER = "binance_vision/exchange=binance-futures/type=klines/interval=1h/symbol=BTCUSDT"
URL_DIR = "/data/futures/um/daily/klines/BTCUSDT/1h"


class FakeVision:
    """data.binance.vision in miniature: a path -> bytes map, plus scripted failures per path.

    A script entry is consumed per request: an int is answered as that HTTP status, "stall"
    sleeps past the client's timeout, "truncate" announces the full length but sends half.
    """

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.script: dict[str, list[int | str]] = {}
        self.requests: list[str] = []
        self._lock = threading.Lock()

    def next_action(self, path: str) -> int | str | None:
        with self._lock:
            self.requests.append(path)
            actions = self.script.get(path)
            return actions.pop(0) if actions else None

    def handler(self) -> type[BaseHTTPRequestHandler]:
        vision = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                action = vision.next_action(self.path)
                body = vision.files.get(self.path)
                if action == "stall":
                    time.sleep(1.0)
                if isinstance(action, int) or body is None:
                    self.send_error(action if isinstance(action, int) else 404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a client that timed out
                    self.wfile.write(body[: len(body) // 2] if action == "truncate" else body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler


@pytest.fixture()
def vision() -> Iterator[tuple[FakeVision, str]]:
    fake = FakeVision()
    server = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def publish(fake: FakeVision, tmp_path: Path, days: list[dt.date], *, period: str = "daily") -> dict[str, bytes]:
    """Generate sample files and serve them (and their CHECKSUMs) at Binance's URLs; {url path: zip bytes}."""
    remote = tmp_path / "remote"
    manifest = write_sample_klines(remote, {"binance-futures": ["BTCUSDT"]}, days, ("1h",), period=period)
    served = {}
    for f in manifest.files:
        name = Path(f.rel_path).name
        url = f"/data/futures/um/{period}/klines/{f.symbol}/{f.interval}/{name}"
        served[url] = (remote / f.rel_path).read_bytes()
        fake.files[url] = served[url]
        fake.files[url + ".CHECKSUM"] = (remote / (f.rel_path + ".CHECKSUM")).read_bytes()
    return served


def fetch(base: str, bronze: Path, start: dt.date, end: dt.date, sleeps: list[float] | None = None, **kw):
    return download_klines(
        bronze,
        "binance-futures",
        ["BTCUSDT"],
        ["1h"],
        start,
        end,
        base_url=base,
        sleep=(sleeps if sleeps is not None else []).append,
        backoff_s=0.5,
        **kw,
    )


def rel(day: str) -> str:
    return f"{FOLDER}/BTCUSDT-1h-{day}.zip"


def test_download_publishes_verified_files_in_the_bronze_layout(tmp_path: Path, vision) -> None:
    fake, base = vision
    served = publish(fake, tmp_path, [MAY1, MAY2])
    bronze = tmp_path / "bronze"
    summary = fetch(base, bronze, MAY1, MAY2)
    assert summary.downloaded == [rel("2024-05-01"), rel("2024-05-02")]
    assert (summary.skipped, summary.missing, summary.failed) == ([], [], {})
    assert (bronze / rel("2024-05-01")).read_bytes() == served[f"{URL_DIR}/BTCUSDT-1h-2024-05-01.zip"]
    checksum = (bronze / (rel("2024-05-01") + ".CHECKSUM")).read_text()
    assert checksum == fake.files[f"{URL_DIR}/BTCUSDT-1h-2024-05-01.zip.CHECKSUM"].decode()
    assert not list(bronze.rglob("*.part"))

    plugin = BinanceVisionPlugin()
    files = plugin.discover(bronze)
    assert [f.rel_path for f in files] == [rel("2024-05-01"), rel("2024-05-02")]
    assert plugin.read_events(files[0], "kline_1h").height == 24
    assert plugin.unrecognized(bronze) == []


def test_second_run_skips_without_rewriting_or_requesting(tmp_path: Path, vision) -> None:
    fake, base = vision
    publish(fake, tmp_path, [MAY1, MAY2])
    bronze = tmp_path / "bronze"
    fetch(base, bronze, MAY1, MAY2)
    target = bronze / rel("2024-05-01")
    os.utime(target, ns=(1_000_000_000, 1_000_000_000))
    leftover = target.with_name(target.name + ".part")
    leftover.write_bytes(b"half a download from a crashed run")
    fake.requests.clear()

    summary = fetch(base, bronze, MAY1, MAY2)
    assert summary.skipped == [rel("2024-05-01"), rel("2024-05-02")]
    assert (summary.downloaded, summary.missing, summary.failed) == ([], [], {})
    assert target.stat().st_mtime_ns == 1_000_000_000  # untouched
    assert not leftover.exists()
    assert fake.requests == []  # verified against the local CHECKSUM


def test_zip_without_local_checksum_is_verified_remotely_and_kept(tmp_path: Path, vision) -> None:
    fake, base = vision
    publish(fake, tmp_path, [MAY1])
    bronze = tmp_path / "bronze"
    fetch(base, bronze, MAY1, MAY1)
    target = bronze / rel("2024-05-01")
    checksum = target.with_name(target.name + ".CHECKSUM")
    checksum.unlink()
    os.utime(target, ns=(1_000_000_000, 1_000_000_000))
    fake.requests.clear()

    summary = fetch(base, bronze, MAY1, MAY1)
    assert summary.skipped == [rel("2024-05-01")]
    assert target.stat().st_mtime_ns == 1_000_000_000
    assert checksum.is_file()
    assert fake.requests == [f"{URL_DIR}/BTCUSDT-1h-2024-05-01.zip.CHECKSUM"]


def test_a_damaged_local_zip_is_replaced(tmp_path: Path, vision) -> None:
    fake, base = vision
    served = publish(fake, tmp_path, [MAY1])
    bronze = tmp_path / "bronze"
    target = bronze / rel("2024-05-01")
    target.parent.mkdir(parents=True)
    target.write_bytes(b"cut off")
    summary = fetch(base, bronze, MAY1, MAY1)
    assert summary.downloaded == [rel("2024-05-01")]
    assert target.read_bytes() == served[f"{URL_DIR}/BTCUSDT-1h-2024-05-01.zip"]


def test_404_is_reported_missing(tmp_path: Path, vision) -> None:
    fake, base = vision
    publish(fake, tmp_path, [MAY1, MAY2])
    bronze = tmp_path / "bronze"
    summary = fetch(base, bronze, MAY2, MAY3)
    assert summary.downloaded == [rel("2024-05-02")]
    assert summary.missing == [rel("2024-05-03")]
    assert summary.ok
    assert not (bronze / rel("2024-05-03")).exists()
    assert "missing 1 (not published)" in summary.render()


def test_500_then_200_is_retried_with_backoff(tmp_path: Path, vision) -> None:
    fake, base = vision
    publish(fake, tmp_path, [MAY1])
    url = f"{URL_DIR}/BTCUSDT-1h-2024-05-01.zip"
    fake.script[url] = [500, 503]
    sleeps: list[float] = []
    summary = fetch(base, tmp_path / "bronze", MAY1, MAY1, sleeps)
    assert summary.downloaded == [rel("2024-05-01")]
    assert sleeps == [0.5, 1.0]
    assert fake.requests.count(url) == 3


@pytest.mark.parametrize("failure", ["truncate", "stall"])
def test_truncated_body_and_timeout_are_retried(tmp_path: Path, vision, failure: str) -> None:
    fake, base = vision
    served = publish(fake, tmp_path, [MAY1])
    url = f"{URL_DIR}/BTCUSDT-1h-2024-05-01.zip"
    fake.script[url] = [failure]
    summary = fetch(base, tmp_path / "bronze", MAY1, MAY1, timeout_s=0.3)
    assert summary.downloaded == [rel("2024-05-01")]
    assert fake.requests.count(url) == 2
    assert (tmp_path / "bronze" / rel("2024-05-01")).read_bytes() == served[url]


def test_persistent_5xx_fails_after_the_attempts(tmp_path: Path, vision) -> None:
    fake, base = vision
    publish(fake, tmp_path, [MAY1])
    fake.script[f"{URL_DIR}/BTCUSDT-1h-2024-05-01.zip"] = [500] * 10
    sleeps: list[float] = []
    summary = fetch(base, tmp_path / "bronze", MAY1, MAY1, sleeps, attempts=3)
    assert not summary.ok
    assert "gave up after 3 attempts" in summary.failed[rel("2024-05-01")]
    assert "HTTP 500" in summary.failed[rel("2024-05-01")]
    assert sleeps == [0.5, 1.0]
    assert not any(p.is_file() for p in (tmp_path / "bronze").rglob("*"))


def test_a_4xx_other_than_404_fails_without_retry(tmp_path: Path, vision) -> None:
    fake, base = vision
    publish(fake, tmp_path, [MAY1])
    fake.script[f"{URL_DIR}/BTCUSDT-1h-2024-05-01.zip.CHECKSUM"] = [403]
    sleeps: list[float] = []
    summary = fetch(base, tmp_path / "bronze", MAY1, MAY1, sleeps)
    assert "HTTP 403" in summary.failed[rel("2024-05-01")]
    assert sleeps == []


def test_checksum_mismatch_is_never_published(tmp_path: Path, vision) -> None:
    fake, base = vision
    publish(fake, tmp_path, [MAY1])
    url = f"{URL_DIR}/BTCUSDT-1h-2024-05-01.zip"
    fake.files[url] = fake.files[url][:-1] + bytes([fake.files[url][-1] ^ 0xFF])  # no longer matches its CHECKSUM
    summary = fetch(base, tmp_path / "bronze", MAY1, MAY1, attempts=2)
    reason = summary.failed[rel("2024-05-01")]
    assert "sha256 mismatch" in reason
    assert hashlib.sha256(fake.files[url]).hexdigest() in reason
    assert not any(p.is_file() for p in (tmp_path / "bronze").rglob("*"))  # no zip, no .part, no CHECKSUM


def test_monthly_files(tmp_path: Path, vision) -> None:
    fake, base = vision
    served = publish(fake, tmp_path, [MAY1], period="monthly")
    summary = fetch(base, tmp_path / "bronze", dt.date(2024, 5, 20), dt.date(2024, 6, 2), period="monthly")
    assert summary.downloaded == [f"{FOLDER}/BTCUSDT-1h-2024-05.zip"]
    assert summary.missing == [f"{FOLDER}/BTCUSDT-1h-2024-06.zip"]
    url = "/data/futures/um/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2024-05.zip"
    assert (tmp_path / "bronze" / f"{FOLDER}/BTCUSDT-1h-2024-05.zip").read_bytes() == served[url]
    (file,) = BinanceVisionPlugin().discover(tmp_path / "bronze")
    assert BinanceVisionPlugin().read_events(file, "kline_1h").height == 31 * 24


def test_invalid_arguments_fail_before_any_request(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown exchange"):
        download_klines(tmp_path, "kraken", ["XBTUSD"], ["1h"], MAY1, MAY1)
    with pytest.raises(ValueError, match="unknown kline interval"):
        download_klines(tmp_path, "binance", ["BTCUSDT"], ["1w"], MAY1, MAY1)
    with pytest.raises(ValueError, match="before start"):
        download_klines(tmp_path, "binance", ["BTCUSDT"], ["1h"], MAY2, MAY1, base_url="http://127.0.0.1:9")


def test_cli_prints_the_summary(tmp_path: Path, vision, capsys) -> None:
    fake, base = vision
    publish(fake, tmp_path, [MAY1])
    bronze = tmp_path / "bronze"
    argv = ["--bronze-root", str(bronze), "--exchange", "binance-futures", "--symbols", "btcusdt", "--intervals", "1h"]
    code = main([*argv, "--start", "2024-05-01", "--end", "2024-05-02", "--base-url", base])
    out = capsys.readouterr().out
    assert code == 0
    assert "downloaded 1, skipped 0 (already verified), missing 1 (not published), failed 0" in out
    assert f"missing: {rel('2024-05-02')}" in out
    assert (bronze / rel("2024-05-01")).is_file()
