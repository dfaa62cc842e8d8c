"""Exact prices and quantities: Decimal(38, 9) parsed from the vendor's text.

Why Decimal(38, 9) and not scaled Int64 or per-symbol increments: see
docs/decisions/0001-exact-numbers.md. In short: 29 integer digits hold a 1e12-token trade
and any real notional, 9 fractional digits hold every crypto and equity tick we know of,
parsing is from the text (never through a float), and the encoding needs no dim_symbol
join. Polars' own decimal parser silently truncates extra fractional digits, so text is
checked against `EXACT_PATTERN` first: a value it cannot store exactly is quarantined, never
rounded. Exponent notation (`1.2e-7`, which JavaScript-based vendors such as Tardis print for
small numbers) is expanded exactly to plain digits before the check.
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl

SCALE = 9
PRECISION = 38
EXACT = pl.Decimal(PRECISION, SCALE)
# Rates (funding) carry more fractional digits than prices: Decimal(38, 18), same rules.
RATE = pl.Decimal(PRECISION, 18)

_DECIMAL_TEXT = r"^-?[0-9]+(\.[0-9]+)?$"
_EXPONENT_TEXT = r"^-?[0-9]+(\.[0-9]+)?[eE][+-]?[0-9]{1,3}$"
INTEGER_PATTERN = r"^-?[0-9]+$"


def exact_pattern(dtype: pl.Decimal = EXACT) -> str:
    """Optional minus, at most precision-scale integer digits, at most scale fractional digits.

    No exponent, no spaces, no thousands separators: anything else is not exact text.
    """
    scale = dtype.scale or 0
    return rf"^-?[0-9]{{1,{(dtype.precision or PRECISION) - scale}}}(\.[0-9]{{1,{scale}}})?$"


EXACT_PATTERN = exact_pattern(EXACT)


def exact_number(col: str, dtype: pl.Decimal = EXACT) -> pl.Expr:
    """Text column -> Decimal; null for empty text and for text that is not exact (plain digits only)."""
    text = pl.col(col)
    return (
        pl.when(text.str.contains(exact_pattern(dtype)))
        .then(text.str.to_decimal(scale=dtype.scale))
        .otherwise(None)
        .cast(dtype)
    )


def number_problem(col: str, dtype: pl.Decimal = EXACT) -> pl.Expr:
    """Why a non-empty text value cannot be stored exactly, or null when it can (or is empty)."""
    text = pl.col(col)
    return (
        pl.when(text.is_null() | (text == "") | text.str.contains(exact_pattern(dtype)))
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


def _plain(text: str) -> str:
    """`1.25e-7` -> `0.000000125`, exactly (decimal arithmetic, never a float)."""
    return format(Decimal(text), "f")


def expand_exponents(text: pl.Series, distinct: pl.Series | None = None) -> pl.Series:
    """Rewrite exponent-notation values as plain decimal text; other values are untouched.

    Only the distinct exponent texts go through Python's Decimal, so a column without any
    (the usual case) costs one scan of its distinct values (pass them if already known).
    """
    distinct = text.drop_nulls().unique() if distinct is None else distinct
    forms = distinct.filter(distinct.str.contains(_EXPONENT_TEXT))
    if forms.is_empty():
        return text
    return text.replace(forms, [_plain(t) for t in forms.to_list()])


def parse_exact(text: pl.Series, dtype: pl.Decimal = EXACT) -> tuple[pl.Series, pl.Series]:
    """(Decimal values, problem reasons) of a text column, as `exact_number` and `number_problem`.

    Prices and sizes sit on tick and lot grids, so their texts repeat: a 2M-row trades file
    has ~20k distinct prices. The pattern check and the decimal parse then run once per
    distinct text and are gathered back, which is several times cheaper than per row. A
    dictionary-encoded (Categorical) text column brings its distinct texts with it.
    """
    name = text.name
    distinct, index = _dictionary(text)
    if index is None:  # mostly distinct texts: parse row by row
        plain = expand_exponents(text, distinct).to_frame()
        both = plain.select(exact_number(name, dtype), number_problem(name, dtype).alias("_p"))
        return both[name], both["_p"].alias(name)
    parsed = (
        expand_exponents(distinct.alias(name))
        .to_frame()
        .select(exact_number(name, dtype).alias("_value"), number_problem(name, dtype).alias("_problem"))
    )
    values = parsed["_value"].gather(index).alias(name)
    if parsed["_problem"].null_count() == parsed.height:  # the usual case: nothing to report
        return values, pl.repeat(None, text.len(), dtype=pl.String, eager=True).alias(name)
    return values, parsed["_problem"].gather(index).alias(name)


def _dictionary(text: pl.Series) -> tuple[pl.Series, pl.Series | None]:
    """(distinct texts, each row's position among them, null for null); no positions when the
    texts are mostly distinct and a lookup would cost more than it saves."""
    if isinstance(text.dtype, pl.Categorical):  # already dictionary-encoded by the reader
        return text.dtype.categories.to_series(), text.to_physical()
    distinct = text.drop_nulls().unique(maintain_order=True)
    if distinct.len() * 4 > text.len():
        return distinct, None
    positions = pl.int_range(distinct.len(), eager=True, dtype=pl.UInt32)
    return distinct, text.replace_strict(distinct, positions, default=None, return_dtype=pl.UInt32)


def parse_exact_list(text: pl.Series, length: int, dtype: pl.Decimal = EXACT) -> tuple[pl.Series, pl.Series]:
    """A List(String) or List(Categorical) column of `length`-element lists -> (List(Decimal), first problem per row).

    The lists are flattened, parsed like a scalar column (per distinct text) and folded back:
    book levels repeat their prices across snapshots, so this is as cheap as a flat column.
    """
    name = text.name
    lengths = text.list.len()
    if text.null_count() or (lengths != length).any():
        raise ValueError(f"{name}: every row must hold a list of exactly {length} elements")
    values, problems = parse_exact(text.explode().alias(name), dtype)  # "" parses as missing, like null
    folded = values.reshape((-1, length)).cast(pl.List(dtype)).alias(name)
    if problems.null_count() == problems.len():
        return folded, pl.repeat(None, text.len(), dtype=pl.String, eager=True).alias(name)
    first_problem = problems.reshape((-1, length)).cast(pl.List(pl.String)).list.drop_nulls().list.first()
    return folded, first_problem.alias(name)
