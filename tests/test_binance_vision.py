"""Binance Vision plugin: contract, discovery and parsing, on the real Binance kline files zipped at test time."""

from __future__ import annotations

import datetime as dt
import hashlib
import zipfile
from pathlib import Path

import polars as pl
import pytest

from pointline.schemas import KLINE_INTERVALS_US, get_table_spec
from vendors.base import INSTRUMENT_COLUMNS, BronzeFile, BronzeFileError, VendorPlugin
from vendors.binance_vision import BinanceVisionPlugin

DAY1 = "ADABTC-1m-2021-11-27"
DAY2 = "ADABTC-1m-2021-11-28"
ADA_DIR = "binance_vision/exchange=binance/type=klines/interval=1m/symbol=ADABTC"
DAY1_START_US = 1_637_971_200_000_000  # 2021-11-27T00:00Z
MINUTE_US = 60_000_000
HEADER = (
    b"open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore"
)
FIRST_ROW = (
    "binance",
    "ADABTC",
    "1637971200000000",
    "1637971260000000",
    "0.00002853",
    "0.00002854",
    "0.00002851",
    "0.00002854",
    "36304.20000000",
    "1.03547608",
    "79",
    "19523.00000000",
    "0.55694227",
    1,
)


@pytest.fixture()
def klines(real_fixtures: Path) -> Path:
    path = real_fixtures / "binance" / "klines"
    if not (path / f"{DAY1}.csv").is_file() or not (path / f"{DAY2}.csv").is_file():
        pytest.skip(f"real Binance kline samples missing under {path}")
    return path


