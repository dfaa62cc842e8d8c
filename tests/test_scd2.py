"""dim_symbol SCD Type 2: building, forward upserts, history rebuilds, overrides, validation."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from pointline import ids, scd2
from pointline.scd2 import BackdatedChangeError
from pointline.schemas import DIM_SYMBOL, SchemaValidationError
from vendors.base import INSTRUMENT_COLUMNS

OPEN = ids.VALID_UNTIL_OPEN
REPO = Path(__file__).resolve().parents[1]
T0 = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z
T1 = T0 + 86_400_000_000
T2 = T1 + 86_400_000_000
T3 = T2 + 86_400_000_000


def independent_symbol_id(exchange: str, exchange_symbol: str, valid_from_us: int) -> int:
    """Written from the decision record, not from pointline.ids."""
    digest = hashlib.blake2b(f"{exchange}|{exchange_symbol}|{valid_from_us}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, byteorder="little", signed=True)


def snap_row(exchange: str, symbol: str, **kw) -> dict:
    base = symbol.removesuffix("USDT")
    row = {
        "exchange": exchange,
        "exchange_symbol": symbol,
        "instrument_type": "spot",
        "base_asset": base,
        "quote_asset": "USDT",
        "price_increment": "0.01",
        "amount_increment": "0.0001",
        "contract_multiplier": "1",
        "expiry_us": None,
        "source": "tardis",
    }
    row.update(kw)
    return row


def snapshot(*rows: dict) -> pl.DataFrame:
    schema = {c: INSTRUMENT_COLUMNS[c] for c in scd2.SNAPSHOT_COLUMNS}
    return pl.DataFrame(list(rows), schema=schema)


def version(exchange: str, symbol: str, valid_from: int, valid_until: int | None = None, **kw) -> dict:
    return {"valid_from_us": valid_from, "valid_until_us": valid_until, **snap_row(exchange, symbol, **kw)}


def versions(*rows: dict) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=INSTRUMENT_COLUMNS)


def windows(dim: pl.DataFrame, symbol: str, exchange: str = "binance") -> list[tuple[int, int, bool]]:
    rows = dim.filter((pl.col("exchange") == exchange) & (pl.col("exchange_symbol") == symbol))
    return rows.sort("valid_from_us").select("valid_from_us", "valid_until_us", "is_current").rows()


@pytest.fixture
def dim0() -> pl.DataFrame:
    return scd2.bootstrap(
        snapshot(
            snap_row("binance", "BTCUSDT"),
            snap_row("binance", "ETHUSDT", base_asset=None),
            snap_row("okx", "BTC-USDT"),
        ),
        T0,
    )


# --------------------------------------------------------------------------- symbol_id


def test_symbol_id_matches_an_independent_blake2b_and_a_pinned_value():
    expected = independent_symbol_id("binance", "BTCUSDT", T0)
    assert ids.symbol_id("binance", "BTCUSDT", T0) == expected
    # Pinned so that a change of the recipe (separator, encoding, byte order) is caught even if
    # both implementations drift together; docs/decisions/0002-symbol-id.md quotes this value.
    assert expected == 7_210_000_642_939_748_627
    # A key whose digest has the top bit set: signed little-endian gives a negative id.
    assert ids.symbol_id("okx", "BTC-USDT", T0) == independent_symbol_id("okx", "BTC-USDT", T0)
    assert ids.symbol_id("okx", "BTC-USDT", T0) == -4_163_111_135_980_711_500
    assert ids.symbol_id("binance", "BTCUSDT", T0 + 1) != expected
    assert ids.symbol_id("binance-futures", "BTCUSDT", T0) != expected


def test_dim_symbol_ids_are_the_hash_of_each_row(dim0):
    for row in dim0.iter_rows(named=True):
        assert row["symbol_id"] == independent_symbol_id(row["exchange"], row["exchange_symbol"], row["valid_from_us"])


def test_one_million_synthetic_symbols_have_no_symbol_id_collision():
    n = 1_000_000
    frame = pl.DataFrame({"i": pl.int_range(n, eager=True)}).select(
        pl.format("ex{}", pl.col("i") % 25).alias("exchange"),
        pl.format("SYM{}", pl.col("i")).alias("exchange_symbol"),
        (T0 + (pl.col("i") % 1000) * 1_000_000).alias("valid_from_us"),
    )
    sid = ids.symbol_ids(frame["exchange"], frame["exchange_symbol"], frame["valid_from_us"])
    assert sid.len() == n and sid.null_count() == 0
    assert sid.n_unique() == n


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_opens_every_key_at_effective_time_with_exact_decimals(dim0):
    assert dim0.columns == DIM_SYMBOL.names
    assert dim0.schema == DIM_SYMBOL.polars_schema
    assert dim0.height == 3
    assert dim0["valid_from_us"].to_list() == [T0] * 3
    assert dim0["valid_until_us"].to_list() == [OPEN] * 3
    assert dim0["is_current"].all()
    btc = dim0.filter(pl.col("exchange_symbol") == "BTCUSDT").row(0, named=True)
    assert btc["price_increment"] == Decimal("0.01")
    assert btc["amount_increment"] == Decimal("0.0001")
    assert btc["contract_multiplier"] == Decimal("1")
    assert dim0.select("exchange", "exchange_symbol").rows() == sorted(
        dim0.select("exchange", "exchange_symbol").rows()
    )


def test_bootstrap_rejects_duplicate_keys_and_window_columns():
    with pytest.raises(ValueError, match="duplicate key.*binance/BTCUSDT"):
        scd2.bootstrap(snapshot(snap_row("binance", "BTCUSDT"), snap_row("binance", "BTCUSDT")), T0)
    with pytest.raises(ValueError, match="window column"):
        scd2.bootstrap(versions(version("binance", "BTCUSDT", T0)), T0)


# --------------------------------------------------------------------------- upsert


def test_upsert_adds_new_key_as_open_row_and_leaves_others(dim0):
    snap = snapshot(
        snap_row("binance", "BTCUSDT"), snap_row("binance", "ETHUSDT", base_asset=None), snap_row("binance", "SOLUSDT")
    )
    out = scd2.upsert(dim0, snap, T1)
    assert windows(out, "SOLUSDT") == [(T1, OPEN, True)]
    assert out.filter(pl.col("exchange_symbol") != "SOLUSDT").equals(dim0)
    sol = out.filter(pl.col("exchange_symbol") == "SOLUSDT")
    assert sol["symbol_id"].item() == independent_symbol_id("binance", "SOLUSDT", T1)


def test_upsert_changed_tick_size_closes_current_and_opens_new(dim0):
    snap = snapshot(
        snap_row("binance", "BTCUSDT", price_increment="0.1"), snap_row("binance", "ETHUSDT", base_asset=None)
    )
    out = scd2.upsert(dim0, snap, T1)
    assert windows(out, "BTCUSDT") == [(T0, T1, False), (T1, OPEN, True)]
    new = out.filter((pl.col("exchange_symbol") == "BTCUSDT") & pl.col("is_current")).row(0, named=True)
    assert new["price_increment"] == Decimal("0.1")
    old = out.filter((pl.col("exchange_symbol") == "BTCUSDT") & ~pl.col("is_current")).row(0, named=True)
    assert old["symbol_id"] == dim0.filter(pl.col("exchange_symbol") == "BTCUSDT")["symbol_id"].item()
    assert windows(out, "ETHUSDT") == [(T0, OPEN, True)]


def test_upsert_same_decimal_written_differently_is_not_a_change(dim0):
    snap = snapshot(
        snap_row("binance", "BTCUSDT", price_increment="0.010", contract_multiplier="1.000"),
        snap_row("binance", "ETHUSDT", base_asset=""),  # empty text is null, as in dim0
    )
    assert scd2.upsert(dim0, snap, T1) is dim0


def test_upsert_null_to_value_and_value_to_null_are_changes(dim0):
    snap = snapshot(snap_row("binance", "BTCUSDT", base_asset=None), snap_row("binance", "ETHUSDT", base_asset="ETH"))
    out = scd2.upsert(dim0, snap, T1)
    assert windows(out, "ETHUSDT") == [(T0, T1, False), (T1, OPEN, True)]
    assert windows(out, "BTCUSDT") == [(T0, T1, False), (T1, OPEN, True)]
    current = out.filter(pl.col("is_current") & (pl.col("exchange") == "binance")).sort("exchange_symbol")
    assert current["base_asset"].to_list() == [None, "ETH"]


def test_upsert_no_change_returns_identical_frame(dim0):
    snap = snapshot(snap_row("binance", "BTCUSDT"), snap_row("binance", "ETHUSDT", base_asset=None))
    out = scd2.upsert(dim0, snap, T1)
    assert out is dim0
    assert out.equals(dim0)


def test_upsert_into_empty_dim_equals_bootstrap_and_typed_snapshot_round_trips(dim0):
    snap = snapshot(snap_row("binance", "BTCUSDT"), snap_row("okx", "BTC-USDT", expiry_us=T3))
    assert scd2.upsert(DIM_SYMBOL.empty(), snap, T0).equals(scd2.bootstrap(snap, T0))
    # The current rows of a dim, as a typed (Decimal) snapshot, are no change at all.
    current = dim0.filter(pl.col("is_current")).select(scd2.SNAPSHOT_COLUMNS)
    assert current["price_increment"].dtype == DIM_SYMBOL.column("price_increment").dtype
    assert scd2.upsert(dim0, current, T1) is dim0


def test_upsert_implicit_delisting_closes_missing_key_at_effective_time(dim0):
    out = scd2.upsert(dim0, snapshot(snap_row("binance", "BTCUSDT")), T1)
    assert windows(out, "ETHUSDT") == [(T0, T1, False)]
    assert windows(out, "BTCUSDT") == [(T0, OPEN, True)]
    # re-running the same snapshot is a no-op
    assert scd2.upsert(out, snapshot(snap_row("binance", "BTCUSDT")), T2) is out


def test_upsert_explicit_delistings_close_only_listed_keys_at_their_own_time():
    dim = scd2.bootstrap(
        snapshot(snap_row("binance", "BTCUSDT"), snap_row("binance", "ETHUSDT"), snap_row("binance", "XRPUSDT")), T0
    )
    delistings = pl.DataFrame(
        {"exchange": ["binance"], "exchange_symbol": ["ETHUSDT"], "delisted_at_us": [T1 + 5]},
        schema=scd2.DELISTING_COLUMNS,
    )
    # XRPUSDT is missing from the snapshot but not listed: it stays current.
    out = scd2.upsert(dim, snapshot(snap_row("binance", "BTCUSDT")), T2, delistings=delistings)
    assert windows(out, "ETHUSDT") == [(T0, T1 + 5, False)]
    assert windows(out, "XRPUSDT") == [(T0, OPEN, True)]
    assert windows(out, "BTCUSDT") == [(T0, OPEN, True)]
    # already delisted: applying the same delisting again changes nothing
    assert scd2.upsert(out, snapshot(snap_row("binance", "BTCUSDT")), T3, delistings=delistings) is out


def test_upsert_rejects_a_key_both_in_snapshot_and_delistings(dim0):
    delistings = pl.DataFrame(
        {"exchange": ["binance"], "exchange_symbol": ["BTCUSDT"], "delisted_at_us": [T1]}, schema=scd2.DELISTING_COLUMNS
    )
    with pytest.raises(ValueError, match="both delisted and present.*binance/BTCUSDT"):
        scd2.upsert(dim0, snapshot(snap_row("binance", "BTCUSDT")), T1, delistings=delistings)


def test_upsert_is_scoped_to_exchanges_in_the_snapshot(dim0):
    # okx is absent from the snapshot: its BTC-USDT must not be delisted.
    out = scd2.upsert(dim0, snapshot(snap_row("binance", "BTCUSDT", price_increment="0.5")), T1)
    assert windows(out, "BTC-USDT", exchange="okx") == [(T0, OPEN, True)]
    assert windows(out, "ETHUSDT") == [(T0, T1, False)]  # binance is in scope
    assert windows(out, "BTCUSDT") == [(T0, T1, False), (T1, OPEN, True)]


@pytest.mark.parametrize("when", [T0 - 1, T0], ids=["backdated", "same_timestamp"])
def test_upsert_backdated_or_same_timestamp_change_raises(dim0, when):
    snap = snapshot(
        snap_row("binance", "BTCUSDT", price_increment="0.1"), snap_row("binance", "ETHUSDT", base_asset=None)
    )
    with pytest.raises(BackdatedChangeError) as err:
        scd2.upsert(dim0, snap, when)
    message = str(err.value)
    assert "binance/BTCUSDT" in message
    assert str(when) in message and str(T0) in message
    assert "rebuild_from_history" in message
    assert isinstance(err.value, ValueError)


def test_upsert_backdated_delisting_and_relisting_raise(dim0):
    delistings = pl.DataFrame(
        {"exchange": ["binance"], "exchange_symbol": ["ETHUSDT"], "delisted_at_us": [T0]}, schema=scd2.DELISTING_COLUMNS
    )
    with pytest.raises(BackdatedChangeError, match="binance/ETHUSDT"):
        scd2.upsert(dim0, snapshot(snap_row("binance", "BTCUSDT")), T1, delistings=delistings)

    delisted = scd2.upsert(dim0, snapshot(snap_row("binance", "BTCUSDT")), T2)  # ETHUSDT closes at T2
    relist = snapshot(snap_row("binance", "BTCUSDT"), snap_row("binance", "ETHUSDT", base_asset=None))
    with pytest.raises(BackdatedChangeError, match=f"binance/ETHUSDT.*{T1}.*{T2}"):
        scd2.upsert(delisted, relist, T1)
    out = scd2.upsert(delisted, relist, T3)
    assert windows(out, "ETHUSDT") == [(T0, T2, False), (T3, OPEN, True)]


def test_upsert_rejects_inexact_decimal_naming_key_and_field(dim0):
    with pytest.raises(ValueError, match=r"binance/BTCUSDT.*price_increment='0\.0000000001'"):
        scd2.upsert(dim0, snapshot(snap_row("binance", "BTCUSDT", price_increment="0.0000000001")), T1)


# --------------------------------------------------------------------------- versions_to_dim


def test_versions_to_dim_matches_dim_symbol_and_opens_null_until():
    dim = scd2.versions_to_dim(
        versions(
            version("binance", "BTCUSDT", T0, T1, amount_increment=""),
            version("binance", "BTCUSDT", T1, None, price_increment="0.1"),
        )
    )
    assert dim.schema == DIM_SYMBOL.polars_schema
    assert windows(dim, "BTCUSDT") == [(T0, T1, False), (T1, OPEN, True)]
    assert dim["amount_increment"].to_list() == [None, Decimal("0.0001")]
    assert dim["symbol_id"].to_list() == [
        independent_symbol_id("binance", "BTCUSDT", T0),
        independent_symbol_id("binance", "BTCUSDT", T1),
    ]


@pytest.mark.parametrize("text", ["1e-5", "0.0000000001", "abc", "1,5", "12345678901234567890123456789012"])
def test_versions_to_dim_rejects_inexact_increment_naming_exchange_symbol_field(text):
    with pytest.raises(ValueError) as err:
        scd2.versions_to_dim(versions(version("okx", "ETH-USDT", T0, amount_increment=text)))
    assert "okx/ETH-USDT" in str(err.value) and "amount_increment" in str(err.value) and text in str(err.value)


def test_versions_to_dim_rejects_float_decimals():
    frame = versions(version("okx", "ETH-USDT", T0)).with_columns(pl.col("price_increment").cast(pl.Float64))
    with pytest.raises(ValueError, match="price_increment.*floats are not exact"):
        scd2.versions_to_dim(frame)


# --------------------------------------------------------------------------- rebuild_from_history


def test_rebuild_fills_until_from_next_version_and_keeps_gaps():
    dim = scd2.rebuild_from_history(
        versions(
            version("binance", "LUNAUSDT", T2, None, price_increment="0.001"),  # relisted after a gap
            version("binance", "LUNAUSDT", T0, None),
            version("binance", "LUNAUSDT", T1 - 10, T1, price_increment="0.1"),  # delisted at T1
        )
    )
    assert windows(dim, "LUNAUSDT") == [(T0, T1 - 10, False), (T1 - 10, T1, False), (T2, OPEN, True)]
    assert dim.schema == DIM_SYMBOL.polars_schema
    scd2.validate_dim(dim)


def test_rebuild_merges_identical_consecutive_versions_keeping_the_earlier_id():
    dim = scd2.rebuild_from_history(
        versions(
            version("binance", "BTCUSDT", T0),
            version("binance", "BTCUSDT", T1, price_increment="0.010"),  # same value, other text
            version("binance", "BTCUSDT", T2, price_increment="0.1"),
            version("binance", "ETHUSDT", T0, T1),
            version("binance", "ETHUSDT", T2),  # identical but after a gap: kept apart
        )
    )
    assert windows(dim, "BTCUSDT") == [(T0, T2, False), (T2, OPEN, True)]
    first = dim.filter((pl.col("exchange_symbol") == "BTCUSDT") & (pl.col("valid_from_us") == T0))
    assert first["symbol_id"].item() == independent_symbol_id("binance", "BTCUSDT", T0)
    assert windows(dim, "ETHUSDT") == [(T0, T1, False), (T2, OPEN, True)]


def test_rebuild_is_deterministic_regardless_of_input_order():
    rows = [version("binance", "BTCUSDT", t, price_increment=p) for t, p in [(T0, "1"), (T1, "2"), (T2, "3")]]
    rows += [version("okx", "BTC-USDT", T1)]
    assert scd2.rebuild_from_history(versions(*rows)).equals(scd2.rebuild_from_history(versions(*reversed(rows))))


def test_rebuild_overlap_raises_naming_key_and_both_windows():
    with pytest.raises(ValueError) as err:
        scd2.rebuild_from_history(
            versions(version("binance", "BTCUSDT", T0, T2), version("binance", "BTCUSDT", T1, T3, price_increment="1"))
        )
    message = str(err.value)
    assert "overlap" in message and "binance/BTCUSDT" in message
    assert f"[{T0}, {T2})" in message and f"[{T1}, {T3})" in message


def test_rebuild_duplicate_start_raises():
    with pytest.raises(ValueError, match=f"duplicate.*binance/BTCUSDT valid_from_us={T0}"):
        scd2.rebuild_from_history(
            versions(version("binance", "BTCUSDT", T0), version("binance", "BTCUSDT", T0, price_increment="1"))
        )


def test_rebuild_window_ending_before_start_raises():
    with pytest.raises(ValueError, match="ending at or before"):
        scd2.rebuild_from_history(versions(version("binance", "BTCUSDT", T1, T0)))


def test_rebuild_of_nothing_is_an_empty_dim():
    assert scd2.rebuild_from_history(pl.DataFrame()).schema == DIM_SYMBOL.polars_schema
    assert scd2.rebuild_from_history(pl.DataFrame(schema=INSTRUMENT_COLUMNS)).height == 0


# --------------------------------------------------------------------------- overrides


def test_apply_overrides_replaces_matching_version_and_adds_new_ones():
    vendor = versions(version("binance", "BTCUSDT", T0), version("binance", "ETHUSDT", T0))
    overrides = versions(
        version("binance", "BTCUSDT", T0, price_increment="0.5", source=""),
        version("binance", "ETHUSDT", T1, price_increment="0.05", source=None),
    )
    out = scd2.apply_overrides(vendor, overrides)
    assert out.schema == pl.Schema(INSTRUMENT_COLUMNS)
    got = out.select("exchange_symbol", "valid_from_us", "price_increment", "source").rows()
    assert got == [
        ("BTCUSDT", T0, "0.5", "override"),
        ("ETHUSDT", T0, "0.01", "tardis"),
        ("ETHUSDT", T1, "0.05", "override"),
    ]
    dim = scd2.rebuild_from_history(out)
    assert windows(dim, "ETHUSDT") == [(T0, T1, False), (T1, OPEN, True)]


def test_apply_overrides_rejects_two_overrides_of_one_version():
    overrides = versions(version("binance", "BTCUSDT", T0), version("binance", "BTCUSDT", T0, price_increment="1"))
    with pytest.raises(ValueError, match="more than one override"):
        scd2.apply_overrides(versions(), overrides)


def test_load_overrides_header_only_file_is_empty_with_instrument_dtypes(tmp_path):
    path = tmp_path / "symbol_overrides.csv"
    path.write_text(",".join(INSTRUMENT_COLUMNS) + "\n")
    frame = scd2.load_overrides(path)
    assert frame.height == 0
    assert frame.schema == pl.Schema(INSTRUMENT_COLUMNS)


def test_repository_overrides_file_loads():
    frame = scd2.load_overrides(REPO / "config" / "symbol_overrides.csv")
    assert frame.schema == pl.Schema(INSTRUMENT_COLUMNS)


def test_load_overrides_parses_rows_and_empty_cells_as_null(tmp_path):
    path = tmp_path / "o.csv"
    path.write_text(
        ",".join(INSTRUMENT_COLUMNS) + "\nbinance,BTCUSDT,1704067200000000,,spot,BTC,USDT,0.01,,1,,manual fix\n"
    )
    frame = scd2.load_overrides(path)
    row = frame.row(0, named=True)
    assert row["valid_from_us"] == T0 and row["valid_until_us"] is None
    assert row["price_increment"] == "0.01" and row["amount_increment"] is None
    dim = scd2.rebuild_from_history(scd2.apply_overrides(versions(), frame))
    assert dim["source"].to_list() == ["override"]


def test_load_overrides_errors_name_file_line_and_field(tmp_path):
    path = tmp_path / "o.csv"
    path.write_text(",".join(INSTRUMENT_COLUMNS) + "\nbinance,BTCUSDT,1704067200000000,,spot,BTC,USDT,0.01,1e-3,1,,\n")
    with pytest.raises(ValueError, match=r"o\.csv: line 2 field amount_increment='1e-3'"):
        scd2.load_overrides(path)
    path.write_text("exchange,symbol\nbinance,BTCUSDT\n")
    with pytest.raises(ValueError, match="header must be exactly"):
        scd2.load_overrides(path)
    path.write_text("")
    with pytest.raises(ValueError, match="empty file"):
        scd2.load_overrides(path)


# --------------------------------------------------------------------------- validate_dim


def _valid_dim() -> pl.DataFrame:
    return scd2.rebuild_from_history(
        versions(
            version("binance", "BTCUSDT", T0, price_increment="0.1"),
            version("binance", "BTCUSDT", T1),
            version("binance", "ETHUSDT", T0, T2),
        )
    )


def _set(dim: pl.DataFrame, symbol: str, valid_from: int, **values) -> pl.DataFrame:
    hit = (pl.col("exchange_symbol") == symbol) & (pl.col("valid_from_us") == valid_from)
    return dim.with_columns(
        [pl.when(hit).then(pl.lit(v, dtype=dim.schema[c])).otherwise(pl.col(c)).alias(c) for c, v in values.items()]
    )


def test_validate_dim_accepts_a_valid_dim():
    scd2.validate_dim(_valid_dim())


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: _set(d, "ETHUSDT", T0, valid_until_us=T0), "valid_until_us <= valid_from_us"),
        (lambda d: _set(d, "BTCUSDT", T0, valid_until_us=T1 + 1), "overlapping windows"),
        (
            lambda d: _set(d, "BTCUSDT", T0, valid_until_us=OPEN, is_current=True),
            "more than one current row per key",
        ),
        (lambda d: _set(d, "ETHUSDT", T0, is_current=True), "is_current disagrees"),
        (lambda d: _set(d, "BTCUSDT", T0, symbol_id=12345), "symbol_id is not blake2b-8"),
    ],
    ids=["until_le_from", "overlap", "two_current", "is_current_flag", "wrong_hash"],
)
def test_validate_dim_catches_each_violation(mutate, expected):
    with pytest.raises(ValueError, match=expected):
        scd2.validate_dim(mutate(_valid_dim()))


def test_validate_dim_catches_duplicate_symbol_id():
    dim = _valid_dim()
    dup = pl.concat([dim, dim.filter(pl.col("exchange_symbol") == "ETHUSDT").with_columns(exchange=pl.lit("okx"))])
    with pytest.raises(ValueError, match="duplicate symbol_id") as err:
        scd2.validate_dim(dup)
    assert "symbol_id is not blake2b-8" in str(err.value)  # both problems listed in one error


def test_validate_dim_rejects_wrong_schema():
    with pytest.raises(SchemaValidationError):
        scd2.validate_dim(_valid_dim().drop("source"))
