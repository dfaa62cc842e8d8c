"""CoinGecko plugin: asset map, snapshot writer, discovery, parsing to the staged frame, sample data."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import polars as pl
import pytest

from pointline.config import ConfigError
from pointline.schemas import DIM_ASSET_STATS
from vendors.base import INSTRUMENT_COLUMNS, BronzeFileError, VendorPlugin
from vendors.coingecko import CoinGeckoPlugin, load_asset_map
from vendors.coingecko.sample import SAMPLE_COINS, SAMPLE_UNMAPPED_COIN, write_sample_snapshots
from vendors.coingecko.snapshot import write_snapshot

REPO = Path(__file__).resolve().parents[1]
TS = 1_714_566_900_123_456  # 2024-05-01T12:35:00.123456Z
DAY_START = 1_714_521_600_000_000
REL = f"coingecko/type=asset_stats/date=2024-05-01/snapshot_ts={TS}/coingecko_markets_{TS}.jsonl.gz"
STAGED = [c.name for c in DIM_ASSET_STATS.source_columns]

BTC = (
    '{"id":"bitcoin","symbol":"btc","name":"Bitcoin","current_price":60123.45,"market_cap":1183424593231,'
    '"fully_diluted_valuation":1262592450000,"total_volume":27683834939,"circulating_supply":19675962.0,'
    '"total_supply":21000000.0,"max_supply":21000000.0,"last_updated":"2024-05-01T12:34:56.789Z"}'
)
ETH = (
    '{"id":"ethereum","symbol":"eth","name":"Ethereum","current_price":3015.27,"market_cap":362183735121,'
    '"fully_diluted_valuation":362183735121,"circulating_supply":120121361.526396,"total_supply":120121361.526396,'
    '"max_supply":null,"last_updated":"2024-05-01T12:35:02.112Z"}'
)
BIG = (
    '{"id":"big-supply-token","symbol":"big","current_price":1.2e-09,"market_cap":0,"fully_diluted_valuation":null,'
    '"circulating_supply":1.23456789012345e+18,"total_supply":1.23456789012345E+18,"max_supply":null,'
    '"last_updated":"yesterday"}'
)
UNMAPPED = '{"id":"kaspa","symbol":"kas","current_price":0.1241,"circulating_supply":23632215817.4,"last_updated":null}'


@pytest.fixture
def asset_csv(tmp_path: Path) -> Path:
    path = tmp_path / "assets.csv"
    path.write_text("base_asset,coin_id\nBTC,bitcoin\nETH,ethereum\nBIG,big-supply-token\n")
    return path


def _envelope(record: str, ts: int = TS) -> str:
    head = json.dumps(
        {
            "schema_version": 1,
            "vendor": "coingecko",
            "dataset": "coins_markets",
            "captured_at_us": ts,
            "snapshot_ts_us": ts,
            "partitions": {"date": "2024-05-01"},
            "request": {"vs_currency": "usd", "ids": []},
        },
        separators=(",", ":"),
    )
    return head[:-1] + ',"record":' + record + "}"


def _write_raw(root: Path, text: str | bytes, rel: str = REL, compress: bool = True) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode() if isinstance(text, str) else text
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def _read(root: Path, asset_csv: Path) -> pl.DataFrame:
    plugin = CoinGeckoPlugin(asset_map=str(asset_csv))
    (file,) = plugin.discover(root)
    return plugin.read_events(file, "dim_asset_stats")


# --- contract -----------------------------------------------------------------------------------


def test_plugin_implements_the_contract(tmp_path: Path) -> None:
    plugin = CoinGeckoPlugin()
    assert isinstance(plugin, VendorPlugin)
    assert (plugin.name, plugin.subdir) == ("coingecko", "coingecko")
    assert plugin.routes() == {"asset_stats": "dim_asset_stats"}
    assert plugin.reference_files(tmp_path) == []
    versions = plugin.instrument_versions(tmp_path)
    assert versions.is_empty() and versions.schema == pl.Schema(INSTRUMENT_COLUMNS)
    assert plugin.discover(tmp_path) == [] and plugin.unrecognized(tmp_path) == []


def test_default_asset_map_follows_config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert CoinGeckoPlugin().asset_map_path == REPO / "config" / "coingecko_assets.csv"
    monkeypatch.setenv("POINTLINE_CONFIG_DIR", str(tmp_path))
    assert CoinGeckoPlugin().asset_map_path == tmp_path / "coingecko_assets.csv"
    assert CoinGeckoPlugin(asset_map="/x/y.csv").asset_map_path == Path("/x/y.csv")


# --- asset map ----------------------------------------------------------------------------------


def test_config_asset_map_loads() -> None:
    frame = load_asset_map(REPO / "config" / "coingecko_assets.csv")
    assert frame.columns == ["base_asset", "coin_id"]
    assert frame.schema == pl.Schema({"base_asset": pl.String, "coin_id": pl.String})
    assert 30 <= frame.height <= 45
    pairs = dict(frame.iter_rows())
    assert pairs["BTC"] == "bitcoin" and pairs["AVAX"] == "avalanche-2" and pairs["TON"] == "the-open-network"
    assert pairs["MATIC"] == "matic-network" and pairs["POL"] == "polygon-ecosystem-token"
    assert SAMPLE_UNMAPPED_COIN not in pairs.values()  # the demo's quarantine trap depends on it


def test_asset_map_default_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "coingecko_assets.csv").write_text("base_asset,coin_id\n BTC , bitcoin \n\nETH,ethereum\n")
    monkeypatch.setenv("POINTLINE_CONFIG_DIR", str(tmp_path))
    assert load_asset_map().rows() == [("BTC", "bitcoin"), ("ETH", "ethereum")]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("BTC,bitcoin\nETH,ethereum\nBTC,wrapped-bitcoin\n", ":4: duplicate base_asset 'BTC' (first on line 2)"),
        ("BTC,bitcoin\nXBT,bitcoin\n", ":3: duplicate coin_id 'bitcoin' (first on line 2)"),
        ("BTC,bitcoin\nETH,\n", ":3: empty base_asset or coin_id"),
    ],
)
def test_asset_map_rejects_bad_rows(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "assets.csv"
    path.write_text("base_asset,coin_id\n" + body)
    with pytest.raises(ConfigError) as info:
        load_asset_map(path)
    assert str(info.value).startswith(f"{path}:") and message in str(info.value)


def test_asset_map_rejects_wrong_header_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "assets.csv"
    path.write_text("asset,id\nBTC,bitcoin\n")
    with pytest.raises(ConfigError, match=r"assets.csv:1: missing column"):
        load_asset_map(path)
    with pytest.raises(ConfigError, match="nope.csv"):
        load_asset_map(tmp_path / "nope.csv")


# --- snapshot writer ----------------------------------------------------------------------------


def test_write_snapshot_layout_envelope_and_no_overwrite(tmp_path: Path) -> None:
    path = write_snapshot(tmp_path, [BTC, ETH], TS, request_ids=["bitcoin", "ethereum", "gone"])
    assert path == tmp_path / REL
    lines = gzip.decompress(path.read_bytes()).decode().split("\n")
    assert lines[-1] == "" and len(lines) == 3
    first = json.loads(lines[0])
    assert list(first) == [
        "schema_version",
        "vendor",
        "dataset",
        "captured_at_us",
        "snapshot_ts_us",
        "partitions",
        "request",
        "record",
    ]
    assert first["partitions"] == {"date": "2024-05-01"}
    assert first["request"] == {"vs_currency": "usd", "ids": ["bitcoin", "ethereum", "gone"]}
    assert lines[0].endswith(',"record":' + BTC + "}")  # the record's text, verbatim

    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        write_snapshot(tmp_path, [ETH], TS)
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_write_snapshot_is_deterministic_and_flattens_newlines(tmp_path: Path) -> None:
    pretty = '{\n  "id": "bitcoin",\r\n  "circulating_supply": 19675962.0,\n  "name": "a\\nb"\n}'
    a = write_snapshot(tmp_path / "a", [pretty], TS)
    b = write_snapshot(tmp_path / "b", [pretty], TS)
    assert a.read_bytes() == b.read_bytes()
    (line,) = gzip.decompress(a.read_bytes()).decode().splitlines()
    assert json.loads(line)["request"]["ids"] == ["bitcoin"]  # default: the records' ids
    record = json.loads(line, parse_float=str)["record"]
    assert record == {"id": "bitcoin", "circulating_supply": "19675962.0", "name": "a\nb"}


@pytest.mark.parametrize("records", [[], ["[1, 2]"], ["{not json"]])
def test_write_snapshot_refuses_bad_input(tmp_path: Path, records: list[str]) -> None:
    with pytest.raises(ValueError):
        write_snapshot(tmp_path, records, TS)
    assert not (tmp_path / "coingecko").exists() or not any((tmp_path / "coingecko").rglob("*.gz"))


# --- discovery ----------------------------------------------------------------------------------


def test_discover_one_file_per_snapshot(tmp_path: Path) -> None:
    write_snapshot(tmp_path, [BTC], TS)
    later = TS + 86_400_000_000
    write_snapshot(tmp_path, [BTC], later)
    plugin = CoinGeckoPlugin()
    first, second = plugin.discover(tmp_path)
    assert first.rel_path == REL and first.path == (tmp_path / REL).absolute()
    assert (first.vendor, first.data_type, first.exchange, first.symbol) == ("coingecko", "asset_stats", "", None)
    assert first.date == dt.date(2024, 5, 1)
    assert (first.window_start_us, first.window_end_us) == (DAY_START, DAY_START + 86_400_000_000)
    assert first.extra == {"snapshot_ts_us": str(TS)}
    assert first.size == (tmp_path / REL).stat().st_size
    assert second.date == dt.date(2024, 5, 2) and second.extra == {"snapshot_ts_us": str(later)}
    assert plugin.unrecognized(tmp_path) == []


def test_unrecognized_lists_everything_else(tmp_path: Path) -> None:
    write_snapshot(tmp_path, [BTC], TS)
    snap = f"snapshot_ts={TS}"
    strays = [
        "coingecko/README.txt",
        f"coingecko/type=asset_stats/date=2024-05-01/{snap}/coingecko_markets_{TS}.jsonl.gz.123-ab.part",
        f"coingecko/type=asset_stats/date=2024-05-01/{snap}/coingecko_markets_{TS + 1}.jsonl.gz",  # name != dir
        f"coingecko/type=asset_stats/date=2024-05-02/{snap}/coingecko_markets_{TS}.jsonl.gz",  # wrong day
        f"coingecko/type=asset_stats/date=2024-02-30/{snap}/coingecko_markets_{TS}.jsonl.gz",  # no such day
        f"coingecko/type=coins/date=2024-05-01/{snap}/coingecko_markets_{TS}.jsonl.gz",
        f"coingecko/type=asset_stats/date=2024-05-01/coingecko_markets_{TS}.jsonl.gz",
    ]
    for rel in strays:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    (tmp_path / "tardis").mkdir()
    (tmp_path / "tardis/other.csv").write_text("not ours")
    plugin = CoinGeckoPlugin()
    assert [f.rel_path for f in plugin.discover(tmp_path)] == [REL]
    assert plugin.unrecognized(tmp_path) == sorted((tmp_path / r).absolute() for r in strays)


def test_subdir_option(tmp_path: Path) -> None:
    write_snapshot(tmp_path, [BTC], TS, subdir="coingecko-staging")
    assert CoinGeckoPlugin().discover(tmp_path) == []
    (file,) = CoinGeckoPlugin(subdir="coingecko-staging").discover(tmp_path)
    assert file.rel_path.startswith("coingecko-staging/type=asset_stats/")


# --- parsing ------------------------------------------------------------------------------------


def test_staged_frame_contract_and_exact_text(tmp_path: Path, asset_csv: Path) -> None:
    write_snapshot(tmp_path, [BTC, ETH, BIG, UNMAPPED], TS)
    frame = _read(tmp_path, asset_csv)
    assert frame.columns == STAGED
    assert frame.schema == pl.Schema({c: (pl.Int64 if c == "file_line" else pl.String) for c in STAGED})
    assert frame.rows(named=True)[0] == {
        "base_asset": "BTC",
        "coin_id": "bitcoin",
        "circulating_supply": "19675962.0",
        "total_supply": "21000000.0",
        "max_supply": "21000000.0",
        "market_cap_usd": "1183424593231",
        "fully_diluted_valuation_usd": "1262592450000",
        "price_usd": "60123.45",
        "vendor_updated_us": "1714566896789000",  # 2024-05-01T12:34:56.789Z
        "snapshot_ts_us": str(TS),
        "source": "coingecko",
        "file_line": 1,
    }
    assert frame["max_supply"].to_list() == ["21000000.0", None, None, None]  # JSON null -> null
    big = frame.row(2, named=True)
    assert (big["circulating_supply"], big["total_supply"]) == ("1.23456789012345e+18", "1.23456789012345E+18")
    assert (big["price_usd"], big["market_cap_usd"], big["fully_diluted_valuation_usd"]) == ("1.2e-09", "0", None)
    assert big["vendor_updated_us"] == "yesterday"  # unparseable: kept raw so the core reports it
    unmapped = frame.row(3, named=True)
    assert (unmapped["base_asset"], unmapped["coin_id"], unmapped["vendor_updated_us"]) == (None, "kaspa", None)
    assert unmapped["total_supply"] is None  # field absent from the record
    assert frame["file_line"].to_list() == [1, 2, 3, 4]


def test_line_numbers_are_physical(tmp_path: Path, asset_csv: Path) -> None:
    _write_raw(tmp_path, "\n" + _envelope(BTC) + "\n\n  \n" + _envelope(ETH) + "\r\n")
    frame = _read(tmp_path, asset_csv)
    assert frame["file_line"].to_list() == [2, 5]
    assert frame["coin_id"].to_list() == ["bitcoin", "ethereum"]


def test_asset_map_changes_are_picked_up(tmp_path: Path, asset_csv: Path) -> None:
    write_snapshot(tmp_path, [BTC, UNMAPPED], TS)
    assert _read(tmp_path, asset_csv)["base_asset"].to_list() == ["BTC", None]
    asset_csv.write_text("base_asset,coin_id\nXBT,bitcoin\nKAS,kaspa\n")
    assert _read(tmp_path, asset_csv)["base_asset"].to_list() == ["XBT", "KAS"]


def test_snapshot_ts_comes_from_the_envelope(tmp_path: Path, asset_csv: Path) -> None:
    _write_raw(tmp_path, _envelope(BTC, ts=TS + 5) + "\n")
    assert _read(tmp_path, asset_csv)["snapshot_ts_us"].to_list() == [str(TS + 5)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (_envelope(BTC) + "\n{not json\n", "line 2 is not valid JSON"),
        (_envelope(BTC) + "\n" + _envelope(ETH)[:-40] + "\n", "line 2 is not valid JSON"),
        ('{"schema_version":1,"vendor":"coingecko"}\n', "line 1: envelope has no 'record' object"),
        (_envelope(BTC) + '\n{"schema_version":1,"record":null}\n', "line 2: envelope has no 'record' object"),
        ("[1,2]\n", "line 1 is not a snapshot envelope"),
        (_envelope(BTC).replace('"schema_version":1', '"schema_version":2') + "\n", "unsupported schema_version"),
        ("", "holds no records"),
        ("\n\n", "holds no records"),
    ],
)
def test_unreadable_content_is_a_bronze_file_error(tmp_path: Path, asset_csv: Path, content: str, message: str) -> None:
    path = _write_raw(tmp_path, content)
    with pytest.raises(BronzeFileError) as info:
        _read(tmp_path, asset_csv)
    assert info.value.path == str(path.absolute()) and message in str(info.value)


def test_invalid_utf8_names_the_line(tmp_path: Path, asset_csv: Path) -> None:
    _write_raw(tmp_path, (_envelope(BTC) + "\n").encode() + b'{"x":"\xff"}\n')
    with pytest.raises(BronzeFileError, match="line 2 is not valid UTF-8"):
        _read(tmp_path, asset_csv)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty file"),
        (gzip.compress((_envelope(BTC) + "\n").encode())[:-12], "truncated or corrupt gzip"),
        ((_envelope(BTC) + "\n").encode(), "not a gzip file"),
    ],
)
def test_broken_gzip_is_a_bronze_file_error(tmp_path: Path, asset_csv: Path, data: bytes, message: str) -> None:
    _write_raw(tmp_path, data, compress=False)
    with pytest.raises(BronzeFileError, match=message):
        _read(tmp_path, asset_csv)


def test_wrong_table_is_refused(tmp_path: Path) -> None:
    write_snapshot(tmp_path, [BTC], TS)
    plugin = CoinGeckoPlugin()
    (file,) = plugin.discover(tmp_path)
    with pytest.raises(BronzeFileError, match="cannot be read as 'trades'"):
        plugin.read_events(file, "trades")


# --- sample -------------------------------------------------------------------------------------


def test_sample_snapshots_are_deterministic_and_parse(tmp_path: Path) -> None:
    first = write_sample_snapshots(tmp_path / "a", 2)
    second = write_sample_snapshots(tmp_path / "b", 2)
    assert [p.read_bytes() for p in first.paths] == [p.read_bytes() for p in second.paths]
    assert write_sample_snapshots(tmp_path / "a", 2) == first  # re-running is a no-op
    assert first.unmapped == (SAMPLE_UNMAPPED_COIN,) and first.records == 2 * len(SAMPLE_COINS)

    plugin = CoinGeckoPlugin()
    files = plugin.discover(tmp_path / "a")
    assert [f.date for f in files] == [dt.date(2024, 5, 1), dt.date(2024, 5, 2)]
    frame = pl.concat([plugin.read_events(f, "dim_asset_stats") for f in files])
    assert frame.height == 2 * len(SAMPLE_COINS)
    assert frame.filter(pl.col("base_asset").is_null())["coin_id"].unique().to_list() == [SAMPLE_UNMAPPED_COIN]
    required = ["coin_id", "circulating_supply", "price_usd", "market_cap_usd", "vendor_updated_us", "snapshot_ts_us"]
    assert frame.select(pl.col(required).null_count()).row(0) == (0,) * len(required)
    # Every value the core will coerce is a number or a µs timestamp not after the snapshot.
    assert frame.select(pl.col("price_usd", "circulating_supply").cast(pl.Float64).min()).row(0) > (0, 0)
    assert (frame["vendor_updated_us"].cast(pl.Int64) <= frame["snapshot_ts_us"].cast(pl.Int64)).all()
    assert frame.filter(pl.col("coin_id") == "ethereum")["max_supply"].to_list() == [None, None]


def test_sample_records_look_like_coins_markets(tmp_path: Path) -> None:
    (path, _) = write_sample_snapshots(tmp_path, 2).paths
    line = gzip.decompress(path.read_bytes()).decode().splitlines()[0]
    record = json.loads(line)["record"]
    assert list(record)[:9] == [
        "id",
        "symbol",
        "name",
        "image",
        "current_price",
        "market_cap",
        "market_cap_rank",
        "fully_diluted_valuation",
        "total_volume",
    ]
    assert {"circulating_supply", "total_supply", "max_supply", "ath", "atl", "roi", "last_updated"} <= set(record)
    assert '"circulating_supply":19675962.0' in line and record["last_updated"].endswith("Z")


def test_sample_refuses_to_overwrite_a_different_file(tmp_path: Path) -> None:
    (path, _) = write_sample_snapshots(tmp_path, 2).paths
    path.write_bytes(b"tampered")
    with pytest.raises(FileExistsError):
        write_sample_snapshots(tmp_path, 2)
    assert path.read_bytes() == b"tampered"
