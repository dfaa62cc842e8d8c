"""Quant360 plugin units: time conversion, phases, code mapping, unpacking (idempotent, corrupt, restart)."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import polars as pl
import pytest

from pointline.phases import load_trading_phases, phases_for, trading_phase_expr
from pointline.trading_day import date_of_us
from vendors.base import BronzeFileError
from vendors.quant360 import Quant360Plugin, unpack
from vendors.quant360.layout import parse_archive_name
from vendors.quant360.reader import cst_to_utc_us
from vendors.quant360.sample import SAMPLE_DATE, write_sample_bronze


def _us(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp()) * 1_000_000


def _convert(*texts: str) -> list[str | None]:
    s = pl.Series("TransactTime", list(texts), dtype=pl.String)
    return cst_to_utc_us(s, "x.csv", pl.Series(range(2, 2 + len(texts)))).to_list()


def test_shanghai_time_to_utc_microseconds():
    assert _convert("20240930091500000") == [str(_us(2024, 9, 30, 1, 15))]
    assert _convert("20240930091500123") == [str(_us(2024, 9, 30, 1, 15) + 123_000)]
    midnight = int(_convert("20240930000000000")[0])
    assert midnight == _us(2024, 9, 29, 16, 0)
    assert date_of_us(midnight, "Asia/Shanghai") == dt.date(2024, 9, 30)  # 16:00 UTC is the next CST day
    assert _convert("") == [None]


@pytest.mark.parametrize("bad", ["2024093009150000", "2024-09-30 09:15:00", "20241330091500000", "1727659500000000x"])
def test_anything_else_is_an_error_naming_file_and_line(bad):
    with pytest.raises(BronzeFileError, match=r"x\.csv: line 3: time"):
        _convert("20240930091500000", bad)


@pytest.mark.parametrize(
    ("clock", "phase"),
    [
        ("09:14:59.999", "closed"),
        ("09:15:00.000", "opening_call"),
        ("09:25:00.000", "opening_call"),  # the opening auction's uncross belongs to the auction
        ("09:25:00.001", "pre_open"),
        ("09:30:00.000", "continuous"),
        ("11:29:59.999", "continuous"),
        ("11:30:00.000", "closed"),  # continuous is [09:30, 11:30)
        ("13:00:00.000", "continuous"),
        ("14:56:59.999", "continuous"),
        ("14:57:00.000", "closing_call"),
        ("15:00:00.000", "closing_call"),  # the closing auction's uncross
        ("15:00:00.001", "closed"),
    ],
)
def test_phase_boundaries(clock, phase):
    ts = int(_convert(SAMPLE_DATE.strftime("%Y%m%d") + clock.replace(":", "").replace(".", ""))[0])
    phases = phases_for(load_trading_phases(), "XSHG")
    got = pl.DataFrame({"t": [ts]}).select(trading_phase_expr("t", "Asia/Shanghai", phases)).item()
    assert got == phase


def test_calendar_without_phases_is_unknown():
    phases = phases_for(load_trading_phases(), "24/7")
    assert pl.DataFrame({"t": [0]}).select(trading_phase_expr("t", "UTC", phases)).item() == "unknown"


def test_archive_names():
    a = parse_archive_name("order_new_STK_SZ_20240930.7z")
    assert (a.stream, a.market, a.exchange, a.date) == ("order_new", "STK", "szse", dt.date(2024, 9, 30))
    assert parse_archive_name("tick_new_STK_SH_20240930.7z").exchange == "sse"
    assert parse_archive_name("order_new_STK_HK_20240930.7z") is None
    assert parse_archive_name("order_new_STK_SZ_20240931.7z") is None


@pytest.fixture()
def sample(tmp_path: Path):
    return tmp_path, write_sample_bronze(tmp_path)


def test_code_mapping_and_unknown_codes_pass_through(sample):
    root, _ = sample
    plugin = Quant360Plugin()
    plugin.unpack(root)
    files = {(f.exchange, f.data_type, f.symbol): f for f in plugin.discover(root)}
    sz = plugin.read_events(files[("szse", "order_new", "000001")], "l3_orders")
    assert set(sz["side"]) == {"buy", "sell", "X"} and set(sz["order_type"]) == {"limit", "best_own"}
    assert sz.filter(pl.col("side") == "X")["side_code"].item() == "X"
    ticks = plugin.read_events(files[("szse", "tick_new", "000002")], "l3_ticks")
    assert ticks["event_kind"].to_list() == ["fill", "Q"] and ticks["aggressor_side"].to_list()[0] == "buy"
    sse = plugin.read_events(files[("sse", "order_new", "600000")], "l3_orders")
    assert set(sse["event_kind"]) == {"add", "cancel"} and "order_type" not in sse.columns
    assert (sse["channel_seq"] == sse["biz_index"]).all()
    mismatch = plugin.read_events(files[("sse", "order_new", "600036")], "l3_orders")
    assert mismatch["source_symbol"].to_list() == ["600519"] and mismatch["symbol"].to_list() == ["600036"]
    l2 = plugin.read_events(files[("szse", "L2_new", "000001")], "l2_snapshots")
    assert l2["bid_price_levels"].list.len().to_list() == [10, 10, 10]
    assert l2["bid_price_levels"][1].to_list()[3:] == [None] * 7


def test_unpack_is_idempotent_and_reports_the_corrupt_archive(sample):
    root, manifest = sample
    plugin = Quant360Plugin()
    first = plugin.unpack(root)
    ok = sorted(n for n, s in manifest.archives.items() if s == "ok")
    assert sorted(Path(p).name for p in first.unpacked) == ok
    (corrupt,) = first.failed
    assert manifest.archives[Path(corrupt).name] == "corrupt"
    assert Path(corrupt).name in first.failed[corrupt]
    files = plugin.discover(root)
    assert files and all(stat.S_IMODE(os.stat(f.path).st_mode) & 0o444 == 0o444 for f in files)
    mtimes = {f.rel_path: f.mtime_ns for f in files}
    second = plugin.unpack(root)
    assert second.unpacked == [] and sorted(Path(p).name for p in second.skipped) == ok and second.members == 0
    assert list(second.failed) == [corrupt]  # still reported, still not fatal
    assert {f.rel_path: f.mtime_ns for f in plugin.discover(root)} == mtimes
    assert {f.exchange for f in files} == {"szse", "sse"} and {f.date for f in files} == {SAMPLE_DATE}
    assert all(f.rel_path.startswith("quant360/unpacked/exchange=") for f in files)


def test_crash_mid_archive_leaves_nothing_done_and_restart_completes(sample, monkeypatch):
    root, _ = sample
    plugin = Quant360Plugin()
    real_replace = os.replace
    calls = {"n": 0}

    def crash_after_first(src, dst):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("simulated crash")
        real_replace(src, dst)

    monkeypatch.setattr(unpack.os, "replace", crash_after_first)
    with pytest.raises(KeyboardInterrupt):
        plugin.unpack(root)
    monkeypatch.setattr(unpack.os, "replace", real_replace)
    leftovers = list((root / "quant360" / "unpacked").rglob("*" + unpack.TMP_SUFFIX))
    assert leftovers  # the temp file of the member being written when it crashed
    assert plugin.discover(root) == []  # no archive counts as done: no marker was written
    report = plugin.unpack(root)
    assert len(report.unpacked) == 5 and len(report.failed) == 1
    assert not list((root / "quant360" / "unpacked").rglob("*" + unpack.TMP_SUFFIX))
    assert len(plugin.discover(root)) == 8


def test_changed_archive_is_unpacked_again(sample):
    root, _ = sample
    plugin = Quant360Plugin()
    plugin.unpack(root)
    archive = root / "quant360" / "order_new_STK_SZ_20240930.7z"
    os.utime(archive, ns=(archive.stat().st_atime_ns, archive.stat().st_mtime_ns + 1_000_000_000))
    assert [Path(p).name for p in plugin.unpack(root).unpacked] == [archive.name]


def test_unrecognized_files_are_reported(sample):
    root, _ = sample
    (root / "quant360" / "notes.txt").write_text("hello")
    plugin = Quant360Plugin()
    plugin.unpack(root)
    assert [p.name for p in plugin.unrecognized(root)] == ["notes.txt"]
