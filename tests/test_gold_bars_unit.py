"""Bars (pointline/bars.py) built day by day with their carry, against an independent reference that
builds each chain over all days at once (tests/gold_reference.py); the checks on a real Delta lake;
the bar specs of config/lake.toml."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import polars as pl
import pytest

from pointline.bars import BarSpec, build_bars, check_bars, load_bar_specs, parse_bar_spec
from pointline.config import ConfigError
from pointline.lake import Lake
from pointline.schemas import BAR_CARRY, BARS, TRADES, validate_frame
from tests.gold_reference import CTX, local_midnight_us, reference_bars

DAYS = [dt.date(2024, 5, 1), dt.date(2024, 5, 2), dt.date(2024, 5, 3)]
SYMBOLS = {1: "AAA", 2: "BBB", 3: "CCC"}
US = 1_000_000
COMPARED = [
    "symbol_id",
    "bar_id",
    "date",
    "ts_start_us",
    "ts_end_us",
    "ts_first_us",
    "ts_last_us",
    "start_date",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "buy_volume",
    "dollar_volume",
    "trade_count",
]


def synthetic_trades(tz: str = "UTC", seed: int = 3) -> pl.DataFrame:
    """Three symbols over DAYS: sweeps (trades sharing a microsecond), trades in the last and first
    microseconds of a day, a symbol (CCC) that does not trade on the middle day, and huge exact
    numbers (a 123456789.123456789 quantity at 99999.999999999)."""
    rng = random.Random(seed)
    rows: list[dict] = []
    for file_id, day in enumerate(DAYS, start=1):
        start, end = local_midnight_us(day, tz), local_midnight_us(day + dt.timedelta(days=1), tz)
        line = 1
        for sid, symbol in SYMBOLS.items():
            if symbol == "CCC" and day == DAYS[1]:
                continue
            times = sorted(rng.randrange(start, end) for _ in range(70)) + [start, end - 1]
            for ts in sorted(times):
                for _ in range(rng.choice([1, 1, 1, 2, 3])):  # a sweep: several fills in one microsecond
                    line += 1
                    price, qty = Decimal(rng.randint(1000, 2000)) / 100, Decimal(rng.randint(1, 400)) / 100
                    if symbol == "AAA" and rng.random() < 0.03:
                        price, qty = Decimal("99999.999999999"), Decimal("123456789.123456789")
                    rows.append(
                        {
                            "date": day,
                            "exchange": "x",
                            "symbol": symbol,
                            "symbol_id": sid,
                            "ts_local_us": ts,
                            "ts_exch_us": ts,
                            "trade_id": None,
                            "side": rng.choice(["buy", "sell", "unknown"]),
                            "price": price,
                            "qty": qty,
                            "conditions": None,
                            "venue": None,
                            "sequence_number": None,
                            "file_id": file_id,
                            "file_line": line,
                        }
                    )
    return pl.DataFrame(rows, schema=TRADES.polars_schema)


def chain(trades: pl.DataFrame, spec: BarSpec, tz: str = "UTC") -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    """Every day's bars built from its own trades and the previous day's carry; all bars and each carry."""
    carry = BAR_CARRY.empty()
    bars, carries = [], []
    for day in DAYS:
        built = build_bars(
            trades.filter(pl.col("date") == day),
            carry,
            spec,
            date=day,
            exchange="x",
            timezone=tz,
            carry_data_version="c",
        )
        validate_frame(built.bars, BARS)
        validate_frame(built.carry, BAR_CARRY)
        bars.append(built.bars)
        carries.append(built.carry)
        carry = built.carry
    return pl.concat(bars), carries


def expected(trades: pl.DataFrame, spec: BarSpec, tz: str = "UTC"):
    interval = spec.interval_us if spec.kind == "time" else None
    return reference_bars(
        trades.to_dicts(), spec.kind, spec.threshold_for, tz=tz, last_day=DAYS[-1], interval_us=interval
    )


def as_rows(bars: pl.DataFrame) -> list[dict]:
    return bars.select(COMPARED).sort("symbol_id", "bar_id").to_dicts()


def ref_rows(bars: list[dict]) -> list[dict]:
    return sorted(({k: b[k] for k in COMPARED} for b in bars), key=lambda b: (b["symbol_id"], b["bar_id"]))


SPECS = [
    BarSpec("tick_7", "tick", Decimal(7)),
    BarSpec("volume", "volume", Decimal("25"), overrides=(("BBB", Decimal("12.5")),)),
    BarSpec("dollar", "dollar", Decimal("600")),
    BarSpec("big_volume", "volume", Decimal("150")),  # few bars a day: most span midnight
    BarSpec("time_1h", "time", Decimal(3600)),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_day_by_day_bars_equal_the_whole_chain_built_at_once(spec):
    trades = synthetic_trades()
    bars, carries = chain(trades, spec)
    ref_bars, ref_open = expected(trades, spec)
    assert as_rows(bars) == ref_rows(ref_bars)
    assert len(ref_bars) > 20
    # what is still open at the end matches the reference's open bar (id, start, trades so far)
    last = {r["symbol_id"]: r for r in carries[-1].to_dicts()}
    if spec.kind != "time":
        assert set(last) == set(ref_open)
        for sid, ref in ref_open.items():
            got = last[sid]
            assert (got["bar_id"], got["ts_start_us"], got["trade_count"], got["volume"]) == (
                ref["bar_id"],
                ref["ts_start_us"],
                ref["trade_count"],
                ref["volume"],
            )


def test_a_bar_spanning_midnight_is_written_once_by_the_day_it_closes_on():
    spec = SPECS[3]
    trades = synthetic_trades()
    bars, carries = chain(trades, spec)
    spanning = bars.filter(pl.col("start_date") < pl.col("date"))
    assert spanning.height >= 2
    for bar in spanning.iter_rows(named=True):
        # its trades are the carried ones of the previous days plus the closing day's, exactly once
        window = trades.filter(
            (pl.col("symbol_id") == bar["symbol_id"])
            & pl.col("ts_local_us").is_between(bar["ts_start_us"], bar["ts_end_us"] - 1)
        )
        assert window.height == bar["trade_count"] and window["qty"].sum() == bar["volume"]
        assert window["date"].min() == bar["start_date"] < window["date"].max() == bar["date"]
        assert bar["ts_start_us"] < local_midnight_us(bar["date"], "UTC") <= bar["ts_last_us"]
    # every bar id appears once over all days: nothing built twice, nothing skipped
    ids = bars.group_by("symbol_id").agg(pl.col("bar_id").sort())
    for row in ids.iter_rows(named=True):
        assert row["bar_id"] == list(range(len(row["bar_id"])))
    assert bars.filter(pl.col("carry_data_version").is_not_null()).height >= spanning.height


def test_trades_sharing_a_timestamp_are_never_split_and_windows_tile_time():
    trades = synthetic_trades()
    bars, _ = chain(trades, SPECS[0])
    for sid in SYMBOLS:
        mine = bars.filter(pl.col("symbol_id") == sid).sort("bar_id")
        assert mine["ts_start_us"][1:].to_list() == mine["ts_end_us"][:-1].to_list()  # no gap, no overlap
        counts = trades.filter(pl.col("symbol_id") == sid).group_by("ts_local_us").len()
        ends = set(mine["ts_end_us"] - 1)
        # a bar ends at its last timestamp: the whole sweep there is in it, so a tick bar may exceed 7
        assert all(c >= 1 for t, c in counts.iter_rows() if t in ends)
    assert (bars["trade_count"] >= 7).all() and (bars["trade_count"] > 7).any()


def test_a_symbol_without_trades_carries_its_open_bar_through_the_day():
    trades = synthetic_trades()
    _, carries = chain(trades, SPECS[3])
    ccc = [c.filter(pl.col("symbol") == "CCC").to_dicts() for c in carries]
    assert ccc[0] and ccc[1]
    first, second = ccc[0][0], ccc[1][0]
    assert {k: v for k, v in first.items() if k != "date"} == {k: v for k, v in second.items() if k != "date"}


def test_time_bars_carry_across_a_local_midnight_off_the_grid():
    """Asia/Kolkata is UTC+05:30: hourly bars on the epoch grid straddle its midnight, so the bar
    open at 00:00 local is carried, and each is written once, on the date of its last instant."""
    tz = "Asia/Kolkata"
    spec = BarSpec("time_1h", "time", Decimal(3600))
    assert spec.carries(DAYS[1], tz) and not spec.carries(DAYS[1], "UTC")
    trades = synthetic_trades(tz)
    bars, carries = chain(trades, spec, tz)
    ref_bars, _ = expected(trades, spec, tz)
    assert as_rows(bars) == ref_rows(ref_bars)
    assert bars.filter(pl.col("start_date") < pl.col("date")).height > 0
    assert carries[0].height == len(SYMBOLS)  # each symbol traded in the half hour before midnight


def test_same_inputs_give_identical_rows():
    trades = synthetic_trades()
    for spec in SPECS:
        one, _ = chain(trades, spec)
        two, _ = chain(trades.sample(fraction=1.0, shuffle=True, seed=5), spec)  # input order does not matter
        assert one.equals(two)


def test_exact_notional_beyond_float_precision():
    """A 99999.999999999 x 123456789.123456789 trade has 32 significant digits: kept to the last one."""
    trades = synthetic_trades()
    bars, _ = chain(trades, SPECS[2])
    big = trades.filter(pl.col("qty") == Decimal("123456789.123456789")).row(0, named=True)
    bar = bars.filter(
        (pl.col("symbol_id") == big["symbol_id"])
        & (pl.col("ts_start_us") <= big["ts_local_us"])
        & (pl.col("ts_end_us") > big["ts_local_us"])
    ).row(0, named=True)
    members = trades.filter(
        (pl.col("symbol_id") == big["symbol_id"])
        & pl.col("ts_local_us").is_between(bar["ts_start_us"], bar["ts_end_us"] - 1)
    )
    exact = Decimal(0)
    for price, qty in members.select("price", "qty").iter_rows():
        exact = CTX.add(exact, CTX.multiply(price, qty))  # 100 digits: Python's default 28 would round
    assert bar["dollar_volume"] == exact and float(exact) != exact
    assert bars["dollar_volume"].dtype == pl.Decimal(38, 18)


def test_a_carry_built_with_another_threshold_is_refused():
    trades = synthetic_trades()
    spec = SPECS[1]
    first = build_bars(
        trades.filter(pl.col("date") == DAYS[0]), BAR_CARRY.empty(), spec, date=DAYS[0], exchange="x", timezone="UTC"
    )
    changed = BarSpec(spec.name, spec.kind, Decimal("30"), spec.overrides)
    with pytest.raises(ValueError, match="rebuild the chain"):
        build_bars(
            trades.filter(pl.col("date") == DAYS[1]), first.carry, changed, date=DAYS[1], exchange="x", timezone="UTC"
        )


def _store(lake: Lake, spec: BarSpec, day: dt.date, bars: pl.DataFrame, carry: pl.DataFrame) -> None:
    values = {"bar_spec": spec.name, "date": day, "exchange": "x"}
    lake.write_partitions([("bars", bars, values), ("bar_carry", carry, values)])


@pytest.mark.parametrize("spec", [SPECS[1], SPECS[4]], ids=lambda s: s.name)
def test_checks_pass_on_stored_bars_and_catch_a_tampered_bar(tmp_path, spec):
    lake = Lake(tmp_path / "lake")
    trades = synthetic_trades()
    carry = BAR_CARRY.empty()
    for day in DAYS:
        day_trades = trades.filter(pl.col("date") == day)
        built = build_bars(day_trades, carry, spec, date=day, exchange="x", timezone="UTC")
        _store(lake, spec, day, built.bars, built.carry)
        outcomes = check_bars(lake, spec, day, "x", "UTC", day_trades, carry)
        assert all(o.passed for o in outcomes.values()), {k: o.description for k, o in outcomes.items()}
        carry = built.carry
    day, day_trades = DAYS[-1], trades.filter(pl.col("date") == DAYS[-1])
    carry_in = lake.read_partition("bar_carry", {"bar_spec": spec.name, "date": DAYS[-2], "exchange": "x"})
    stored = lake.read_partition("bars", {"bar_spec": spec.name, "date": day, "exchange": "x"})
    tampered = stored.with_columns(
        pl.when(pl.int_range(pl.len()) == 3)
        .then(pl.col("volume") + Decimal("0.000000001"))
        .otherwise(pl.col("volume"))
        .alias("volume"),
        pl.when(pl.int_range(pl.len()) == 5)
        .then(pl.col("low") + 100)
        .otherwise(pl.col("low"))
        .cast(pl.Decimal(38, 9))
        .alias("low"),
    ).select(BARS.names)
    _store(
        lake,
        spec,
        day,
        tampered,
        lake.read_partition("bar_carry", {"bar_spec": spec.name, "date": day, "exchange": "x"}),
    )
    outcomes = check_bars(lake, spec, day, "x", "UTC", day_trades, carry_in)
    assert (
        not outcomes["volumes_match_trades"].passed
        and outcomes["volumes_match_trades"].metadata["mismatched_bars"] == 1
    )
    assert not outcomes["ohlc_consistent"].passed
    # a missing bar leaves its trades in no window and breaks the tiling
    _store(
        lake,
        spec,
        day,
        stored.filter(pl.int_range(pl.len()) != 4),
        lake.read_partition("bar_carry", {"bar_spec": spec.name, "date": day, "exchange": "x"}),
    )
    outcomes = check_bars(lake, spec, day, "x", "UTC", day_trades, carry_in)
    assert outcomes["volumes_match_trades"].metadata["orphan_trades"] > 0
    if spec.kind != "time":
        assert not outcomes["windows_tile"].passed
        # a chain whose carry vanished would lose its open bar's trades tomorrow
        carry_out = lake.read_partition("bar_carry", {"bar_spec": spec.name, "date": day, "exchange": "x"})
        _store(lake, spec, day, stored, carry_out.filter(pl.int_range(pl.len()) != 0))
        outcomes = check_bars(lake, spec, day, "x", "UTC", day_trades, carry_in)
        assert not outcomes["windows_tile"].passed and "leave no single carry" in outcomes["windows_tile"].description


def test_bar_specs_in_config_parse_and_bad_ones_are_named(tmp_path):
    specs = {s.name: s for s in load_bar_specs()}
    assert {s.kind for s in specs.values()} == {"time", "tick", "volume", "dollar"}
    assert specs["time_1m"].interval_us == 60 * US
    volume = specs["volume"]
    assert volume.threshold_for("BTCUSDT") == Decimal(10) and volume.threshold_for("NOPE") == volume.threshold
    bad = [
        ({"name": "Bad Name", "kind": "tick", "threshold": "5"}, "name"),
        ({"name": "t", "kind": "renko", "threshold": "5"}, "kind"),
        ({"name": "t", "kind": "time", "interval": "7m"}, "interval"),
        ({"name": "t", "kind": "tick", "threshold": "2.5"}, "decimals"),
        ({"name": "t", "kind": "volume", "threshold": "0.0000000001"}, "decimals"),
        ({"name": "t", "kind": "volume", "threshold": "-1"}, "positive"),
        ({"name": "t", "kind": "dollar"}, "threshold"),
        ({"name": "t", "kind": "dollar", "threshold": "5", "surprise": 1}, "unknown key"),
    ]
    for raw, words in bad:
        with pytest.raises(ConfigError, match=words):
            parse_bar_spec(raw)
    toml = tmp_path / "lake.toml"
    spec = '[[gold.bars]]\nname = "a"\nkind = "tick"\nthreshold = "5"\n'
    toml.write_text(spec + spec.replace('"5"', '"6"'))
    with pytest.raises(ConfigError, match="duplicate"):
        load_bar_specs(toml)
