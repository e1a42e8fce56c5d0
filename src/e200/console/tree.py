"""The archive browser's tree as plain data (no NiceGUI here, so it can be tested alone).

Nodes are dicts in the shape Quasar's QTree wants. A node whose children are not loaded yet holds
a single placeholder child, so the tree draws an expander; expanding it loads the real children.
Node ids are ``"{kind}:{key}"`` and unique in the whole tree (an asset has one parent at a time).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from e200.archives import TreeNode
from e200.console.i18n import t

PLACEHOLDER_SUFFIX = "/…"

ICONS: dict[str, str] = {
    "org_unit": "apartment",
    "substation": "factory",
    "feeder": "cable",
    "transformer": "bolt",
    "terminal": "router",
    "meter": "electric_meter",
}

Node = dict[str, Any]


def node_id(kind: str, key: str) -> str:
    return f"{kind}:{key}"


def parse_node_id(value: str) -> tuple[str, str] | None:
    """``"meter:M1"`` -> ``("meter", "M1")``; ``None`` for anything else (placeholders too)."""
    kind, sep, key = value.partition(":")
    if not sep or not key or kind not in ICONS or value.endswith(PLACEHOLDER_SUFFIX):
        return None
    return kind, key


def is_placeholder(node: Node) -> bool:
    return str(node["id"]).endswith(PLACEHOLDER_SUFFIX)


def _placeholder(parent_id: str) -> Node:
    return {
        "id": parent_id + PLACEHOLDER_SUFFIX,
        "label": t("archive.loading"),
        "icon": "hourglass_empty",
        "selectable": False,
    }


def to_node(item: TreeNode) -> Node:
    nid = node_id(item.kind, item.key)
    node: Node = {"id": nid, "label": item.label, "icon": ICONS.get(item.kind, "circle")}
    if item.has_children:
        node["children"] = [_placeholder(nid)]
    return node


class TreeModel:
    """The nodes loaded so far, indexed by id."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self._by_id: dict[str, Node] = {}

    def set_roots(self, items: Iterable[TreeNode]) -> None:
        self.nodes = [to_node(i) for i in items]
        self._by_id = {}
        self._index(self.nodes)

    def _index(self, nodes: list[Node]) -> None:
        for node in nodes:
            self._by_id[node["id"]] = node
            self._index(node.get("children", []))

    def get(self, nid: str) -> Node | None:
        return self._by_id.get(nid)

    def __contains__(self, nid: object) -> bool:
        return nid in self._by_id

    def needs_loading(self, nid: str) -> bool:
        """True when the node exists and still holds only its placeholder."""
        node = self._by_id.get(nid)
        if node is None:
            return False
        children = node.get("children", [])
        return len(children) == 1 and is_placeholder(children[0])

    def set_children(self, nid: str, items: Iterable[TreeNode]) -> None:
        node = self._by_id[nid]
        for old in node.get("children", []):
            self._forget(old)
        children = [to_node(i) for i in items]
        node["children"] = children
        self._index(children)

    def _forget(self, node: Node) -> None:
        self._by_id.pop(node["id"], None)
        for child in node.get("children", []):
            self._forget(child)

    def props(self) -> list[Node]:
        """The nodes for the tree element (it keeps its own copy)."""
        return self.nodes
