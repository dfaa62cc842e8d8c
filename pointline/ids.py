"""Deterministic 8-byte ids (blake2b), stable across machines, runs and Python versions."""

from __future__ import annotations

import hashlib

import polars as pl

VALID_UNTIL_OPEN = 2**63 - 1


def blake2b_int64(text: str) -> int:
    """blake2b(text as UTF-8, digest_size=8), bytes read little-endian as a signed Int64."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little", signed=True)


def symbol_id(exchange: str, exchange_symbol: str, valid_from_us: int) -> int:
    """symbol_id = blake2b-8 over the UTF-8 string f"{exchange}|{exchange_symbol}|{valid_from_us}".

    valid_from_us is written in decimal without padding or sign for non-negative values.
    See docs/decisions/0002-symbol-id.md.
    """
    return blake2b_int64(f"{exchange}|{exchange_symbol}|{valid_from_us}")


def symbol_ids(exchange: pl.Series, exchange_symbol: pl.Series, valid_from_us: pl.Series) -> pl.Series:
    """Vectorised over columns (one hash per row; dim_symbol is small enough that this is cheap)."""
    keys = exchange.cast(pl.String) + "|" + exchange_symbol.cast(pl.String) + "|" + valid_from_us.cast(pl.String)
    return keys.map_elements(blake2b_int64, return_dtype=pl.Int64).rename("symbol_id")


def file_id(bronze_rel_path: str) -> int:
    """Lineage id of a Bronze file: blake2b-8 over its POSIX path relative to the Bronze root."""
    return blake2b_int64(bronze_rel_path)
