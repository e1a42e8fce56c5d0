"""Grid archive: org tree, substations, feeders, transformers, terminals, meters and their
effective-dated relations."""

from e200.archives import imports
from e200.archives.api import router
from e200.archives.areas import (
    DeviceFacts,
    MeterPlacement,
    MeterSite,
    StationArea,
    TransformerSite,
    asset_numbers,
    device_facts,
    devices_in_scope,
    meter_placements,
    meter_sites,
    station_areas,
    terminals_at,
    transformer_sites,
)
from e200.archives.assets import create_asset, get_asset, list_assets, numbers_in_scope
from e200.archives.browse import counts, search_assets, tree_children, tree_path
from e200.archives.common import scope_clause
from e200.archives.devices import DeviceRef, lookup_devices, set_reporting_interval
from e200.archives.events import (
    RelationChange,
    RelationListener,
    on_archive_written,
    on_relation_change,
)
from e200.archives.imports.queue import JOBS
from e200.archives.kinds import KINDS, AssetKind
from e200.archives.model import (
    FeederIn,
    MeterIn,
    OrgUnitIn,
    OrgUnitOut,
    Phase,
    RelationIn,
    RelationOut,
    SubstationIn,
    TerminalIn,
    Topology,
    TransformerIn,
    TreeNode,
)
from e200.archives.org_units import create_org_unit, get_org_unit, list_org_units, org_path
from e200.archives.relations import detach_relation, relation_history, set_relation, topology
from e200.archives.roster import meter_roster, terminal_roster
from e200.archives.tables import metadata
from e200.archives.tables import org_unit as org_unit_table

__all__ = [
    "JOBS",
    "KINDS",
    "AssetKind",
    "DeviceFacts",
    "DeviceRef",
    "FeederIn",
    "MeterIn",
    "MeterPlacement",
    "MeterSite",
    "OrgUnitIn",
    "OrgUnitOut",
    "Phase",
    "RelationChange",
    "RelationIn",
    "RelationListener",
    "RelationOut",
    "StationArea",
    "SubstationIn",
    "TerminalIn",
    "Topology",
    "TransformerIn",
    "TransformerSite",
    "TreeNode",
    "asset_numbers",
    "counts",
    "create_asset",
    "create_org_unit",
    "detach_relation",
    "device_facts",
    "devices_in_scope",
    "get_asset",
    "get_org_unit",
    "imports",
    "list_assets",
    "list_org_units",
    "lookup_devices",
    "metadata",
    "meter_placements",
    "meter_roster",
    "meter_sites",
    "numbers_in_scope",
    "on_archive_written",
    "on_relation_change",
    "org_path",
    "org_unit_table",
    "relation_history",
    "router",
    "scope_clause",
    "search_assets",
    "set_relation",
    "set_reporting_interval",
    "station_areas",
    "terminal_roster",
    "terminals_at",
    "topology",
    "transformer_sites",
    "tree_children",
    "tree_path",
]
