"""The archive as the console browses it: the tree one level at a time, the path down to a node,
search by asset number, and counts per kind for the overview."""

from __future__ import annotations

from sqlalchemy import Connection, select

from e200.archives.assets import asset_row, list_assets
from e200.archives.kinds import KINDS
from e200.archives.model import TreeNode
from e200.archives.org_units import list_org_units, org_by_code
from e200.archives.tables import org_unit
from e200.kernel import NotFoundError, Scope

_TREE_CHILD: dict[str, tuple[str, ...]] = {
    "substation": ("feeder",),
    "feeder": ("transformer",),
    "transformer": ("terminal", "meter"),
}


TREE_CHILD_LIMIT = 500


def _label(number: object, name: object) -> str:
    return f"{number} · {name}" if name else str(number)


def tree_children(
    conn: Connection, node_kind: str | None, key: str | None, scope: Scope
) -> list[TreeNode]:
    """Children of one node of the archive tree: org units hold org units and substations;
    substation → feeders → transformers → terminals and meters (as of now)."""
    if node_kind is None:
        units = list_org_units(conn, scope)
        depth_min = min((u.depth for u in units), default=0)
        return [TreeNode(kind="org_unit", key=u.code, label=u.name, has_children=True)
                for u in units if u.depth == depth_min]  # fmt: skip
    if node_kind == "org_unit":
        assert key is not None
        units = list_org_units(conn, scope, children_of=key)
        nodes = [TreeNode(kind="org_unit", key=u.code, label=u.name, has_children=True)
                 for u in units]  # fmt: skip
        page = list_assets(conn, KINDS["substation"], scope, org_unit_code=key, subtree=False,
                           limit=TREE_CHILD_LIMIT)  # fmt: skip
        nodes += [TreeNode(kind="substation", key=str(i["asset_number"]),
                           label=_label(str(i["asset_number"]), i["name"]), has_children=True)
                  for i in page.items]  # fmt: skip
        return nodes
    nodes = []
    assert key is not None
    if asset_row(conn, KINDS[node_kind], key, scope) is None:
        raise NotFoundError(node_kind, key)
    for child in _TREE_CHILD.get(node_kind, ()):
        page = list_assets(conn, KINDS[child], scope, parent=key, limit=TREE_CHILD_LIMIT)
        nodes += [TreeNode(kind=child, key=str(i["asset_number"]),
                           label=_label(str(i["asset_number"]), i.get("name")),
                           has_children=child in _TREE_CHILD)
                  for i in page.items]  # fmt: skip
    return nodes


def tree_path(conn: Connection, node_kind: str, key: str, scope: Scope) -> list[tuple[str, str]]:
    """The chain of (kind, key) from the top of the tree down to a node, for search results."""
    chain: list[tuple[str, str]] = []
    kind_name: str | None = node_kind
    current: str | None = key
    org_code: str | None = None
    while kind_name is not None and kind_name != "org_unit" and current is not None:
        row = asset_row(conn, KINDS[kind_name], current, scope)
        if row is None:
            raise NotFoundError(kind_name, current)
        chain.append((kind_name, current))
        org_code = row.org_unit
        spec = KINDS[kind_name].parent_relation
        if spec is None:
            break
        kind_name, current = spec.parent, getattr(row, spec.parent)
    if node_kind == "org_unit":
        org_code = key
    unit = org_by_code(conn, org_code, scope) if org_code else None
    if unit is not None:
        ids = [int(p) for p in unit.path.rstrip(".").split(".")]
        rows = conn.execute(select(org_unit.c.id, org_unit.c.code, org_unit.c.path)
                            .where(org_unit.c.id.in_(ids))).all()  # fmt: skip
        by_id = {r.id: r for r in rows}
        for org_id in reversed(ids):
            r = by_id[org_id]
            if scope.allows(r.path):
                chain.append(("org_unit", r.code))
    return list(reversed(chain))


def search_assets(conn: Connection, q: str, scope: Scope, limit: int = 20) -> list[TreeNode]:
    """Assets whose number starts with ``q`` (any kind), for the console's search box."""
    results: list[TreeNode] = []
    for kind in KINDS.values():
        page = list_assets(conn, kind, scope, q=q, limit=limit)
        results += [TreeNode(kind=kind.name, key=str(i["asset_number"]),
                             label=_label(str(i["asset_number"]), i.get("name")),
                             has_children=kind.name in _TREE_CHILD)
                    for i in page.items]  # fmt: skip
    return results[:limit]


def counts(conn: Connection, scope: Scope) -> dict[str, int]:
    """Assets in service per kind, for the overview page."""
    out: dict[str, int] = {}
    for kind in KINDS.values():
        page = list_assets(conn, kind, scope, status="in_service", limit=1)
        out[kind.plural] = page.total
    return out
