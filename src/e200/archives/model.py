"""Pydantic models of the archive: what the API, the CLI and later the import accept and return.

Quantities carry their unit in their name (``rated_kva``, ``secondary_rated_v``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

AssetNumber = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$",
        description="Business key, unique per asset type (letters, digits, . _ : / -).",
    ),
]
OrgCode = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
]
Status = Literal["in_service", "out_of_service", "retired"]
OrgUnitKind = Literal["company", "region", "branch", "operating_unit", "district", "team"]
Phase = Literal["A", "B", "C", "ABC"]
Lat = Annotated[float, Field(ge=-90, le=90)]
Lon = Annotated[float, Field(ge=-180, le=180)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# -- org units ---------------------------------------------------------------------------------


class OrgUnitIn(_In):
    code: OrgCode
    name: str = Field(min_length=1, max_length=200)
    kind: OrgUnitKind
    parent: OrgCode | None = Field(default=None, description="Code of the parent unit.")


class OrgUnitPatch(_In):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: OrgUnitKind | None = None


class OrgUnitOut(BaseModel):
    code: str
    name: str
    kind: str
    parent: str | None
    depth: int


# -- asset attributes --------------------------------------------------------------------------


class SubstationFields(_In):
    name: str | None = Field(default=None, max_length=200)
    voltage_kv: float | None = Field(default=None, gt=0, description="Primary voltage, kV.")
    lat: Lat | None = None
    lon: Lon | None = None


class FeederFields(_In):
    name: str | None = Field(default=None, max_length=200)
    voltage_kv: float | None = Field(default=None, gt=0, description="Line voltage, kV.")


class TransformerFields(_In):
    name: str | None = Field(default=None, max_length=200)
    rated_kva: float = Field(gt=0, le=100_000, description="Rated apparent power, kVA.")
    primary_rated_kv: float = Field(gt=0, le=500, description="Rated primary voltage, kV.")
    secondary_rated_v: float = Field(gt=0, le=2_000, description="Rated secondary voltage, V.")
    phases: Literal[1, 3] = 3
    vector_group: str | None = Field(default=None, max_length=16, examples=["Dyn11"])
    no_load_loss_kw: float | None = Field(default=None, ge=0)
    load_loss_kw: float | None = Field(default=None, ge=0)
    lat: Lat | None = None
    lon: Lon | None = None


class TerminalFields(_In):
    name: str | None = Field(default=None, max_length=200)
    kind: Literal["ttu", "concentrator", "dcu"] = "ttu"
    protocol: str | None = Field(default=None, max_length=32, examples=["mqtt", "dlt645"])
    imei: str | None = Field(default=None, max_length=32)
    sim_iccid: str | None = Field(default=None, max_length=32)
    firmware: str | None = Field(default=None, max_length=64)
    reporting_interval_min: Literal[5, 15, 30, 60] = 15
    collection_enabled: bool = True


class MeterFields(_In):
    name: str | None = Field(default=None, max_length=200)
    customer_account: str | None = Field(default=None, max_length=64)
    customer_name: str | None = Field(default=None, max_length=200)
    wiring: Literal["single_phase", "three_phase"] = "single_phase"
    ct_ratio: float = Field(default=1, gt=0, description="Current transformer ratio (e.g. 40).")
    pt_ratio: float = Field(default=1, gt=0, description="Voltage transformer ratio.")
    tariff: str | None = Field(default=None, max_length=64)
    collection_enabled: bool = True
    lat: Lat | None = None
    lon: Lon | None = None


def _patch_model(fields: type[_In], name: str) -> type[_In]:
    """The same attributes, all optional: PATCH changes only what it names."""
    annotations = {k: (f.annotation | None) for k, f in fields.model_fields.items()}  # type: ignore[operator]
    namespace: dict[str, object] = {"__annotations__": annotations}
    for key, info in fields.model_fields.items():
        namespace[key] = Field(default=None, **_constraints(info))  # type: ignore[call-overload]
    return type(name, (_In,), namespace)


def _constraints(info: object) -> dict[str, object]:
    out: dict[str, object] = {}
    for meta in getattr(info, "metadata", []):
        for attr in ("gt", "ge", "lt", "le", "max_length", "min_length"):
            value = getattr(meta, attr, None)
            if value is not None:
                out[attr] = value
    return out


class _Relations(_In):
    org_unit: OrgCode | None = Field(
        default=None, description="Owning org unit; defaults to the parent asset's org unit."
    )
    valid_from: datetime | None = Field(
        default=None, description="Start of the relations created with the asset; default now."
    )


class SubstationIn(SubstationFields, _Relations):
    asset_number: AssetNumber


class FeederIn(FeederFields, _Relations):
    asset_number: AssetNumber
    substation: AssetNumber | None = None


class TransformerIn(TransformerFields, _Relations):
    asset_number: AssetNumber
    feeder: AssetNumber | None = None


class TerminalIn(TerminalFields, _Relations):
    asset_number: AssetNumber
    transformer: AssetNumber | None = None


class MeterIn(MeterFields, _Relations):
    asset_number: AssetNumber
    transformer: AssetNumber | None = None
    phase: Phase | None = Field(
        default=None, description="Phase the meter is on; three-phase meters are 'ABC'."
    )


SubstationPatch = _patch_model(SubstationFields, "SubstationPatch")
FeederPatch = _patch_model(FeederFields, "FeederPatch")
TransformerPatch = _patch_model(TransformerFields, "TransformerPatch")
TerminalPatch = _patch_model(TerminalFields, "TerminalPatch")
MeterPatch = _patch_model(MeterFields, "MeterPatch")


# -- relations, retirement, topology -----------------------------------------------------------


class RelationIn(_In):
    """Attach a child to a new parent from ``valid_from`` (closing the open period there)."""

    parent: str = Field(min_length=1, max_length=64, description="Parent's asset number or code.")
    phase: Phase | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None


class RelationOut(BaseModel):
    parent: str
    phase: str | None = None
    valid_from: datetime
    valid_to: datetime | None


class RetireIn(_In):
    at: datetime | None = Field(default=None, description="Retirement time; default now.")


class Page(BaseModel):
    items: list[dict[str, object]]
    total: int
    limit: int
    offset: int


class TopologyMeter(BaseModel):
    asset_number: str
    customer_account: str | None
    phase: str | None
    status: str
    valid_from: datetime
    valid_to: datetime | None


class Topology(BaseModel):
    at: datetime
    transformer: dict[str, object]
    org_unit: str | None
    feeder: str | None
    substation: str | None
    terminals: list[str]
    meters: list[TopologyMeter]


class TreeNode(BaseModel):
    """One node of the archive browser's tree."""

    kind: str
    key: str
    label: str
    has_children: bool
