"""Binance Vision sample generator: byte-identical, format-exact files the plugin reads back."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import zipfile
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from vendors.binance_vision import BinanceVisionPlugin
from vendors.binance_vision.sample import BAD_KINDS, NON_NUMERIC, main, write_sample_klines

MAY1, MAY2 = dt.date(2024, 5, 1), dt.date(2024, 5, 2)
MARKETS = {"binance": ["BTCUSDT"], "binance-futures": ["ETHUSDT", "SOLUSDT"]}
PLAIN = re.compile(r"^[0-9]+\.[0-9]+$")


def member(path: Path) -> tuple[zipfile.ZipInfo, bytes]:
    with zipfile.ZipFile(path) as zf:
        (info,) = zf.infolist()
        return info, zf.read(info)


def test_byte_identical_across_runs_with_valid_checksums(tmp_path: Path) -> None:
    first = write_sample_klines(tmp_path / "a", MARKETS, [MAY1, MAY2], bad_rows=True)
    second = write_sample_klines(tmp_path / "b", MARKETS, [MAY2, MAY1], bad_rows=True)
    assert [f.rel_path for f in first.files] == [f.rel_path for f in second.files]
    assert len(first.files) == 3 * 2 * 2  # symbols x days x (1h, 1d)
    assert first.bad_rows == second.bad_rows
    for f in first.files:
        data = (tmp_path / "a" / f.rel_path).read_bytes()
        assert data == (tmp_path / "b" / f.rel_path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f.sha256
        name = Path(f.rel_path).name
        assert (tmp_path / "a" / (f.rel_path + ".CHECKSUM")).read_text() == f"{f.sha256}  {name}\n"


def test_other_seed_other_numbers(tmp_path: Path) -> None:
    a = write_sample_klines(tmp_path / "a", {"binance": ["BTCUSDT"]}, [MAY1], seed=1)
    b = write_sample_klines(tmp_path / "b", {"binance": ["BTCUSDT"]}, [MAY1], seed=2)
    assert a.files[0].sha256 != b.files[0].sha256


def test_files_are_in_binance_format(tmp_path: Path) -> None:
    manifest = write_sample_klines(tmp_path, MARKETS, [MAY1], ("1m", "1h", "1d"))
    for f in manifest.files:
        info, data = member(tmp_path / f.rel_path)
        assert info.filename == Path(f.rel_path).stem + ".csv"
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert data.endswith(b"\n") and not data.startswith(b"open_time")
        rows = [line.split(",") for line in data.decode().splitlines()]
        assert len(rows) == f.rows == {"1m": 1440, "1h": 24, "1d": 1}[f.interval]
        interval_ms = {"1m": 60_000, "1h": 3_600_000, "1d": 86_400_000}[f.interval]
        for n, row in enumerate(rows):
            assert len(row) == 12 and row[11] == "0"
            assert int(row[0]) == 1_714_521_600_000 + n * interval_ms  # ms, 13 digits
            assert int(row[6]) == int(row[0]) + interval_ms - 1  # inclusive close_time
            assert row[8].isdigit()
            for value in (*row[1:6], row[7], row[9], row[10]):
                assert PLAIN.match(value), value
            if f.exchange == "binance":  # spot prints 8 decimals everywhere
                assert all(len(v.split(".")[1]) == 8 for v in (*row[1:6], row[7], row[9], row[10]))
            high, low = Decimal(row[2]), Decimal(row[3])
            assert high >= max(Decimal(row[1]), Decimal(row[4])) and low <= min(Decimal(row[1]), Decimal(row[4]))


def test_daily_bar_agrees_with_its_hourly_bars(tmp_path: Path) -> None:
    manifest = write_sample_klines(tmp_path, {"binance-futures": ["BTCUSDT"]}, [MAY1])
    plugin = BinanceVisionPlugin()
    files = {f.data_type: f for f in plugin.discover(tmp_path)}
    hours = plugin.read_events(files["klines_1h"], "kline_1h")
    (day,) = plugin.read_events(files["klines_1d"], "kline_1d").iter_rows(named=True)
    assert len(manifest.files) == 2
    assert day["open"] == hours["open"][0] and day["close"] == hours["close"][-1]
    assert Decimal(day["high"]) == max(map(Decimal, hours["high"]))
    assert Decimal(day["low"]) == min(map(Decimal, hours["low"]))
    for col in ("volume", "quote_volume", "taker_buy_base_volume", "taker_buy_quote_volume", "trade_count"):
        assert Decimal(day[col]) == sum(map(Decimal, hours[col])), col


def test_bad_rows_are_where_the_manifest_says(tmp_path: Path) -> None:
    manifest = write_sample_klines(tmp_path, MARKETS, [MAY1], bad_rows=True)
    plugin = BinanceVisionPlugin()
    files = {f.rel_path: f for f in plugin.discover(tmp_path)}
    hourly = sorted(f.rel_path for f in manifest.files if f.interval == "1h")
    assert sorted(manifest.bad_rows) == hourly  # 1d files have a single row: nothing to spoil
    assert manifest.expected_quarantine() == {"high_below_low": 3, "not_a_number:close": 3}
    for rel_path, lines in manifest.bad_rows.items():
        assert set(lines.values()) == set(BAD_KINDS)
        frame = plugin.read_events(files[rel_path], "kline_1h")
        for line, kind in lines.items():
            row = frame.filter(pl.col("file_line") == line).row(0, named=True)
            if kind == "high_below_low":
                assert Decimal(row["high"]) < Decimal(row["low"])
            else:
                assert row["close"] == NON_NUMERIC
        clean = frame.filter(~pl.col("file_line").is_in(list(lines)))
        assert (clean["high"].str.to_decimal(scale=9) >= clean["low"].str.to_decimal(scale=9)).all()


def test_monthly_file_is_the_month_of_daily_files(tmp_path: Path) -> None:
    monthly = write_sample_klines(tmp_path / "m", {"binance": ["BTCUSDT"]}, [MAY2], ("1h",), period="monthly")
    (f,) = monthly.files
    assert (f.period, f.date, f.rows, Path(f.rel_path).name) == ("monthly", MAY1, 31 * 24, "BTCUSDT-1h-2024-05.zip")
    may = [MAY1 + dt.timedelta(days=n) for n in range(31)]
    daily = write_sample_klines(tmp_path / "d", {"binance": ["BTCUSDT"]}, may, ("1h",))
    concatenated = b"".join(member(tmp_path / "d" / d.rel_path)[1] for d in daily.files)
    assert member(tmp_path / "m" / f.rel_path)[1] == concatenated
    (file,) = BinanceVisionPlugin().discover(tmp_path / "m")
    assert (file.extra["period"], file.window_end_us - file.window_start_us) == ("monthly", 31 * 86_400_000_000)


def test_rejects_what_binance_vision_does_not_have(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown exchange"):
        write_sample_klines(tmp_path, {"kraken": ["XBTUSD"]}, [MAY1])
    with pytest.raises(ValueError, match="unknown kline interval"):
        write_sample_klines(tmp_path, {"binance": ["BTCUSDT"]}, [MAY1], ("1w",))


def test_cli(tmp_path: Path, capsys) -> None:
    code = main(["--bronze-root", str(tmp_path), "--market", "binance=BTCUSDT", "--days", "1", "--bad-rows"])
    assert code == 0
    out = capsys.readouterr().out
    assert "wrote 2 files, 25 rows" in out and "1 x high_below_low" in out
    assert len(BinanceVisionPlugin().discover(tmp_path)) == 2
