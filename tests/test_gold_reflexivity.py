"""reflexivity_bars: end to end through the real assets (sample Bronze -> dims -> trades and
derivative_ticker -> bars -> reflexivity_bars on temp Delta lakes and a temp Dagster instance), and the
pure build on hand-made frames for the edge cases. Expected rows come from `reference_reflexivity`:
plain loops over the stored rows with `decimal` at 100 digits, sharing no code with
pointline/reflexivity.py."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from dagster import AssetKey, DagsterInstance, instance_for_test, materialize

from pointline.bars import BarSpec
from pointline.config import ConfigError
from pointline.lake import Lake
from pointline.reflexivity import (
    ReflexivitySettings,
    build_reflexivity,
    load_reflexivity_settings,
    parse_reflexivity,
    ticker_rows,
)
from pointline.schemas import BARS, DERIVATIVE_TICKER, DIM_SYMBOL, REFLEXIVITY_BARS, TRADES, validate_frame
from pointline_assets.bars import build_bars_asset
from pointline_assets.dimensions import dim_exchange, dim_symbol
from pointline_assets.events import EVENT_ASSETS
from pointline_assets.gold import DATA_VERSION_TAG, latest_materialization
from pointline_assets.partitions import event_partitions, partition_key
from pointline_assets.reflexivity import build_reflexivity_asset, spot_trades_mapping
from resources.lake import LakeResource
from resources.vendors import VendorsResource
from tests.gold_reference import CTX, exact_sum, local_date
from vendors.tardis.sample import write_sample_bronze

D0, D1, D2, D3 = dt.date(2024, 4, 30), dt.date(2024, 5, 1), dt.date(2024, 5, 2), dt.date(2024, 5, 3)
DAYS = (D1, D2, D3)
FUT, SPOT = "binance-futures", "binance"
FIELDS = ("open_interest", "funding_rate", "mark_price")
trades_asset, ticker_asset = EVENT_ASSETS["trades"], EVENT_ASSETS["derivative_ticker"]


# ---- the independent reference ---------------------------------------------------------------
def reference_reflexivity(
    bars: list[dict], dims: list[dict], spot_trades: list[dict], ticker: list[dict], spot_exchange: str | None, tz: str
) -> dict[tuple[int, int], dict]:
    """{(symbol_id, bar_id): expected row} by plain loops: each perpetual bar, the spot instrument of its
    base/quote valid at ts_end_us - 1 (smallest symbol), the exact sums of that symbol's spot trades in
    [ts_start_us, ts_end_us), and per field the last non-null ticker value with ts_local_us < ts_end_us
    (rows in time, then lineage order; the last prevails)."""
    by_id = {d["symbol_id"]: d for d in dims}
    ticker = sorted(ticker, key=lambda r: (r["ts_local_us"], r["file_id"], r["file_line"]))
    out = {}
    for bar in bars:
        perp = by_id.get(bar["symbol_id"])
        if perp is None or perp["instrument_type"] != "perpetual":
            continue
        start, end = bar["ts_start_us"], bar["ts_end_us"]
        row = {
            "symbol": bar["symbol"],
            "ts_start_us": start,
            "ts_end_us": end,
            "duration_us": end - start,
            "perp_notional": bar["dollar_volume"],
            "base_asset": perp["base_asset"],
            "quote_asset": perp["quote_asset"],
            "spot_exchange": spot_exchange,
            "spot_symbol": None,
            "spot_symbol_id": None,
            "spot_volume": None,
            "spot_notional": None,
            "spot_trade_count": None,
            "speculation_ratio": None,
        }
        candidates = sorted(
            (d["exchange_symbol"], d["symbol_id"])
            for d in dims
            if d["exchange"] == spot_exchange
            and d["instrument_type"] == "spot"
            and (d["base_asset"], d["quote_asset"]) == (perp["base_asset"], perp["quote_asset"])
            and d["valid_from_us"] <= end - 1 < d["valid_until_us"]
        )
        if spot_exchange is not None and candidates:
            symbol, sid = candidates[0]
            inside = [t for t in spot_trades if t["symbol"] == symbol and start <= t["ts_local_us"] < end]
            notional = exact_sum(CTX.multiply(t["price"], t["qty"]) for t in inside)
            row.update(
                spot_symbol=symbol,
                spot_symbol_id=sid,
                spot_volume=exact_sum(t["qty"] for t in inside),
                spot_notional=notional,
                spot_trade_count=len(inside),
            )
            if notional > 0 and not perp["is_inverse"]:
                row["speculation_ratio"] = float(bar["dollar_volume"]) / float(notional)
        for field in FIELDS:
            value, ts = None, None
            for r in ticker:
                if r["symbol"] == bar["symbol"] and r[field] is not None and r["ts_local_us"] < end:
                    value, ts = r[field], r["ts_local_us"]
            row[field], row[f"{field}_ts_us"] = value, ts
        out[(bar["symbol_id"], bar["bar_id"])] = row
    return out


def _assert_matches(stored: pl.DataFrame, expected: dict[tuple[int, int], dict]) -> None:
    got = {(r["symbol_id"], r["bar_id"]): r for r in stored.to_dicts()}
    assert set(got) == set(expected)
    for key, want in expected.items():
        row = got[key]
        ratio = want.pop("speculation_ratio")
        assert {k: row[k] for k in want} == want, key
        assert (row["speculation_ratio"] is None) == (ratio is None), key
        if ratio is not None:
            assert row["speculation_ratio"] == pytest.approx(ratio, rel=1e-12)


# ---- end to end ------------------------------------------------------------------------------
def _checks(result, asset: str) -> dict[str, bool]:
    return {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.asset_check_evaluation_data.asset_key == AssetKey(asset)
    }


def _failure(result) -> str:
    return " ".join(str(e.event_specific_data.error) for e in result.all_events if e.event_type_value == "STEP_FAILURE")


def _data_version(instance: DagsterInstance, asset: str, partition: str) -> str | None:
    record = latest_materialization(instance, asset, partition)
    return None if record is None else record.asset_materialization.tags[DATA_VERSION_TAG]


class Env:
    def __init__(self, root: Path, instance: DagsterInstance):
        self.root, self.instance = root, instance
        lake_res = LakeResource(lake_root=str(root / "lake"), bronze_root=str(root / "bronze"))
        self.resources = {"lake": lake_res, "vendors": VendorsResource()}
        self.lake: Lake = lake_res.lake()

    def run(self, assets, key, **kw):
        return materialize(list(assets), instance=self.instance, resources=self.resources, partition_key=key, **kw)


def _dollar_spec(lake: Lake) -> BarSpec:
    """Dollar bars of about a quarter of each perpetual's first-day notional: a few bars a day, most days
    ending with a bar open at midnight (so some bars span it and their spot window starts the day before)."""
    day = lake.read("trades", (pl.col("exchange") == FUT) & (pl.col("date") == D1))
    per_symbol = day.group_by("symbol").agg((pl.col("price").cast(pl.Decimal(38, 18)) * pl.col("qty")).sum())
    overrides = tuple(sorted((s, (n / 4).quantize(Decimal(1))) for s, n in per_symbol.iter_rows()))
    return BarSpec("e2e_dollar", "dollar", Decimal(1), overrides)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("reflexivity")
    (root / "home").mkdir()
    with instance_for_test(temp_dir=str(root / "home")) as instance:
        e = Env(root, instance)
        write_sample_bronze(
            root / "bronze", start=D1, days=3, rows_per_file=1000, data_types=("trades", "derivative_ticker")
        )
        assert materialize([dim_exchange, dim_symbol], instance=instance, resources=e.resources).success
        for day in DAYS:
            assert e.run([trades_asset, ticker_asset], partition_key(day, FUT)).success
        for day in (D1, D2):  # the spot side of day 3 comes later
            assert e.run([trades_asset], partition_key(day, SPOT)).success
        e.spec = _dollar_spec(e.lake)
        e.settings = ReflexivitySettings("e2e_dollar", ((FUT, SPOT),))
        e.bars = build_bars_asset(e.spec)
        e.refl = build_reflexivity_asset(e.settings, e.spec)
        e.without_bars = e.run([e.refl], partition_key(D1, FUT), raise_on_error=False)
        e.results = {day: e.run([e.bars, e.refl], partition_key(day, FUT)) for day in (D1, D2)}
        e.no_spot = e.run([e.bars, e.refl], partition_key(D3, FUT), raise_on_error=False)
        assert e.run([trades_asset], partition_key(D3, SPOT)).success
        e.results[D3] = e.run([e.refl], partition_key(D3, FUT))
        yield e


def test_refuses_without_its_bars_or_its_spot_partition(env):
    assert not env.without_bars.success
    assert "bars_e2e_dollar 2024-05-01|binance-futures is not materialized" in _failure(env.without_bars)
    assert not env.no_spot.success
    message = _failure(env.no_spot)
    assert "trades 2024-05-03|binance" in message and "neither materialized nor in the lake" in message


def test_every_partition_passes_its_checks(env):
    for day, result in env.results.items():
        assert result.success, day
        checks = _checks(result, "reflexivity_bars")
        assert set(checks) == {
            "schema_conformance",
            "rows_match_bars",
            "spot_notional_matches_trades",
            "asof_not_from_future",
        }
        assert all(checks.values()), (day, checks)


def test_rows_equal_the_reference(env):
    stored = env.lake.read("reflexivity_bars", pl.col("exchange") == FUT)
    dims = env.lake.read("dim_symbol").to_dicts()
    spot = env.lake.read("trades", pl.col("exchange") == SPOT).to_dicts()
    for day in DAYS:
        bars = env.lake.read("bars", (pl.col("bar_spec") == "e2e_dollar") & (pl.col("exchange") == FUT))
        bars = bars.filter(pl.col("date") == day).to_dicts()
        ticker = env.lake.read(
            "derivative_ticker",
            (pl.col("exchange") == FUT) & pl.col("date").is_between(day - dt.timedelta(days=1), day),
        ).to_dicts()
        expected = reference_reflexivity(bars, dims, spot, ticker, SPOT, "UTC")
        _assert_matches(stored.filter(pl.col("date") == day), expected)
    # what the sample holds: BTC and ETH pair with binance spot; binance's SOLUSDT is missing from its
    # instruments (quarantined), so the SOLUSDT perpetual has no spot side; it also has no ticker
    by_symbol = {s: g for (s,), g in stored.group_by("symbol")}
    assert set(by_symbol) == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    for symbol in ("BTCUSDT", "ETHUSDT"):
        rows = by_symbol[symbol]
        assert rows["spot_symbol"].to_list() == [symbol] * rows.height
        assert rows["spot_notional"].null_count() == 0 and (rows["spot_trade_count"] > 0).all()
        assert rows["open_interest"].null_count() == 0 and rows["speculation_ratio"].null_count() == 0
    sol = by_symbol["SOLUSDT"]
    assert sol["spot_symbol"].null_count() == sol.height and sol["speculation_ratio"].null_count() == sol.height
    assert sol["spot_exchange"].to_list() == [SPOT] * sol.height


def test_bars_spanning_midnight_sum_the_spot_trades_of_both_days(env):
    stored = env.lake.read("reflexivity_bars", pl.col("exchange") == FUT)
    spanning = stored.filter(
        pl.col("spot_symbol").is_not_null()
        & (pl.col("ts_start_us") < pl.col("date").cast(pl.Datetime("us")).cast(pl.Int64))
    )
    assert spanning.height >= 1
    for row in spanning.iter_rows(named=True):
        first = local_date(row["ts_start_us"], "UTC")
        assert first < row["date"] and len(row["spot_data_versions"]) == (row["date"] - first).days + 1


def test_lineage_columns_name_the_partitions_read(env):
    stored = env.lake.read("reflexivity_bars", pl.col("exchange") == FUT)
    for row in stored.iter_rows(named=True):
        day = row["date"]
        assert row["source_data_version"] == _data_version(
            env.instance, "bars_e2e_dollar", str(partition_key(day, FUT))
        )
        prev = day - dt.timedelta(days=1)
        assert row["ticker_data_versions"] == [
            _data_version(env.instance, "derivative_ticker", str(partition_key(d, FUT))) for d in (prev, day)
        ]
        if row["spot_symbol"] is not None:
            first = local_date(row["ts_start_us"], "UTC")
            days = [first + dt.timedelta(days=i) for i in range((day - first).days + 1)]
            assert row["spot_data_versions"] == [
                _data_version(env.instance, "trades", str(partition_key(d, SPOT))) for d in days
            ]
    assert stored.filter(pl.col("date") == D1)["ticker_data_versions"][0].to_list()[0] is None  # no 2024-04-30


def test_rebuild_gives_identical_rows_and_data_version(env):
    key = partition_key(D2, FUT)
    before = env.lake.read("reflexivity_bars", pl.col("date") == D2)
    version = _data_version(env.instance, "reflexivity_bars", str(key))
    assert env.run([env.refl], key).success
    assert env.lake.read("reflexivity_bars", pl.col("date") == D2).equals(before)
    assert _data_version(env.instance, "reflexivity_bars", str(key)) == version


def test_an_exchange_without_perpetuals_or_spot_pairing_gives_its_own_answer(env):
    """binance (spot) has no perpetuals: an empty partition; the asset needs no spot exchange for it."""
    key = partition_key(D1, SPOT)
    assert env.run([env.bars, env.refl], key).success
    assert env.lake.read("reflexivity_bars", (pl.col("exchange") == SPOT)).is_empty()


def test_partition_mappings(env):
    (node,) = env.refl.specs
    deps = {d.asset_key.to_user_string(): d.partition_mapping for d in node.deps}
    assert set(deps) == {"bars_e2e_dollar", "trades", "derivative_ticker", "dim_symbol"}
    subset = event_partitions.subset_with_partition_keys([str(partition_key(D2, FUT))])

    def upstream(mapping) -> set[str]:
        result = mapping.get_upstream_mapped_partitions_result_for_partitions(
            subset, event_partitions, event_partitions, dynamic_partitions_store=env.instance
        )
        return {str(k) for k in result.partitions_subset.get_partition_keys()}

    assert upstream(deps["trades"]) == {"2024-05-01|binance", "2024-05-02|binance"}
    assert upstream(deps["derivative_ticker"]) == {"2024-05-01|binance-futures", "2024-05-02|binance-futures"}
    assert upstream(deps["bars_e2e_dollar"]) == {"2024-05-02|binance-futures"}

    def downstream(key: str) -> set[str]:
        result = deps["trades"].get_downstream_partitions_for_partitions(
            event_partitions.subset_with_partition_keys([key]),
            event_partitions,
            event_partitions,
            dynamic_partitions_store=env.instance,
        )
        return {str(k) for k in result.get_partition_keys()}

    # a spot trades partition feeds its day and the next, of every exchange (the dimension cannot say
    # which one pairs with it); a perpetual's own trades feed reflexivity_bars only through its bars
    assert {"2024-05-01|binance-futures", "2024-05-02|binance-futures"} <= downstream("2024-05-01|binance")
    assert downstream("2024-05-01|binance-futures") == set()
    assert (
        spot_trades_mapping(ReflexivitySettings("x"))
        .downstream_mappings_by_upstream_dimension["exchange"]
        .partition_mapping.partition_keys
        == []
    )


# ---- the pure build on hand-made frames ------------------------------------------------------
DAY = dt.date(2024, 5, 2)
T0 = 1_714_608_000_000_000  # 2024-05-02 00:00 UTC
PERP, INVERSE, SPOT_ID, SPOT_ID_2 = 11, 12, 21, 22


def _dim(symbol_id, exchange, symbol, kind, base, quote, inverse=False, since=0, until=2**63 - 1) -> dict:
    row = dict.fromkeys(DIM_SYMBOL.names)
    row.update(
        symbol_id=symbol_id,
        exchange=exchange,
        exchange_symbol=symbol,
        valid_from_us=since,
        valid_until_us=until,
        is_current=until == 2**63 - 1,
        instrument_type=kind,
        base_asset=base,
        quote_asset=quote,
        is_inverse=inverse,
        source="test",
    )
    return row


def _bar(symbol_id, symbol, bar_id, start, end, notional="1000") -> dict:
    row = dict.fromkeys(BARS.names)
    price = Decimal("100")
    row.update(
        bar_spec="d",
        date=DAY,
        exchange="perp",
        symbol=symbol,
        symbol_id=symbol_id,
        bar_kind="dollar",
        threshold=Decimal("1000"),
        bar_id=bar_id,
        ts_start_us=start,
        ts_end_us=end,
        ts_first_us=start,
        ts_last_us=end - 1,
        start_date=local_date(start, "UTC"),
        open=price,
        high=price,
        low=price,
        close=price,
        volume=Decimal(notional) / price,
        buy_volume=Decimal(0),
        dollar_volume=Decimal(notional),
        trade_count=3,
    )
    return row


def _spot(symbol, ts, price, qty, line) -> dict:
    row = dict.fromkeys(TRADES.names)
    row.update(
        date=local_date(ts, "UTC"),
        exchange="spot",
        symbol=symbol,
        symbol_id=SPOT_ID,
        ts_local_us=ts,
        ts_exch_us=ts,
        side="buy",
        price=Decimal(price),
        qty=Decimal(qty),
        file_id=1,
        file_line=line,
    )
    return row


def _tick(symbol, ts, line, file_id=5, **values) -> dict:
    row = dict.fromkeys(DERIVATIVE_TICKER.names)
    row.update(
        date=local_date(ts, "UTC"),
        exchange="perp",
        symbol=symbol,
        symbol_id=PERP,
        ts_local_us=ts,
        ts_exch_us=ts,
        file_id=file_id,
        file_line=line,
    )
    row.update({k: Decimal(v) for k, v in values.items()})
    return row


@pytest.fixture
def handmade():
    dims = [
        _dim(PERP, "perp", "XYZUSDT", "perpetual", "XYZ", "USDT"),
        _dim(INVERSE, "perp", "XYZ-PERP", "perpetual", "XYZ", "USD", inverse=True),
        _dim(99, "perp", "XYZ-FUT", "future", "XYZ", "USDT"),
        # the spot instrument changes version (new symbol_id) 50 s into the day; same exchange symbol
        _dim(SPOT_ID, "spot", "XYZUSDT", "spot", "XYZ", "USDT", until=T0 + 50_000_000),
        _dim(SPOT_ID_2, "spot", "XYZUSDT", "spot", "XYZ", "USDT", since=T0 + 50_000_000),
        _dim(23, "spot", "XYZUSD", "spot", "XYZ", "USD", since=T0 + 90_000_000),  # listed late
    ]
    s = 1_000_000
    bars = [
        _bar(PERP, "XYZUSDT", 7, T0 - 30 * s, T0 + 40 * s),  # spans midnight
        _bar(PERP, "XYZUSDT", 8, T0 + 40 * s, T0 + 60 * s),  # no spot trade inside
        _bar(PERP, "XYZUSDT", 9, T0 + 60 * s, T0 + 80 * s),
        _bar(INVERSE, "XYZ-PERP", 3, T0, T0 + 100 * s),  # inverse: spot USD exists only from 90 s
        _bar(99, "XYZ-FUT", 0, T0, T0 + 10 * s),  # a future: not a perpetual
    ]
    spot = [
        _spot("XYZUSDT", T0 - 30 * s, "100.5", "1.25", 1),  # exactly at a window start: inside
        _spot("XYZUSDT", T0 - 1, "99999.999999999", "123456789.123456789", 2),  # huge exact notional
        _spot("XYZUSDT", T0 + 40 * s, "101", "2", 3),  # at bar 7's end = bar 8's start: in bar 8
        _spot("XYZUSDT", T0 + 70 * s, "102", "0.5", 4),
        _spot("XYZUSDT", T0 + 80 * s, "103", "1", 5),  # at bar 9's end: outside every window
        _spot("XYZUSD", T0 + 95 * s, "100", "3", 6),
        _spot("OTHER", T0 + 10 * s, "1", "1", 7),
    ]
    ticker = [
        _tick("XYZUSDT", T0 - 3_600 * s, 1, file_id=4, open_interest="500", funding_rate="0.0001", mark_price="99"),
        _tick("XYZUSDT", T0 - 10 * s, 2, file_id=4, mark_price="100"),  # no open interest in this row
        _tick("XYZUSDT", T0 + 30 * s, 3, open_interest="600"),
        _tick("XYZUSDT", T0 + 30 * s, 4, open_interest="601"),  # same microsecond: the last prevails
        _tick("XYZUSDT", T0 + 40 * s - 1, 5, funding_rate="0.0002"),  # just before bar 7's end: in
        _tick("XYZUSDT", T0 + 40 * s, 6, mark_price="105", open_interest="700"),  # at bar 7's end: not before it
    ]
    return dims, bars, spot, ticker


def _frames(dims, bars, spot, ticker):
    return (
        pl.DataFrame(dims, schema=DIM_SYMBOL.polars_schema),
        pl.DataFrame(bars, schema=BARS.polars_schema),
        pl.DataFrame(spot, schema=TRADES.polars_schema),
        pl.DataFrame(ticker, schema=DERIVATIVE_TICKER.polars_schema),
    )


def _build(dims, bars, spot, ticker_frame, spot_exchange="spot"):
    return build_reflexivity(
        bars,
        dims,
        spot,
        ticker_frame,
        date=DAY,
        exchange="perp",
        timezone="UTC",
        spot_exchange=spot_exchange,
        source_data_version="b",
        spot_versions={DAY - dt.timedelta(days=1): "s1", DAY: "s2"},
        ticker_versions=["t1", "t2"],
    )


def _ticker_input(ticker: pl.DataFrame) -> pl.DataFrame:
    day = ticker.filter(pl.col("date") == DAY).lazy()
    return ticker_rows(day, ticker.filter(pl.col("date") < DAY).lazy(), ["XYZUSDT", "XYZ-PERP"])


def test_handmade_edge_cases_equal_the_reference(handmade):
    dims, bars, spot, ticker = _frames(*handmade)
    out = _build(dims, bars, spot, _ticker_input(ticker))
    validate_frame(out, REFLEXIVITY_BARS)
    expected = reference_reflexivity(
        bars.to_dicts(), dims.to_dicts(), spot.to_dicts(), ticker.to_dicts(), "spot", "UTC"
    )
    _assert_matches(out, expected)
    rows = {r["bar_id"]: r for r in out.to_dicts()}
    assert set(rows) == {7, 8, 9, 3}  # the future is not a perpetual
    seven, eight, nine, inverse = rows[7], rows[8], rows[9], rows[3]
    huge = CTX.multiply(Decimal("99999.999999999"), Decimal("123456789.123456789"))
    assert seven["spot_notional"] == CTX.add(Decimal("125.625"), huge) and seven["spot_trade_count"] == 2
    assert seven["spot_symbol_id"] == SPOT_ID and nine["spot_symbol_id"] == SPOT_ID_2
    assert seven["spot_data_versions"] == ["s1", "s2"] and nine["spot_data_versions"] == ["s2"]
    assert eight["spot_trade_count"] == 1 and eight["spot_notional"] == Decimal(202)
    assert nine["spot_notional"] == Decimal(51)  # the trade at its end (80 s) is outside [60 s, 80 s)
    # as of the close: strictly before ts_end_us, per field, the last of one microsecond
    assert (seven["open_interest"], seven["open_interest_ts_us"]) == (Decimal(601), T0 + 30_000_000)
    assert (seven["funding_rate"], seven["funding_rate_ts_us"]) == (Decimal("0.0002"), T0 + 40_000_000 - 1)
    assert (seven["mark_price"], seven["mark_price_ts_us"]) == (Decimal(100), T0 - 10_000_000)  # from the day before
    assert (eight["mark_price"], eight["open_interest"]) == (Decimal(105), Decimal(700))
    # the inverse perpetual pairs with the USD spot listed at 90 s (valid at its close) but has no ratio
    assert inverse["spot_symbol"] == "XYZUSD" and inverse["spot_notional"] == Decimal(300)
    assert inverse["speculation_ratio"] is None and seven["speculation_ratio"] is not None
    assert inverse["open_interest"] is None and inverse["ticker_data_versions"] == ["t1", "t2"]


def test_previous_day_contributes_only_its_last_value_per_field(handmade):
    dims, bars, spot, ticker = _frames(*handmade)
    rows = _ticker_input(ticker)
    previous = rows.filter(pl.col("ts_local_us") < T0).sort("file_line", maintain_order=True)
    # open interest and funding from the 01:00-before-midnight row, mark price from the later one
    assert previous.select("file_line", *FIELDS).rows() == [
        (1, Decimal(500), None, None),
        (1, None, Decimal("0.0001"), None),
        (2, None, None, Decimal(100)),
    ]


def test_without_a_spot_exchange_the_spot_columns_are_null(handmade):
    dims, bars, spot, ticker = _frames(*handmade)
    out = _build(dims, bars, spot, _ticker_input(ticker), spot_exchange=None)
    assert out.height == 4
    for col in ("spot_exchange", "spot_symbol", "spot_notional", "spot_trade_count", "spot_data_versions"):
        assert out[col].null_count() == 4, col
    assert out["open_interest"].null_count() == 1  # the ticker side does not need a spot exchange


def test_reflexivity_config_is_data_and_checked(tmp_path):
    loaded = load_reflexivity_settings()
    assert loaded is not None
    settings, spec = loaded
    assert settings.bar_spec == spec.name and spec.kind == "dollar"
    assert settings.spot_exchange_for(FUT) == SPOT and settings.spot_exchange_for("deribit") is None
    specs = (BarSpec("d", "dollar", Decimal(5)), BarSpec("t", "tick", Decimal(5)))
    exchanges = {FUT, SPOT}
    with pytest.raises(ConfigError, match="is a tick spec"):
        parse_reflexivity({"bar_spec": "t"}, specs, exchanges)
    with pytest.raises(ConfigError, match="names no"):
        parse_reflexivity({"bar_spec": "zz"}, specs, exchanges)
    with pytest.raises(ConfigError, match="'nowhere' is not an exchange"):
        parse_reflexivity({"bar_spec": "d", "spot_exchanges": {FUT: "nowhere"}}, specs, exchanges)
    with pytest.raises(ConfigError, match="unknown key"):
        parse_reflexivity({"bar_spec": "d", "spot": {}}, specs, exchanges)
