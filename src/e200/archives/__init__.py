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
    org_path,
    search_assets,
    set_reporting_interval,
    topology,
    tree_children,
    tree_path,
)
from e200.archives.tables import metadata

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
    "org_path",
    "router",
    "search_assets",
    "set_reporting_interval",
    "topology",
    "tree_children",
    "tree_path",
]
