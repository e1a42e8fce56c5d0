"""Grid archive: org tree, substations, feeders, transformers, terminals, meters and their
effective-dated relations."""

from e200.archives.api import router
from e200.archives.kinds import KINDS, AssetKind
from e200.archives.model import (
    FeederIn,
    MeterIn,
    OrgUnitIn,
    SubstationIn,
    TerminalIn,
    TransformerIn,
    TreeNode,
)
from e200.archives.service import (
    counts,
    create_asset,
    create_org_unit,
    get_asset,
    get_org_unit,
    list_assets,
    list_org_units,
    org_path,
    search_assets,
    topology,
    tree_children,
    tree_path,
)
from e200.archives.tables import metadata

__all__ = [
    "KINDS",
    "AssetKind",
    "FeederIn",
    "MeterIn",
    "OrgUnitIn",
    "SubstationIn",
    "TerminalIn",
    "TransformerIn",
    "TreeNode",
    "counts",
    "create_asset",
    "create_org_unit",
    "get_asset",
    "get_org_unit",
    "list_assets",
    "list_org_units",
    "metadata",
    "org_path",
    "router",
    "search_assets",
    "topology",
    "tree_children",
    "tree_path",
]
