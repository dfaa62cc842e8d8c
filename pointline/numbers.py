"""Exact prices and quantities: Decimal(38, 9) parsed from the vendor's text.

Why Decimal(38, 9) and not scaled Int64 or per-symbol increments: see
docs/decisions/0001-exact-numbers.md. In short: 29 integer digits hold a 1e12-token trade
and any real notional, 9 fractional digits hold every crypto and equity tick we know of,
parsing is from the text (never through a float), and the encoding needs no dim_symbol
join. Polars' own decimal parser silently truncates extra fractional digits and accepts
exponents, so text is checked against `EXACT_PATTERN` first: a value it cannot store
exactly is quarantined, never rounded.
"""

from __future__ import annotations

import polars as pl

SCALE = 9
PRECISION = 38
EXACT = pl.Decimal(PRECISION, SCALE)
# Rates (funding) carry more fractional digits than prices: Decimal(38, 18), same rules.
RATE = pl.Decimal(PRECISION, 18)

# Optional minus, at most PRECISION-SCALE integer digits, optional fraction of at most SCALE
# digits. No exponent, no spaces, no thousands separators.
EXACT_PATTERN = rf"^-?[0-9]{{1,{PRECISION - SCALE}}}(\.[0-9]{{1,{SCALE}}})?$"
_DECIMAL_TEXT = r"^-?[0-9]+(\.[0-9]+)?$"
INTEGER_PATTERN = r"^-?[0-9]+$"


def exact_number(col: str) -> pl.Expr:
    """Text column -> Decimal(38, 9); null for empty text and for text that is not exact."""
    text = pl.col(col)
    return pl.when(text.str.contains(EXACT_PATTERN)).then(text.str.to_decimal(scale=SCALE)).otherwise(None).cast(EXACT)


def number_problem(col: str) -> pl.Expr:
    """Why a non-empty text value cannot be stored exactly, or null when it can (or is empty)."""
    text = pl.col(col)
    return (
        pl.when(text.is_null() | (text == "") | text.str.contains(EXACT_PATTERN))
        .then(pl.lit(None, dtype=pl.String))
        .when(text.str.contains(_DECIMAL_TEXT))
        .then(pl.lit(f"not_exact:{col}"))
        .otherwise(pl.lit(f"not_a_number:{col}"))
    )


def integer(col: str) -> pl.Expr:
    """Text column -> Int64; null for empty text and for anything that is not an Int64 integer."""
    return pl.col(col).cast(pl.Int64, strict=False)


def decode(col: str | pl.Expr) -> pl.Expr:
    """Decimal -> Float64, for researchers who ask for decoded output. Never used inside the lake."""
    expr = pl.col(col) if isinstance(col, str) else col
    return expr.cast(pl.Float64)


def parse_exact(text: pl.Series) -> tuple[pl.Series, pl.Series]:
    """(Decimal values, problem reasons) of a text column, as `exact_number` and `number_problem`.

    Prices and sizes sit on tick and lot grids, so their texts repeat: a 2M-row trades file
    has ~20k distinct prices. The pattern check and the decimal parse then run once per
    distinct text and are gathered back, which is several times cheaper than per row.
    """
    name = text.name
    distinct = text.drop_nulls().unique(maintain_order=True)
    if distinct.len() * 4 > text.len():
        both = text.to_frame().select(exact_number(name), number_problem(name).alias("_problem"))
        return both[name], both["_problem"].alias(name)
    parsed = distinct.to_frame().select(
        pl.col(name).alias("_text"), exact_number(name).alias("_value"), number_problem(name).alias("_problem")
    )
    positions = pl.int_range(distinct.len(), eager=True, dtype=pl.UInt32)
    index = text.replace_strict(distinct, positions, default=None, return_dtype=pl.UInt32)  # null text -> null
    return parsed["_value"].gather(index).alias(name), parsed["_problem"].gather(index).alias(name)
