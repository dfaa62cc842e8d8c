"""Point-in-time symbol resolution: boundaries, gaps, unknown keys, fast path vs reference."""

from __future__ import annotations

import random

import polars as pl
import pytest

from pointline import pit
from pointline.ids import VALID_UNTIL_OPEN, symbol_id

OPEN = VALID_UNTIL_OPEN
T0 = 1_704_067_200_000_000


def make_dim(windows: list[tuple[str, str, int, int]]) -> pl.DataFrame:
    """The columns PIT reads: key, window and the real symbol_id of each version."""
    return pl.DataFrame(
        [(symbol_id(ex, sym, vf), ex, sym, vf, vu) for ex, sym, vf, vu in windows],
        schema={
            "symbol_id": pl.Int64,
            "exchange": pl.String,
            "exchange_symbol": pl.String,
            "valid_from_us": pl.Int64,
            "valid_until_us": pl.Int64,
        },
        orient="row",
    )


def events(rows: list[tuple[str | None, str | None, int | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema={"exchange": pl.String, "symbol": pl.String, "ts_local_us": pl.Int64}, orient="row"
    )


def brute_force(df: pl.DataFrame, dim: pl.DataFrame) -> list[int | None]:
    """valid_from <= ts < valid_until, one row at a time."""
    versions: dict[tuple[str, str], list[tuple[int, int, int]]] = {}
    for r in dim.iter_rows(named=True):
        versions.setdefault((r["exchange"], r["exchange_symbol"]), []).append(
            (r["valid_from_us"], r["valid_until_us"], r["symbol_id"])
        )
    out: list[int | None] = []
    for ex, sym, ts in df.select("exchange", "symbol", "ts_local_us").iter_rows():
        hits = [sid for vf, vu, sid in versions.get((ex, sym), []) if ts is not None and vf <= ts < vu]
        assert len(hits) <= 1
        out.append(hits[0] if hits else None)
    return out


# BTCUSDT: two versions touching at T0+100, delisted at T0+300, relisted at T0+500 (gap).
DIM = make_dim(
    [
        ("binance", "BTCUSDT", T0, T0 + 100),
        ("binance", "BTCUSDT", T0 + 100, T0 + 300),
        ("binance", "BTCUSDT", T0 + 500, OPEN),
        ("binance", "ETHUSDT", T0 + 50, T0 + 200),
        ("okx", "BTCUSDT", T0, OPEN),
    ]
)
V1, V2, V3 = (symbol_id("binance", "BTCUSDT", t) for t in (T0, T0 + 100, T0 + 500))
ETH = symbol_id("binance", "ETHUSDT", T0 + 50)
OKX = symbol_id("okx", "BTCUSDT", T0)


def resolve(rows: list[tuple[str | None, str | None, int | None]], dim: pl.DataFrame = DIM) -> list[int | None]:
    out = pit.resolve_symbol_ids(events(rows), dim)
    assert out.dtype == pl.Int64 and out.len() == len(rows) and out.name == "symbol_id"
    return out.to_list()


def test_boundaries_are_half_open():
    rows = [
        ("binance", "BTCUSDT", T0 - 1),  # before listing
        ("binance", "BTCUSDT", T0),  # exactly at valid_from of the first version
        ("binance", "BTCUSDT", T0 + 99),
        ("binance", "BTCUSDT", T0 + 100),  # at valid_until of v1 == valid_from of v2: the new version
        ("binance", "BTCUSDT", T0 + 299),
        ("binance", "BTCUSDT", T0 + 300),  # at valid_until of v2, followed by a gap
        ("binance", "BTCUSDT", T0 + 499),
        ("binance", "BTCUSDT", T0 + 500),  # relisting
        ("binance", "BTCUSDT", T0 + 10**12),
    ]
    assert resolve(rows) == [None, V1, V1, V2, V2, None, None, V3, V3]


def test_after_delisting_unknown_symbol_exchange_and_nulls_resolve_to_null():
    rows = [
        ("binance", "ETHUSDT", T0 + 199),
        ("binance", "ETHUSDT", T0 + 200),  # delisted at T0+200, never relisted
        ("binance", "ETHUSDT", T0 + 10**9),
        ("binance", "DOGEUSDT", T0 + 100),  # unknown symbol
        ("kraken", "BTCUSDT", T0 + 100),  # unknown exchange
        ("binance", None, T0 + 100),
        (None, "BTCUSDT", T0 + 100),
        ("binance", "BTCUSDT", None),
        ("okx", "BTCUSDT", T0 + 100),  # same symbol on another exchange: its own version
    ]
    assert resolve(rows) == [ETH, None, None, None, None, None, None, None, OKX]


def test_single_exchange_frame_same_answers_as_mixed_frame():
    rows = [("binance", "BTCUSDT", T0 + t) for t in (-5, 0, 150, 300, 700)] + [("binance", "ETHUSDT", T0 + 60)]
    assert resolve(rows) == [None, V1, V2, None, V3, ETH]
    mixed = [*rows, ("okx", "BTCUSDT", T0 + 1)]
    assert resolve(mixed) == [None, V1, V2, None, V3, ETH, OKX]


def test_order_is_preserved_for_unsorted_input():
    rows = [("binance", "BTCUSDT", T0 + t) for t in (700, 0, 150, 99, 300, 100, 501)]
    assert resolve(rows) == [V3, V1, V2, V1, None, V2, V3]


def test_custom_column_names():
    df = pl.DataFrame({"ex": ["binance"], "sym": ["ETHUSDT"], "ts": [T0 + 60]})
    out = pit.resolve_symbol_ids(df, DIM, exchange_col="ex", symbol_col="sym", ts_col="ts")
    assert out.to_list() == [ETH]


def test_empty_inputs():
    assert pit.resolve_symbol_ids(events([]), DIM).to_list() == []
    assert resolve([("binance", "BTCUSDT", T0)], dim=DIM.clear()) == [None]


def test_overlapping_dim_is_refused():
    bad = make_dim([("binance", "BTCUSDT", T0, T0 + 10), ("binance", "BTCUSDT", T0 + 5, OPEN)])
    with pytest.raises(ValueError, match="overlapping"):
        pit.resolve_symbol_ids(events([("binance", "BTCUSDT", T0)]), bad)


def test_single_version_keys_never_take_the_slow_path(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("slow path used")

    monkeypatch.setattr(pit, "_resolve_slow", boom)
    rows = [("binance", "BTCUSDT", T0 + t) for t in (100, 299, 150)] + [("binance", "ETHUSDT", T0 + 300)]
    rows += [("binance", "BTCUSDT", None), ("binance", "NOPE", T0)]
    assert resolve(rows) == [V2, V2, V2, None, None, None]
    # a key whose rows straddle a version change needs it
    with pytest.raises(AssertionError, match="slow path used"):
        resolve([("binance", "BTCUSDT", T0 + 99), ("binance", "BTCUSDT", T0 + 100)])


def random_case(seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Random dim (versions, touching changes, gaps, delistings) and events around it."""
    rng = random.Random(seed)
    windows: list[tuple[str, str, int, int]] = []
    for ex in ("binance", "okx"):
        for s in range(rng.randint(3, 12)):
            t = T0 + rng.randint(0, 1_000)
            for _ in range(rng.randint(1, 5)):
                end = t + rng.randint(1, 400)
                closed = rng.random() < 0.7
                windows.append((ex, f"S{s}", t, end if closed else OPEN))
                if not closed:
                    break
                t = end + (rng.randint(1, 200) if rng.random() < 0.5 else 0)
    dim = make_dim(windows)
    # Per (exchange, symbol) a time range for its rows: wide ones span versions and gaps (slow
    # path), narrow ones mostly sit inside one version (fast path) or in a gap (all null).
    ranges = {}
    for ex in ("binance", "okx", "kraken"):
        for s in range(14):  # some symbols are never listed, kraken is unknown
            lo = T0 + rng.randint(-100, 2_000)
            ranges[(ex, f"S{s}")] = (lo, lo + (rng.randint(0, 30) if rng.random() < 0.5 else rng.randint(0, 3_000)))
    keys = list(ranges)
    rows = []
    for _ in range(3_000):
        ex, sym = rng.choice(keys[:14]) if rng.random() < 0.6 else rng.choice(keys)
        lo, hi = ranges[(ex, sym)]
        rows.append((ex, sym, None if rng.random() < 0.01 else rng.randint(lo, hi)))
    df = events(rows)
    if seed % 2:
        df = df.sort("ts_local_us", nulls_last=True)
    return df, dim


@pytest.mark.parametrize("seed", range(8))
def test_randomized_fast_paths_equal_brute_force(seed, monkeypatch):
    df, dim = random_case(seed)
    expected = brute_force(df, dim)
    assert any(v is not None for v in expected) and any(v is None for v in expected)

    # 1. the production path (fast gather + bucket table for the multi-version keys)
    assert pit.resolve_symbol_ids(df, dim).to_list() == expected
    # 2. the same with the bucket table disabled: multi-version keys go through join_asof
    monkeypatch.setattr(pit, "_MAX_GRID_CELLS", 0)
    assert pit.resolve_symbol_ids(df, dim).to_list() == expected
    # 3. join_asof alone on every row (no fast path at all)
    w = pit._windows(dim)
    keys = w.select("exchange", "exchange_symbol", "_k").unique("_k", maintain_order=True)
    kid = pit._key_index(df["exchange"], df["symbol"], keys)
    assert pit._resolve_asof(kid, df["ts_local_us"], w).to_list() == [
        None if ts is None else v for v, ts in zip(expected, df["ts_local_us"], strict=True)
    ]


def test_randomized_cases_exercise_fast_and_slow_paths(monkeypatch):
    """Guards the generator: both paths must resolve rows, or the comparisons above prove little."""
    slow_rows = fast_rows = 0
    real = pit._resolve_slow

    def spy(*args, **kwargs):
        nonlocal slow_rows
        out = real(*args, **kwargs)
        slow_rows += out.len() - out.null_count()
        return out

    monkeypatch.setattr(pit, "_resolve_slow", spy)
    for seed in range(8):
        df, dim = random_case(seed)
        before = slow_rows
        resolved = pit.resolve_symbol_ids(df, dim)
        fast_rows += resolved.len() - resolved.null_count() - (slow_rows - before)
    assert slow_rows > 1_000 and fast_rows > 1_000


def test_randomized_single_exchange_frames_equal_brute_force():
    for seed in range(8, 12):
        df, dim = random_case(seed)
        df = df.filter(pl.col("exchange") == "binance")
        assert pit.resolve_symbol_ids(df, dim).to_list() == brute_force(df, dim)


def test_benchmark_shape_is_correct():
    """The benchmark's 3-version setup in miniature (20 symbols, dim of 60 rows, changes mid-range)."""
    windows = []
    for i in range(20):
        cuts = [T0 - 10, T0 + 1_000 + i, T0 + 2_000 - i, OPEN]
        windows += [("binance", f"SYM{i}", cuts[k], cuts[k + 1]) for k in range(3)]
    dim = make_dim(windows)
    rng = random.Random(1)
    df = events([("binance", f"SYM{rng.randrange(21)}", T0 + rng.randrange(3_000)) for _ in range(5_000)])
    got = pit.resolve_symbol_ids(df, dim).to_list()
    assert got == brute_force(df, dim)
    assert len({v for v in got if v is not None}) == 60


# --------------------------------------------------------------------------- coverage_gaps


@pytest.mark.parametrize(
    ("start", "end", "gaps"),
    [
        (T0 - 10, T0 + 600, [(T0 - 10, T0), (T0 + 300, T0 + 500)]),
        (T0, T0 + 300, []),  # contiguous versions, no gap at the touching boundary
        (T0 + 50, T0 + 60, []),
        (T0 + 250, T0 + 450, [(T0 + 300, T0 + 450)]),
        (T0 + 310, T0 + 320, [(T0 + 310, T0 + 320)]),
        (T0 + 10, T0 + 10, []),
    ],
)
def test_coverage_gaps(start, end, gaps):
    assert pit.coverage_gaps(DIM, "binance", "BTCUSDT", start, end) == gaps


def test_coverage_gaps_unknown_key_and_delisted_tail():
    assert pit.coverage_gaps(DIM, "binance", "NOPE", T0, T0 + 5) == [(T0, T0 + 5)]
    assert pit.coverage_gaps(DIM, "binance", "ETHUSDT", T0, T0 + 1_000) == [(T0, T0 + 50), (T0 + 200, T0 + 1_000)]


# --------------------------------------------------------------------------- runs of one key


def grouped(df: pl.DataFrame) -> pl.DataFrame:
    """Rows in runs of one key, as a per-security file or a symbol-sorted partition delivers them."""
    return df.sort("exchange", "symbol", "ts_local_us", nulls_last=True, maintain_order=True)


@pytest.mark.parametrize("seed", range(8))
def test_randomized_runs_equal_brute_force(seed, monkeypatch):
    """Grouped rows take the run path (never the per-key path) and resolve like the reference,
    including runs straddling version changes and gaps, unknown keys and null timestamps."""
    df, dim = random_case(seed)
    df = grouped(df)
    if seed % 2:  # one exchange: the symbol alone delimits runs
        df = df.filter(pl.col("exchange") == "binance")

    def boom(*args, **kwargs):
        raise AssertionError("per-key path used")

    monkeypatch.setattr(pit, "_resolve_by_keys", boom)
    assert pit.resolve_symbol_ids(df, dim).to_list() == brute_force(df, dim)


def test_only_rows_of_straddling_runs_are_joined(monkeypatch):
    seen: list[int] = []
    real = pit._resolve_slow

    def spy(kid, ts, *args):
        seen.append(kid.len())
        return real(kid, ts, *args)

    monkeypatch.setattr(pit, "_resolve_slow", spy)
    rows = [("binance", "BTCUSDT", T0 + t) for t in range(90, 110)]  # straddles V1 -> V2 at T0+100
    rows += [("binance", "ETHUSDT", T0 + 60 + t) for t in range(40)]  # inside one version
    rows += [("okx", "BTCUSDT", T0 + t) for t in range(40)]
    got = pit.resolve_symbol_ids(events(rows), DIM).to_list()
    assert got == [V1] * 10 + [V2] * 10 + [ETH] * 40 + [OKX] * 40
    assert seen == [20]


def test_short_runs_take_the_per_key_path(monkeypatch):
    """Interleaved symbols (a multi-symbol trade feed) are not worth run detection."""

    def boom(*args, **kwargs):
        raise AssertionError("run path used")

    monkeypatch.setattr(pit, "_resolve_by_runs", boom)
    rows = [("binance", s, T0 + 60 + t) for t in range(40) for s in ("BTCUSDT", "ETHUSDT")]
    assert resolve(rows) == [V1, ETH] * 40
