"""Command line for operating the lake: `python -m pointline.cli <group> <command> [options]`.

    python -m pointline.cli lake stats                    # one row per table
    python -m pointline.cli lake stats --table trades     # one row per partition of trades

Commands are argparse subcommands grouped by noun (`lake stats` now, `dq summary` can follow), each
a small function over `pointline/` so the CLI, the Dagster assets and the tests run the same code.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable, Sequence

import polars as pl

from pointline.config import default_lake_root
from pointline.dq import dq_summary
from pointline.lake import Lake
from pointline.schemas import get_table_spec
from pointline.stats import lake_stats, summarize

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_bytes(n: int | None) -> str:
    """1536 -> '1.5 KiB': sizes people can compare at a glance."""
    if n is None:
        return ""
    size, unit = float(n), 0
    while size >= 1024 and unit < len(_UNITS) - 1:
        size, unit = size / 1024, unit + 1
    return f"{int(size)} B" if unit == 0 else f"{size:.1f} {_UNITS[unit]}"


def _readable(df: pl.DataFrame) -> pl.DataFrame:
    """For printing only: sizes with units in place of byte counts, microsecond time bounds as UTC
    datetimes, and '-' where a value does not apply (no date partition, no time axis)."""
    text = [c for c in ("first_date", "last_date", "date", "exchange") if c in df.columns]
    return df.with_columns(
        pl.col("bytes").map_elements(human_bytes, return_dtype=pl.String),
        *[
            pl.col(f"time_{b}_us").cast(pl.Datetime("us", "UTC")).dt.strftime("%Y-%m-%d %H:%M:%S").fill_null("-")
            for b in ("min", "max")
        ],
        *[pl.col(c).cast(pl.String).fill_null("-") for c in text],
    ).rename({"bytes": "size", "time_min_us": "time_min (UTC)", "time_max_us": "time_max (UTC)"})


def print_table(df: pl.DataFrame) -> None:
    """Print every row and column as an ASCII markdown table (greppable, pastes into issues)."""
    with pl.Config(
        tbl_rows=-1,
        tbl_cols=-1,
        tbl_width_chars=10_000,
        fmt_str_lengths=200,
        tbl_hide_column_data_types=True,
        tbl_hide_dataframe_shape=True,
        tbl_formatting="ASCII_MARKDOWN",
        thousands_separator=",",
    ):
        print(df)


def _lake(args: argparse.Namespace) -> Lake:
    return Lake(args.lake_root or default_lake_root(), storage_options=dict(args.storage_option))


def _option(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--storage-option wants KEY=VALUE, got {text!r}")
    return key, value


def cmd_lake_stats(args: argparse.Namespace) -> int:
    """Sizes from the Delta log: per table, or with --table per partition of that table."""
    lake = _lake(args)
    tables = [args.table] if args.table else None
    stats = lake_stats(lake, tables)
    summary = summarize(stats)
    if summary.is_empty():
        print(f"no tables under {lake.root}" if not args.table else f"{args.table}: no table under {lake.root}")
        return 0
    if args.table:
        print(f"{args.table} under {lake.root}: {len(stats)} partition(s)")
        print_table(_readable(stats.drop("table")))
        print()
    else:
        rows = int(summary["rows"].sum())
        size = human_bytes(int(summary["bytes"].sum()))
        print(f"lake {lake.root}: {summary.height} table(s), {rows:,} rows, {size}")
    print_table(_readable(summary))
    return 0


def cmd_dq_summary(args: argparse.Namespace) -> int:
    """Latest check result per partition and check (or the whole history with --history)."""
    lake = _lake(args)
    end = args.end or args.date
    result = dq_summary(lake, args.exchange, args.date, end, table=args.table, latest_only=not args.history)
    if result.is_empty():
        print(f"no check results for exchange={args.exchange or '*'} {args.date}..{end} under {lake.root}")
        return 0
    failed = result.filter(~pl.col("passed"))
    print(
        f"{result.height} check result(s), {failed.height} failed, exchange={args.exchange or '*'} {args.date}..{end}"
    )
    columns = ["table_name", "date", "exchange", "check_name", "passed", "severity", "description"]
    print_table(result.select(columns))
    return 1 if args.fail_on_error and not failed.filter(pl.col("severity") == "error").is_empty() else 0


def _add_lake_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lake-root", default="", help="lake root path or URI (default $POINTLINE_LAKE_ROOT or ./lake)"
    )
    parser.add_argument(
        "--storage-option",
        action="append",
        default=[],
        type=_option,
        metavar="KEY=VALUE",
        help="delta-rs object-store option, repeatable (e.g. AWS_REGION=eu-west-1)",
    )


def _table_name(text: str) -> str:
    try:
        get_table_spec(text)
    except KeyError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    """`pointline <group> <command>`; add a group with `groups.add_parser` and its commands below it."""
    parser = argparse.ArgumentParser(prog="pointline", description="Operate the Pointline lake.")
    groups = parser.add_subparsers(dest="group", required=True, metavar="GROUP")

    lake = groups.add_parser("lake", help="the lake's Delta tables")
    lake_cmds = lake.add_subparsers(dest="command", required=True, metavar="COMMAND")
    stats = lake_cmds.add_parser("stats", help="rows, files, bytes and time range per table (from the Delta log)")
    stats.add_argument("--table", type=_table_name, help="show one row per partition of this table")
    _add_lake_options(stats)
    stats.set_defaults(func=cmd_lake_stats)

    dq = groups.add_parser("dq", help="data-quality history (validation_log, dq_summary)")
    dq_cmds = dq.add_subparsers(dest="command", required=True, metavar="COMMAND")
    summary = dq_cmds.add_parser("summary", help="check results per partition")
    summary.add_argument("--exchange", help="exchange (default: all)")
    summary.add_argument("--date", type=dt.date.fromisoformat, required=True, help="trading date YYYY-MM-DD")
    summary.add_argument("--end", type=dt.date.fromisoformat, help="last date of a range (default: --date)")
    summary.add_argument("--table", type=_table_name, help="one table only")
    summary.add_argument("--history", action="store_true", help="every run, not only the latest per check")
    summary.add_argument("--fail-on-error", action="store_true", help="exit 1 when an error-severity check failed")
    _add_lake_options(summary)
    summary.set_defaults(func=cmd_dq_summary)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