def write_zip(target: Path, member: str, data: bytes, *, checksum: bool = True) -> Path:
    """A Binance-style zip (one CSV member) plus, optionally, its sha256sum-format .CHECKSUM."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member, data)
    if checksum:
        digest = hashlib.sha256(target.read_bytes()).hexdigest()
        target.with_name(target.name + ".CHECKSUM").write_text(f"{digest}  {target.name}\n")
    return target


def bronze_zip(root: Path, stem: str, data: bytes, *, folder: str = ADA_DIR, checksum: bool = True) -> Path:
    return write_zip(root / folder / f"{stem}.zip", f"{stem}.csv", data, checksum=checksum)


def only_file(plugin: BinanceVisionPlugin, root: Path) -> BronzeFile:
    (file,) = plugin.discover(root)
    return file


def read(root: Path, stem: str, data: bytes, table: str = "kline_1m") -> pl.DataFrame:
    bronze_zip(root, stem, data)
    plugin = BinanceVisionPlugin()
    return plugin.read_events(only_file(plugin, root), table)


def lines_of(klines: Path, stem: str) -> list[bytes]:
    return (klines / f"{stem}.csv").read_bytes().splitlines()


# ---- contract --------------------------------------------------------------------------------


def test_plugin_implements_the_contract(tmp_path: Path) -> None:
    plugin = BinanceVisionPlugin()
    assert isinstance(plugin, VendorPlugin)
    assert (plugin.name, plugin.subdir) == ("binance_vision", "binance_vision")
    assert plugin.reference_files(tmp_path) == []
    versions = plugin.instrument_versions(tmp_path)
    assert versions.is_empty() and versions.schema == pl.Schema(INSTRUMENT_COLUMNS)
    assert plugin.discover(tmp_path) == [] and plugin.unrecognized(tmp_path) == []


def test_routes_cover_every_kline_interval() -> None:
    routes = BinanceVisionPlugin().routes()
    assert routes == {f"klines_{i}": f"kline_{i}" for i in KLINE_INTERVALS_US}
    assert routes["klines_1h"] == "kline_1h"
    for table in routes.values():
        get_table_spec(table)  # every routed table exists in the registry


# ---- real files ------------------------------------------------------------------------------


def test_real_daily_file_discovered_and_parsed_exactly(tmp_path: Path, klines: Path) -> None:
    zipped = bronze_zip(tmp_path, DAY1, (klines / f"{DAY1}.csv").read_bytes())
    plugin = BinanceVisionPlugin()
    file = only_file(plugin, tmp_path)
    assert file == BronzeFile(
        vendor="binance_vision",
        data_type="klines_1m",
        path=zipped.absolute(),
        rel_path=f"{ADA_DIR}/{DAY1}.zip",
        exchange="binance",
        date=dt.date(2021, 11, 27),
        symbol="ADABTC",
        size=zipped.stat().st_size,
        mtime_ns=zipped.stat().st_mtime_ns,
        window_start_us=DAY1_START_US,
        window_end_us=DAY1_START_US + 86_400_000_000,
        extra={"interval": "1m", "period": "daily"},
    )

    frame = plugin.read_events(file, "kline_1m")
    spec = get_table_spec("kline_1m")
    assert frame.columns == [c.name for c in spec.source_columns]
    assert frame.schema == pl.Schema({**dict.fromkeys(frame.columns[:-1], pl.String), "file_line": pl.Int64})
    assert frame.height == 10
    assert frame.row(0) == FIRST_ROW
    assert frame["file_line"].to_list() == list(range(1, 11))
    opens = frame["ts_open_us"].cast(pl.Int64)
    assert opens.to_list() == [DAY1_START_US + n * MINUTE_US for n in range(10)]
    assert (frame["ts_close_us"].cast(pl.Int64) - opens).to_list() == [MINUTE_US] * 10  # exclusive end


def test_both_real_days_sorted_with_their_windows(tmp_path: Path, klines: Path) -> None:
    for stem in (DAY2, DAY1):
        bronze_zip(tmp_path, stem, (klines / f"{stem}.csv").read_bytes())
    plugin = BinanceVisionPlugin()
    files = plugin.discover(tmp_path)
    assert [f.date for f in files] == [dt.date(2021, 11, 27), dt.date(2021, 11, 28)]
    assert files[1].window_start_us == files[0].window_end_us
    second = plugin.read_events(files[1], "kline_1m")
    assert second.height == 11
    assert second.row(0)[2:5] == ("1638057600000000", "1638057660000000", "0.00002820")
    assert plugin.unrecognized(tmp_path) == []  # .CHECKSUM files belong to the layout


def test_header_row_is_dropped_and_lines_stay_physical(tmp_path: Path, klines: Path) -> None:
    frame = read(tmp_path, DAY1, HEADER + b"\n" + (klines / f"{DAY1}.csv").read_bytes())
    assert frame.height == 10
    assert frame["file_line"].to_list() == list(range(2, 12))
    assert frame.row(0)[:-1] == FIRST_ROW[:-1]


def test_a_data_row_with_bad_time_is_never_taken_for_a_header(tmp_path: Path, klines: Path) -> None:
    lines = lines_of(klines, DAY1)
    lines[0] = b"x" + lines[0]  # first field not digits, but the row has numbers: data
    frame = read(tmp_path, DAY1, b"\n".join(lines) + b"\n")
    assert frame.height == 10
    assert frame.row(0)[2] == "x1637971200000"  # passed through: the core reports not_an_integer


def test_microsecond_spot_files_from_2025(tmp_path: Path, klines: Path) -> None:
    """From 2025-01-01 spot files carry µs; close_time is then open + interval - 1 µs."""
    out = []
    for line in lines_of(klines, DAY1):
        fields = line.split(b",")
        fields[0] = fields[0] + b"000"
        fields[6] = str(int(fields[6]) * 1000 + 999).encode()
        out.append(b",".join(fields))
    frame = read(tmp_path, DAY1, b"\n".join(out) + b"\n")
    assert frame.row(0) == FIRST_ROW
    assert (frame["ts_close_us"].cast(pl.Int64) - frame["ts_open_us"].cast(pl.Int64)).to_list() == [MINUTE_US] * 10


def test_unit_is_decided_per_value_and_non_integers_pass_through(tmp_path: Path, klines: Path) -> None:
    lines = lines_of(klines, DAY1)[:4]
    lines[1] = lines[1].replace(b"1637971260000,", b"1637971260000000,", 1)  # µs next to ms rows
    lines[2] = lines[2].replace(b"1637971320000,", b"1637971320000.5,", 1).replace(b",1637971379999,", b",abc,")
    lines[3] = lines[3].replace(b",1637971439999,", b",99999999999999999999,")  # beyond Int64
    frame = read(tmp_path, DAY1, b"\n".join(lines) + b"\n")
    assert frame["ts_open_us"].to_list() == [
        "1637971200000000",
        "1637971260000000",
        "1637971320000.5",
        "1637971380000000",
    ]
    assert frame["ts_close_us"].to_list()[2:] == ["abc", "99999999999999999999"]


def test_numbers_stay_vendor_text(tmp_path: Path, klines: Path) -> None:
    lines = lines_of(klines, DAY1)[:1]
    lines[0] = lines[0].replace(b"0.00002853", b"2.853E-5", 1)
    frame = read(tmp_path, DAY1, lines[0] + b"\n")
    assert frame.row(0)[4:8] == ("2.853E-5", "0.00002854", "0.00002851", "0.00002854")


def test_blank_lines_are_null_rows_with_physical_line_numbers(tmp_path: Path, klines: Path) -> None:
    lines = lines_of(klines, DAY1)
    data = b"\n" + b"\n".join(lines[:3]) + b"\n\r\n" + b"\n".join(lines[3:]) + b"\n\n"
    frame = read(tmp_path, DAY1, data)
    assert frame["file_line"].to_list() == list(range(1, 14))
    text = [c for c in frame.columns if c != "file_line"]
    blank = frame.select(pl.all_horizontal(pl.col(c).is_null() for c in text)).to_series().to_list()
    assert [n for n, is_blank in enumerate(blank, start=1) if is_blank] == [1, 5, 13]
    assert frame.filter(pl.col("file_line") == 6).row(0)[2] == "1637971380000000"  # 4th data row on line 6


def test_header_only_file_has_no_rows(tmp_path: Path) -> None:
    frame = read(tmp_path, DAY1, HEADER + b"\n")
    assert frame.is_empty()
    assert frame.columns == [c.name for c in get_table_spec("kline_1m").source_columns]


# ---- monthly files ---------------------------------------------------------------------------


def test_monthly_file_covers_the_whole_month(tmp_path: Path, klines: Path) -> None:
    data = (klines / f"{DAY1}.csv").read_bytes() + (klines / f"{DAY2}.csv").read_bytes()
    bronze_zip(tmp_path, "ADABTC-1m-2021-11", data)
    bronze_zip(tmp_path, "ADABTC-1m-2021-12", (klines / f"{DAY1}.csv").read_bytes(), checksum=False)
    plugin = BinanceVisionPlugin()
    november, december = plugin.discover(tmp_path)
    assert (november.date, november.extra) == (dt.date(2021, 11, 1), {"interval": "1m", "period": "monthly"})
    assert november.window_start_us == 1_635_724_800_000_000  # 2021-11-01T00:00Z
    assert november.window_end_us == 1_638_316_800_000_000  # 2021-12-01T00:00Z
    assert (december.window_start_us, december.window_end_us) == (1_638_316_800_000_000, 1_640_995_200_000_000)
    frame = plugin.read_events(november, "kline_1m")
    assert frame.height == 21
    assert frame["file_line"].to_list() == list(range(1, 22))


# ---- discovery -------------------------------------------------------------------------------


def test_discovery_and_unrecognized(tmp_path: Path, klines: Path) -> None:
    data = (klines / f"{DAY1}.csv").read_bytes()
    good = [
        "binance_vision/exchange=binance-futures/type=klines/interval=1h/symbol=BTCUSDT/BTCUSDT-1h-2024-05-01.zip",
        "binance_vision/exchange=binance-coin-futures/type=klines/interval=1d/symbol=BTCUSD_PERP/BTCUSD_PERP-1d-2024-05.zip",
        f"{ADA_DIR}/{DAY1}.zip",
    ]
    bad = [
        "binance_vision/exchange=kraken/type=klines/interval=1h/symbol=XBTUSD/XBTUSD-1h-2024-05-01.zip",
        "binance_vision/exchange=binance/type=klines/interval=1w/symbol=BTCUSDT/BTCUSDT-1w-2024-05-01.zip",
        "binance_vision/exchange=binance/type=trades/interval=1h/symbol=BTCUSDT/BTCUSDT-1h-2024-05-01.zip",
        "binance_vision/exchange=binance/type=klines/interval=1h/symbol=BTCUSDT/BTCUSDT-1h-2024-02-30.zip",
        "binance_vision/exchange=binance/type=klines/interval=1h/symbol=BTCUSDT/BTCUSDT-1h-2024-13.zip",
        "binance_vision/exchange=binance/type=klines/interval=1h/symbol=BTCUSDT/ETHUSDT-1h-2024-05-01.zip",
        "binance_vision/exchange=binance/type=klines/interval=1h/symbol=BTCUSDT/BTCUSDT-1m-2024-05-01.zip",
        "binance_vision/exchange=binance/type=klines/interval=1h/symbol=BTCUSDT/BTCUSDT-1h-2024-05-01.csv",
        "binance_vision/exchange=binance/type=klines/interval=1h/symbol=BTCUSDT/BTCUSDT-1h-2024-05-01.zip.part",
        "binance_vision/exchange=binance/type=klines/interval=1h/BTCUSDT-1h-2024-05-01.zip",
        "binance_vision/exchange=binance/type=klines/interval=1h/symbol=BTCUSDT/extra/BTCUSDT-1h-2024-05-01.zip",
        "binance_vision/BTCUSDT-1h-2024-05-01.zip",
        "binance_vision/notes.txt",
    ]
    for rel in good:
        write_zip(tmp_path / rel, Path(rel).stem + ".csv", data)
    for rel in bad:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    (tmp_path / "tardis").mkdir()
    (tmp_path / "tardis" / "other-vendor.csv").write_text("not ours")

    plugin = BinanceVisionPlugin()
    files = plugin.discover(tmp_path)
    assert [f.rel_path for f in files] == sorted(good)
    assert [(f.exchange, f.symbol, f.data_type, f.extra["period"]) for f in files] == [
        ("binance-coin-futures", "BTCUSD_PERP", "klines_1d", "monthly"),
        ("binance-futures", "BTCUSDT", "klines_1h", "daily"),
        ("binance", "ADABTC", "klines_1m", "daily"),
    ]
    assert plugin.unrecognized(tmp_path) == sorted((tmp_path / rel).absolute() for rel in bad)


def test_subdir_option(tmp_path: Path, klines: Path) -> None:
    bronze_zip(tmp_path, DAY1, (klines / f"{DAY1}.csv").read_bytes(), folder=ADA_DIR.replace("binance_vision", "bv2"))
    assert BinanceVisionPlugin().discover(tmp_path) == []
    (file,) = BinanceVisionPlugin(subdir="bv2").discover(tmp_path)
    assert file.rel_path.startswith("bv2/exchange=binance/")


# ---- files that cannot be read ---------------------------------------------------------------


def test_checksum_mismatch_names_file_and_both_hashes(tmp_path: Path, klines: Path) -> None:
    zipped = bronze_zip(tmp_path, DAY1, (klines / f"{DAY1}.csv").read_bytes())
    wrong = "0" * 64
    zipped.with_name(zipped.name + ".CHECKSUM").write_text(f"{wrong}  {zipped.name}\n")
    plugin = BinanceVisionPlugin()
    with pytest.raises(BronzeFileError) as err:
        plugin.read_events(only_file(plugin, tmp_path), "kline_1m")
    actual = hashlib.sha256(zipped.read_bytes()).hexdigest()
    assert DAY1 in str(err.value) and wrong in str(err.value) and actual in str(err.value)


def test_malformed_checksum_file(tmp_path: Path, klines: Path) -> None:
    zipped = bronze_zip(tmp_path, DAY1, (klines / f"{DAY1}.csv").read_bytes())
    zipped.with_name(zipped.name + ".CHECKSUM").write_text("<html>rate limited</html>")
    plugin = BinanceVisionPlugin()
    with pytest.raises(BronzeFileError, match="unreadable checksum file"):
        plugin.read_events(only_file(plugin, tmp_path), "kline_1m")


@pytest.mark.parametrize("damage", ["truncated", "garbage", "bad_crc"])
def test_corrupt_zip(tmp_path: Path, klines: Path, damage: str) -> None:
    zipped = bronze_zip(tmp_path, DAY1, (klines / f"{DAY1}.csv").read_bytes() * 50, checksum=False)
    raw = zipped.read_bytes()
    if damage == "truncated":
        zipped.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        zipped.write_bytes(b"<html>not found</html>")
    else:  # flip a byte inside the deflate stream: zipfile's CRC check catches it
        zipped.write_bytes(raw[:60] + bytes([raw[60] ^ 0xFF]) + raw[61:])
    plugin = BinanceVisionPlugin()
    with pytest.raises(BronzeFileError, match="corrupt or truncated zip") as err:
        plugin.read_events(only_file(plugin, tmp_path), "kline_1m")
    assert err.value.path == str(zipped.absolute())


@pytest.mark.parametrize("members", [0, 2])
def test_zip_must_hold_exactly_one_csv(tmp_path: Path, members: int) -> None:
    target = tmp_path / ADA_DIR / f"{DAY1}.zip"
    target.parent.mkdir(parents=True)
    with zipfile.ZipFile(target, "w") as zf:
        for n in range(members):
            zf.writestr(f"part{n}.csv", b"1,2\n")
    plugin = BinanceVisionPlugin()
    with pytest.raises(BronzeFileError, match=f"exactly one CSV member in the zip, found {members}"):
        plugin.read_events(only_file(plugin, tmp_path), "kline_1m")


def test_empty_csv_member(tmp_path: Path) -> None:
    with pytest.raises(BronzeFileError, match="is empty"):
        read(tmp_path, DAY1, b"")


@pytest.mark.parametrize(
    ("line", "edit", "message"),
    [
        (4, lambda b: b.rsplit(b",", 1)[0], "line 4 has 11 fields"),
        (6, lambda b: b + b",7", "line 6 has 13 fields"),
        (1, lambda b: b.rsplit(b",", 2)[0], "line 1 has 10 fields"),
        (3, lambda b: b.replace(b"0.00002859", b"0.0000\xff2859", 1), "line 3 is not valid UTF-8"),
    ],
)
def test_ragged_lines_and_bad_utf8_name_the_line(tmp_path: Path, klines: Path, line: int, edit, message: str) -> None:
    lines = lines_of(klines, DAY1)
    lines[line - 1] = edit(lines[line - 1])
    with pytest.raises(BronzeFileError, match=message):
        read(tmp_path, DAY1, b"\n".join(lines) + b"\n")


def test_table_must_match_the_route(tmp_path: Path, klines: Path) -> None:
    bronze_zip(tmp_path, DAY1, (klines / f"{DAY1}.csv").read_bytes())
    plugin = BinanceVisionPlugin()
    file = only_file(plugin, tmp_path)
    for table in ("kline_1h", "trades"):
        with pytest.raises(BronzeFileError, match="feeds table 'kline_1m'"):
            plugin.read_events(file, table)
