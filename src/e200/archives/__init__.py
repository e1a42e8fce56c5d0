"""Grid archive: org tree, substations, feeders, transformers, terminals, meters and their
effective-dated relations."""

from e200.archives.api import router
from e200.archives.kinds import KINDS, AssetKind
from e200.archives.model import (
    FeederIn,
    MeterIn,
    OrgUnitIn,
    OrgUnitOut,
    SubstationIn,
    TerminalIn,
    Topology,
    TransformerIn,
    TreeNode,
)
from e200.archives.service import (
    DeviceRef,
    counts,
    create_asset,
    create_org_unit,
    get_asset,
    get_org_unit,
    list_assets,
    list_org_units,
    lookup_devices,
    numbers_in_scope,
    org_path,
    scope_clause,
    search_assets,
    set_reporting_interval,
    topology,
    tree_children,
    tree_path,
)
from e200.archives.tables import metadata
from e200.archives.tables import org_unit as org_unit_table

__all__ = [
    "KINDS",
    "AssetKind",
    "DeviceRef",
    "FeederIn",
    "MeterIn",
    "OrgUnitIn",
    "OrgUnitOut",
    "SubstationIn",
    "TerminalIn",
    "Topology",
    "TransformerIn",
    "TreeNode",
    "counts",
    "create_asset",
    "create_org_unit",
    "get_asset",
    "get_org_unit",
    "list_assets",
    "list_org_units",
    "lookup_devices",
    "metadata",
    "numbers_in_scope",
    "org_path",
    "org_unit_table",
    "router",
    "scope_clause",
    "search_assets",
    "set_reporting_interval",
    "topology",
    "tree_children",
    "tree_path",
]
