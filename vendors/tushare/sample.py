"""Deterministic sample `stock_basic` snapshots in the real Bronze layout, for tests and the demo.

`write_sample_snapshots(bronze_root)` writes two snapshots through the same writer the client
uses (layout, envelope and gzip are format-exact), records shaped like Tushare's answer
(`YYYYMMDD` dates, Chinese names, null where Tushare has none). The securities are modelled
on real ones but the values are illustrative, not reference data:

* SZSE: main board 000001, 000002 and 000004, ChiNext 300750; delisted 000418 (D, with delist_date);
  paused 000040 (P).
* SSE: main board 600000, 600036 and 600519, STAR 688981 (200-share lot), STAR 688799 listed on the first
  snapshot's date, delisted 600087.
* BSE: 430047 (bse in config/exchanges.csv: in dim_symbol and stock_basic_cn like the others).
* 000004 is renamed between the snapshots (国华网安 -> *ST国华): a new dim_symbol version.

Snapshot 1 is captured 2024-09-30 18:00 Asia/Shanghai (10:00Z), snapshot 2 on 2024-10-08
18:00 (after the National Day holiday). Re-running is a no-op for identical files; a different
file at the same path raises FileExistsError (snapshots are never overwritten).
CLI: `python -m vendors.tushare.sample --bronze-root PATH`.
"""

from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from vendors.snapshots import datetime_to_us
from vendors.tushare.layout import FIELDS, VENDOR, snapshot_rel_path
from vendors.tushare.snapshot import encode_snapshot, write_new_file

__all__ = ["FIELDS", "SAMPLE_SNAPSHOT_TS_US", "SampleSnapshots", "sample_records", "write_sample_snapshots", "main"]

SAMPLE_SNAPSHOT_TS_US: tuple[int, int] = (
    datetime_to_us(dt.datetime(2024, 9, 30, 10, 0, tzinfo=dt.UTC)),
    datetime_to_us(dt.datetime(2024, 10, 8, 10, 0, tzinfo=dt.UTC)),
)

# ts_code, name, area, industry, fullname, enname, cnspell, market, exchange, status, list, delist,
# is_hs, act_name, act_ent_type
_ROWS: tuple[tuple[str | None, ...], ...] = (
    ("000001.SZ", "平安银行", "深圳", "银行", "平安银行股份有限公司", "Ping An Bank Co., Ltd.", "payh", "主板", "SZSE",
     "L", "19910403", None, "S", "无实际控制人", "无"),
    ("000004.SZ", "国华网安", "深圳", "软件服务", "深圳国华网安科技股份有限公司", "Shenzhen Guohua Network Security "
     "Technology Co., Ltd.", "ghwa", "主板", "SZSE", "L", "19910114", None, "N", "李映彤", "个人"),
    ("000040.SZ", "东旭蓝天", "深圳", "新型电力", "东旭蓝天新能源股份有限公司", "Tunghsu Azure Renewable Energy "
     "Co., Ltd.", "dxlt", "主板", "SZSE", "P", "19940808", None, "N", "李兆廷", "个人"),
    ("000418.SZ", "小天鹅A", "江苏", "家用电器", "无锡小天鹅股份有限公司", "Wuxi Little Swan Co., Ltd.", "xtea",
     "主板", "SZSE", "D", "19930310", "20190625", "N", None, None),
    ("300750.SZ", "宁德时代", "福建", "电气设备", "宁德时代新能源科技股份有限公司", "Contemporary Amperex Technology "
     "Co., Limited", "ndsd", "创业板", "SZSE", "L", "20180611", None, "S", "曾毓群", "个人"),
    ("600000.SH", "浦发银行", "上海", "银行", "上海浦东发展银行股份有限公司", "Shanghai Pudong Development Bank "
     "Co., Ltd.", "pfyh", "主板", "SSE", "L", "19991110", None, "H", "上海市国有资产监督管理委员会", "地方国企"),
    ("600087.SH", "退市长油", "江苏", "水运", "南京长江油运股份有限公司", "Nanjing Tanker Corporation", "tscy", "主板",
     "SSE", "D", "19970606", "20140605", "N", None, None),
    ("688799.SH", "华纳药厂", "湖南", "化学制药", "湖南华纳大药厂股份有限公司", "Hunan Warrant Pharmaceutical Co., "
     "Ltd.", "hnyc", "科创板", "SSE", "L", "20240930", None, "N", "黄本东", "个人"),
    ("688981.SH", "中芯国际", "上海", "半导体", "中芯国际集成电路制造有限公司", "Semiconductor Manufacturing "
     "International Corporation", "zxgj", "科创板", "SSE", "L", "20200716", None, "H", "无实际控制人", "无"),
    ("430047.BJ", "诺思兰德", "北京", "生物制药", "北京诺思兰德生物技术股份有限公司", "Beijing Northland "
     "Biotech. Co., Ltd.", "nsld", "北证", "BSE", "L", "20201127", None, "N", "许松山", "个人"),
    # the other securities of the Quant360 sample day (vendors/quant360/sample.py), so its events resolve
    ("000002.SZ", "万科A", "深圳", "全国地产", "万科企业股份有限公司", "China Vanke Co., Ltd.", "wka", "主板", "SZSE",
     "L", "19910129", None, "S", "无实际控制人", "无"),
    ("600036.SH", "招商银行", "深圳", "银行", "招商银行股份有限公司", "China Merchants Bank Co., Ltd.", "zsyh", "主板",
     "SSE", "L", "20020409", None, "H", "无实际控制人", "无"),
    ("600519.SH", "贵州茅台", "贵州", "白酒", "贵州茅台酒股份有限公司", "Kweichow Moutai Co., Ltd.", "gzmt", "主板",
     "SSE", "L", "20010827", None, "H", "贵州省人民政府国有资产监督管理委员会", "地方国企"),
)  # fmt: skip
_RENAMED = {"000004.SZ": ("*ST国华", "stgh")}  # (name, cnspell) from snapshot 2 on


