"""Where CoinGecko snapshots live in Bronze, shared by the writer, the sample and discovery (LAYOUT.scan).

One snapshot file per fetch:

    <bronze_root>/<subdir>/type=asset_stats/date=<YYYY-MM-DD>/snapshot_ts=<us>/coingecko_markets_<us>.jsonl.gz

`date` is the UTC date of `snapshot_ts` (the table's time axis), so a path alone says which
`dim_asset_stats` partition the file feeds. The layout itself is vendors/snapshots.py's,
shared with the other snapshot vendors.
"""

from __future__ import annotations

from vendors.snapshots import SnapshotLayout

VENDOR = "coingecko"
DATA_TYPE = "asset_stats"
DATASET = "coins_markets"
TABLE = "dim_asset_stats"
LAYOUT = SnapshotLayout(VENDOR, DATA_TYPE, prefix="coingecko_markets")
snapshot_rel_path = LAYOUT.rel_path  # (snapshot_ts_us, subdir=VENDOR) -> path relative to the Bronze root
