"""`bronze/<vendor>/unpacked`: one asset per vendor plugin with the optional `unpack` hook.

Some vendors deliver archives whose members discovery must see as files. This asset runs the
plugin's hook (idempotent: archives already unpacked are skipped), upstream of the vendor's
Bronze assets; an unreadable archive is reported by the `archives_readable` check (a warning:
every other archive is unpacked and usable). Nothing here names a vendor.
"""

# No `from __future__ import annotations`: Dagster inspects these type hints at runtime.

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from resources.lake import LakeResource
from resources.vendors import VendorsResource
from vendors.registry import available_vendors

CHECK = "archives_readable"


def unpack_key(vendor: str) -> AssetKey:
    return AssetKey(["bronze", vendor, "unpacked"])


def vendors_with_unpack() -> list[str]:
    return [name for name, cls in available_vendors().items() if callable(getattr(cls, "unpack", None))]


def build_unpack_asset(vendor: str) -> AssetsDefinition:
    key = unpack_key(vendor)

    @asset(
        key=key,
        group_name="bronze",
        description=f"{vendor} archives unpacked next to Bronze (archives are never modified); idempotent.",
        kinds={"python"},
        check_specs=[
            AssetCheckSpec(CHECK, asset=key, description="Every archive could be unpacked (else: named and why).")
        ],
    )
    def _unpack(context: AssetExecutionContext, lake: LakeResource, vendors: VendorsResource) -> MaterializeResult:
        plugins = [p for p in vendors.plugins() if p.name == vendor]
        if not plugins:
            context.log.warning(f"vendor {vendor} is disabled in the vendors resource; nothing unpacked")
            return MaterializeResult(
                metadata={"disabled": True}, check_results=[AssetCheckResult(check_name=CHECK, passed=True)]
            )
        report = plugins[0].unpack(lake.resolved_bronze_root())
        for archive, problem in report.failed.items():
            context.log.error(f"{vendor}: {problem} ({archive})")
        context.log.info(
            f"{vendor}: unpacked {len(report.unpacked)} archive(s) ({report.members} file(s)), "
            f"{len(report.skipped)} already done, {len(report.failed)} failed"
        )
        return MaterializeResult(
            metadata={
                "archives_unpacked": MetadataValue.json(report.unpacked),
                "archives_skipped": len(report.skipped),
                "archives_failed": MetadataValue.json(report.failed),
                "files_written": report.members,
            },
            check_results=[
                AssetCheckResult(
                    check_name=CHECK,
                    passed=not report.failed,
                    severity=AssetCheckSeverity.WARN,
                    description="; ".join(report.failed.values()) or "every archive unpacked",
                    metadata={"failed": MetadataValue.json(report.failed)},
                )
            ],
        )

    return _unpack


UNPACK_ASSETS: dict[str, AssetsDefinition] = {v: build_unpack_asset(v) for v in vendors_with_unpack()}
