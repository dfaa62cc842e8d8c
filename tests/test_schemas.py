"""Schema registry: validation names every problem; docs/schemas.md is generated and current."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from pointline.numbers import EXACT
from pointline.schemas import TABLES, TRADES, SchemaValidationError, render_markdown, validate_frame

REPO = Path(__file__).resolve().parents[1]


def _trade_row() -> dict:
    return {
        "date": dt.date(2024, 5, 1),
        "exchange": "binance",
        "symbol": "BTCUSDT",
        "symbol_id": 1,
        "ts_local_us": 1,
        "ts_exch_us": 1,
        "trade_id": None,
        "side": "buy",
        "price": Decimal("60000.1"),
        "qty": Decimal("0.001"),
        "file_id": 7,
        "file_line": 2,
    }


def test_valid_frame_passes():
    validate_frame(pl.DataFrame([_trade_row()], schema=TRADES.polars_schema), TRADES)


def test_error_names_missing_unexpected_and_mistyped_columns():
    df = pl.DataFrame([_trade_row()], schema=TRADES.polars_schema)
    bad = df.drop("qty").with_columns(pl.col("price").cast(pl.Float64), pl.lit(1).alias("surprise"))
    with pytest.raises(SchemaValidationError) as err:
        validate_frame(bad, TRADES)
    text = str(err.value)
    assert "missing column 'qty'" in text
    assert "unexpected column 'surprise'" in text
    assert "column 'price' has type Float64" in text
    assert err.value.table == "trades" and len(err.value.problems) == 3


def test_nulls_in_required_column_rejected():
    df = pl.DataFrame([_trade_row()], schema=TRADES.polars_schema).with_columns(
        pl.lit(None, pl.Int64).alias("symbol_id")
    )
    with pytest.raises(SchemaValidationError, match="'symbol_id' is not nullable"):
        validate_frame(df, TRADES)


def test_every_spec_is_consistent():
    for spec in TABLES.values():
        assert spec.columns, spec.name
        for col in spec.columns:
            assert col.description.strip(), f"{spec.name}.{col.name} lacks a description"
    assert TRADES.column("price").dtype == EXACT


def test_docs_schemas_md_is_current():
    path = REPO / "docs" / "schemas.md"
    assert path.read_text() == render_markdown(), "docs/schemas.md is stale: run `make docs`"


def test_parse_exact_per_distinct_text_equals_per_row():
    from pointline.numbers import exact_number, expand_exponents, number_problem, parse_exact

    texts = ["1.5", "0.1234567891", "abc", None, "1e5", "-3", "2.000000001", "1.5", None, "7"] * 30
    s = pl.Series("price", texts)
    value, problem = parse_exact(s)
    expected = expand_exponents(s).to_frame().select(exact_number("price"), number_problem("price").alias("p"))
    assert value.to_list() == expected["price"].to_list()
    assert problem.to_list() == expected["p"].to_list()
    assert problem.to_list()[:7] == [
        None,
        "not_exact:price",
        "not_a_number:price",
        None,
        None,  # 1e5: exponent notation is expanded exactly to 100000
        None,
        None,
    ]
    assert value.to_list()[4] == Decimal("100000")


def test_dictionary_encoded_text_parses_like_plain_text():
    """A reader may stage repetitive text as Categorical (Tardis book levels): same values, same problems."""
    from pointline.numbers import parse_exact, parse_exact_list

    texts = ["1.5", "0.1234567891", "abc", None, "1e5", "", "2.000000001", "1.5"] * 5
    plain = pl.Series("price", texts)
    encoded = plain.cast(pl.Categorical(pl.Categories.random()))
    (value, problem), (plain_value, plain_problem) = parse_exact(encoded), parse_exact(plain)
    assert value.to_list() == plain_value.to_list() and problem.to_list() == plain_problem.to_list()
    assert value.to_list()[:6] == [Decimal("1.5"), None, None, None, Decimal("100000"), None]
    assert problem.to_list()[:6] == [None, "not_exact:price", "not_a_number:price", None, None, None]  # "": missing
    lists = pl.Series("bid_prices", [texts[i : i + 4] for i in range(0, len(texts), 4)])
    encoded_lists = lists.cast(pl.List(pl.Categorical(pl.Categories.random())))
    (values, first), (plain_values, plain_first) = parse_exact_list(encoded_lists, 4), parse_exact_list(lists, 4)
    assert values.to_list() == plain_values.to_list() and first.to_list() == plain_first.to_list()
    assert first.to_list()[:2] == ["not_exact:bid_prices", None]


def test_exponent_notation_is_expanded_exactly_never_through_a_float():
    """JavaScript-based vendors print small numbers as 1.2e-7; those are exact values, not garbage."""
    from pointline.numbers import RATE, parse_exact

    s = pl.Series("rate", ["1.2e-7", "-3.5E+2", "1e-10", "0.1e1", "2e-19", "1e+30", "1.5e", "e5"])
    value, problem = parse_exact(s)
    assert value.to_list()[:3] == [Decimal("0.00000012"), Decimal("-350"), None]
    assert problem.to_list() == [
        None,
        None,
        "not_exact:rate",  # 10 fractional digits do not fit scale 9: quarantined, never rounded
        None,
        "not_exact:rate",
        "not_exact:rate",  # 31 integer digits
        "not_a_number:rate",
        "not_a_number:rate",
    ]
    rate_value, rate_problem = parse_exact(s, RATE)
    assert rate_value.to_list()[2] == Decimal("1E-10") and rate_problem.to_list()[2] is None
