"""The asset kinds as data: each one names its table, models and relations.

Adding an asset type means adding one description here (and its table); the service, the API
routes and the console tree are generated from this list.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel
from sqlalchemy import Table

from e200.archives import model, tables
from e200.archives.tables import RELATION_SPECS, RelationSpec


@dataclass(frozen=True)
class AssetKind:
    name: str
    plural: str
    label: str
    table: Table
    create_model: type[BaseModel]
    patch_model: type[BaseModel]
    org_relation: RelationSpec
    parent_relation: RelationSpec | None = None
    # Child relations (this asset as parent) that block retirement while open.
    child_relations: tuple[str, ...] = ()

    @property
    def attribute_columns(self) -> list[str]:
        return [f for f in self.create_model.model_fields if f not in _NON_COLUMN_INPUTS]


_NON_COLUMN_INPUTS = {
    "asset_number",
    "org_unit",
    "valid_from",
    "substation",
    "feeder",
    "transformer",
    "phase",
}

KINDS: dict[str, AssetKind] = {
    k.name: k
    for k in (
        AssetKind(
            "substation", "substations", "Substation", tables.substation,
            model.SubstationIn, model.SubstationPatch,
            RELATION_SPECS["substation_org_unit"],
            child_relations=("feeder_substation",),
        ),
        AssetKind(
            "feeder", "feeders", "Feeder", tables.feeder,
            model.FeederIn, model.FeederPatch,
            RELATION_SPECS["feeder_org_unit"], RELATION_SPECS["feeder_substation"],
            child_relations=("transformer_feeder",),
        ),
        AssetKind(
            "transformer", "transformers", "Transformer", tables.transformer,
            model.TransformerIn, model.TransformerPatch,
            RELATION_SPECS["transformer_org_unit"], RELATION_SPECS["transformer_feeder"],
            child_relations=("terminal_transformer", "meter_transformer"),
        ),
        AssetKind(
            "terminal", "terminals", "Terminal", tables.terminal,
            model.TerminalIn, model.TerminalPatch,
            RELATION_SPECS["terminal_org_unit"], RELATION_SPECS["terminal_transformer"],
        ),
        AssetKind(
            "meter", "meters", "Meter", tables.meter,
            model.MeterIn, model.MeterPatch,
            RELATION_SPECS["meter_org_unit"], RELATION_SPECS["meter_transformer"],
        ),
    )
}  # fmt: skip


def kind_by_plural(plural: str) -> AssetKind:
    for kind in KINDS.values():
        if kind.plural == plural:
            return kind
    raise KeyError(plural)
