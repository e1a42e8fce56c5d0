"""REST routes of the archive, generated from the asset kinds (``/api/v1/<plural>``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, status

from e200.archives import assets, browse, org_units
from e200.archives import relations as relation_service
from e200.archives.kinds import KINDS, AssetKind
from e200.archives.model import (
    OrgUnitIn,
    OrgUnitOut,
    OrgUnitPatch,
    Page,
    RelationIn,
    RelationOut,
    RetireIn,
    Topology,
    TreeNode,
)
from e200.db.web import ConnDep, PrincipalDep, ScopeDep, requires
from e200.kernel import InvalidInputError, Offset, Permission

router = APIRouter(prefix="/api/v1", tags=["archives"])
VIEW = [requires(Permission.VIEW_DATA)]
EDIT = [requires(Permission.EDIT_ARCHIVES)]

TreeKind = Literal["org_unit", "substation", "feeder", "transformer", "terminal", "meter"]
At = Annotated[datetime | None, Query(description="As of this time (ISO 8601); default now.")]


@router.get("/org-units", dependencies=VIEW, response_model=list[OrgUnitOut], tags=["org units"])
def list_org_units(
    conn: ConnDep, scope: ScopeDep,
    under: Annotated[str | None, Query(description="Only this unit's subtree.")] = None,
    children_of: Annotated[str | None, Query(description="Only this unit's children.")] = None,
) -> list[OrgUnitOut]:  # fmt: skip
    return org_units.list_org_units(conn, scope, under=under, children_of=children_of)


@router.post(
    "/org-units", dependencies=EDIT, response_model=OrgUnitOut, status_code=201, tags=["org units"]
)
def create_org_unit(data: OrgUnitIn, conn: ConnDep, scope: ScopeDep) -> OrgUnitOut:
    return org_units.create_org_unit(conn, data, scope)


@router.get("/org-units/{code}", dependencies=VIEW, response_model=OrgUnitOut, tags=["org units"])
def get_org_unit(code: str, conn: ConnDep, scope: ScopeDep) -> OrgUnitOut:
    return org_units.get_org_unit(conn, code, scope)


@router.patch("/org-units/{code}", dependencies=EDIT, response_model=OrgUnitOut, tags=["org units"])
def update_org_unit(code: str, patch: OrgUnitPatch, conn: ConnDep, scope: ScopeDep) -> OrgUnitOut:
    return org_units.update_org_unit(conn, code, patch, scope)


@router.get("/transformers/{asset_number}/topology", dependencies=VIEW, response_model=Topology,
            tags=["transformers"])  # fmt: skip
def transformer_topology(asset_number: str, conn: ConnDep, scope: ScopeDep, at: At = None
                         ) -> Topology:  # fmt: skip
    """The station area as it was at ``at``: feeder, substation, org unit, terminals, meters."""
    return relation_service.topology(conn, asset_number, at, scope)


@router.get("/archive-tree", dependencies=VIEW, response_model=list[TreeNode], tags=["org units"])
def archive_tree(
    conn: ConnDep, scope: ScopeDep,
    kind: Annotated[TreeKind | None, Query(description="Kind of the node; none: the top")] = None,
    key: Annotated[str | None, Query(description="Code or asset number of the node")] = None,
) -> list[TreeNode]:  # fmt: skip
    """Children of one node of the archive tree (no ``kind``: the top org units)."""
    if kind is not None and key is None:
        raise InvalidInputError(f"key: required with kind={kind!r}", field="key")
    return browse.tree_children(conn, kind, key, scope)


def _add_kind_routes(kind: AssetKind) -> None:
    base = f"/{kind.plural}"
    tag = kind.plural
    create_model = kind.create_model
    patch_model = kind.patch_model

    def list_(
        conn: ConnDep, scope: ScopeDep,
        org_unit: Annotated[str | None, Query(description="Org unit code")] = None,
        subtree: Annotated[bool, Query(description="Include the unit's subtree")] = True,
        parent: Annotated[str | None, Query(description="Parent asset number")] = None,
        q: Annotated[str | None, Query(description="Asset number prefix or name part")] = None,
        status_: Annotated[str | None, Query(alias="status")] = None,
        sort: Annotated[str, Query(description="Column, '-' prefix for descending")] = (
            "asset_number"),
        limit: Annotated[int, Query(ge=1, le=assets.MAX_PAGE)] = 50,
        offset: Offset = 0,
        at: At = None,
    ) -> Page:  # fmt: skip
        return assets.list_assets(
            conn, kind, scope, org_unit_code=org_unit, subtree=subtree, parent=parent, q=q,
            status=status_, sort=sort, limit=limit, offset=offset, at=at,
        )  # fmt: skip

    def create(conn: ConnDep, scope: ScopeDep, data: Any) -> dict[str, Any]:
        return assets.create_asset(conn, kind, data, scope)

    create.__annotations__["data"] = Annotated[create_model, Body()]

    def get(asset_number: str, conn: ConnDep, scope: ScopeDep) -> dict[str, Any]:
        return assets.get_asset(conn, kind, asset_number, scope)

    def patch(asset_number: str, conn: ConnDep, scope: ScopeDep, data: Any) -> dict[str, Any]:
        return assets.update_asset(conn, kind, asset_number, data, scope)

    patch.__annotations__["data"] = Annotated[patch_model, Body()]

    def retire(asset_number: str, conn: ConnDep, principal: PrincipalDep,
               data: RetireIn | None = None) -> dict[str, Any]:  # fmt: skip
        return assets.retire_asset(conn, kind, asset_number, data.at if data else None,
                                   principal.scope, actor=principal.username)  # fmt: skip

    def history(asset_number: str, relation: str, conn: ConnDep, scope: ScopeDep
                ) -> list[RelationOut]:  # fmt: skip
        return relation_service.relation_history(conn, kind, asset_number, relation, scope)

    def set_relation(asset_number: str, relation: str, data: RelationIn, conn: ConnDep,
                     principal: PrincipalDep) -> list[RelationOut]:  # fmt: skip
        return relation_service.set_relation(conn, kind, asset_number, relation, data,
                                             principal.scope, actor=principal.username)  # fmt: skip

    relations = "org_unit" + (f" or {kind.parent_relation.parent}" if kind.parent_relation else "")
    router.add_api_route(
        base,
        list_,
        methods=["GET"],
        dependencies=VIEW,
        response_model=Page,
        tags=[tag],
        summary=f"List {kind.plural}",
        name=f"list_{kind.plural}",
    )
    router.add_api_route(
        base,
        create,
        methods=["POST"],
        dependencies=EDIT,
        status_code=status.HTTP_201_CREATED,
        tags=[tag],
        summary=f"Create a {kind.name}",
        name=f"create_{kind.name}",
    )
    router.add_api_route(
        f"{base}/{{asset_number}}",
        get,
        methods=["GET"],
        dependencies=VIEW,
        tags=[tag],
        summary=f"Get a {kind.name}",
        name=f"get_{kind.name}",
    )
    router.add_api_route(
        f"{base}/{{asset_number}}",
        patch,
        methods=["PATCH"],
        dependencies=EDIT,
        tags=[tag],
        summary=f"Change a {kind.name}'s attributes",
        name=f"patch_{kind.name}",
    )
    router.add_api_route(
        f"{base}/{{asset_number}}/retire",
        retire,
        methods=["POST"],
        dependencies=EDIT,
        tags=[tag],
        summary=f"Retire a {kind.name}",
        name=f"retire_{kind.name}",
    )
    router.add_api_route(
        f"{base}/{{asset_number}}/relations/{{relation}}",
        history,
        methods=["GET"],
        dependencies=VIEW,
        tags=[tag],
        response_model=list[RelationOut],
        name=f"relation_history_{kind.name}",
        summary=f"History of a {kind.name}'s relation ({relations})",
    )
    router.add_api_route(
        f"{base}/{{asset_number}}/relations/{{relation}}", set_relation, methods=["POST"],
        dependencies=EDIT, tags=[tag], response_model=list[RelationOut],
        name=f"set_relation_{kind.name}",
        summary=f"Attach a {kind.name} to a new {relations} from a time",
    )  # fmt: skip


for _kind in KINDS.values():
    _add_kind_routes(_kind)


from e200.archives.imports.api import router as _imports_router  # noqa: E402

router.include_router(_imports_router)