@dataclass(frozen=True)
class SampleSnapshots:
    """What write_sample_snapshots wrote: paths, capture times, and records per snapshot."""

    paths: tuple[Path, ...]
    snapshot_ts_us: tuple[int, ...]
    records: tuple[tuple[dict[str, str | None], ...], ...]


def sample_records(snapshot_index: int) -> list[dict[str, str | None]]:
    """The records of sample snapshot 0 or 1, as dicts in Tushare's field order."""
    out = []
    for row in _ROWS:
        ts_code, name, area, industry, fullname, enname, cnspell, market, exchange, *rest = row
        status, list_date, delist_date, is_hs, act_name, act_type = rest
        if snapshot_index >= 1 and ts_code in _RENAMED:
            name, cnspell = _RENAMED[ts_code]
        symbol = ts_code.split(".")[0] if ts_code else None
        values = (ts_code, symbol, name, area, industry, fullname, enname, cnspell, market, exchange, "CNY")
        values += (status, list_date, delist_date, is_hs, act_name, act_type)
        out.append(dict(zip(FIELDS, values, strict=True)))
    return out


def _request(status: str) -> dict[str, object]:
    return {"api_name": "stock_basic", "params": {"list_status": status}, "fields": ",".join(FIELDS)}


def write_sample_snapshots(bronze_root: Path | str, subdir: str = VENDOR) -> SampleSnapshots:
    """Write both sample snapshots below `<bronze_root>/<subdir>`; idempotent for identical files."""
    paths, records = [], []
    for index, ts_us in enumerate(SAMPLE_SNAPSHOT_TS_US):
        recs = sample_records(index)
        data = encode_snapshot(((r, _request(str(r["list_status"]))) for r in recs), ts_us)
        path = Path(bronze_root) / snapshot_rel_path(ts_us, subdir)
        if not (path.exists() and path.read_bytes() == data):
            write_new_file(path, data)
        paths.append(path)
        records.append(tuple(recs))
    return SampleSnapshots(tuple(paths), SAMPLE_SNAPSHOT_TS_US, tuple(records))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vendors.tushare.sample", description=__doc__.splitlines()[0])
    parser.add_argument("--bronze-root", type=Path, required=True)
    parser.add_argument("--subdir", default=VENDOR)
    args = parser.parse_args(argv)
    result = write_sample_snapshots(args.bronze_root, args.subdir)
    for path in result.paths:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
