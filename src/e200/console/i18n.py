"""Every text the console shows, per language.

Pages never spell a user-visible word themselves: they call ``t("key")``. Adding a language means
adding one dictionary to ``TEXTS`` (same keys); a key missing there falls back to English, and a key
missing everywhere shows itself, so a forgotten translation is visible but never breaks a page.

Key families: ``nav.*`` header, ``overview.*``, ``archive.*``, ``details.*``, ``kind.*`` /
``kinds.*`` asset kinds (singular / plural), ``field.*`` attribute labels, ``status.*``,
``org_kind.*``, ``wiring.*``, ``terminal_kind.*`` (stored codes shown to people).
"""

from __future__ import annotations

DEFAULT_LANGUAGE = "en"

_EN: dict[str, str] = {
    "app.title": "E200",
    "app.subtitle": "Distribution master station",
    "nav.overview": "Overview",
    "nav.archive": "Archive",
    "nav.toggle_tree": "Show or hide the grid tree",
    # overview
    "overview.title": "Overview",
    "overview.in_service": "In service",
    "overview.open_archive": "Open the archive",
    # archive browser
    "archive.title": "Archive",
    "archive.search": "Search by asset number",
    "archive.search_hint": "Start of an asset number, or part of a name",
    "archive.search_results": "Search results",
    "archive.no_results": "No asset matches “{q}”.",
    "archive.tree": "Grid tree",
    "archive.loading": "Loading…",
    "archive.empty": "The archive is empty.",
    "archive.nothing_selected": "Select a node in the tree or search for an asset.",
    "archive.not_found": "{kind} {key} was not found.",
    "archive.not_in_tree": "This asset has no place in the tree (it has no parent now).",
    # details panel
    "details.title": "Details",
    "details.station_area": "Station area",
    "details.meters_per_phase": "Meters per phase",
    "details.meters": "Meters",
    "details.terminals": "Terminals",
    "details.no_meters": "No meter is connected.",
    "details.no_terminals": "No terminal is connected.",
    "details.phase_total": "Total",
    "details.curve_7d": "Last 7 days",
    "details.no_readings": "No readings in the last 7 days.",
    "curve.voltage": "Voltage (V)",
    "curve.power": "Active power (kW)",
    "quantity.v_a_v": "Voltage A",
    "quantity.v_b_v": "Voltage B",
    "quantity.v_c_v": "Voltage C",
    "quantity.v_v": "Voltage",
    "quantity.p_kw": "Active power",
    "yes": "Yes",
    "no": "No",
    "empty_value": "—",
    # asset kinds
    "kind.org_unit": "Org unit",
    "kind.substation": "Substation",
    "kind.feeder": "Feeder",
    "kind.transformer": "Transformer",
    "kind.terminal": "Terminal",
    "kind.meter": "Meter",
    "kinds.substations": "Substations",
    "kinds.feeders": "Feeders",
    "kinds.transformers": "Transformers",
    "kinds.terminals": "Terminals",
    "kinds.meters": "Meters",
    # attribute labels (asset and org unit fields, relations, bookkeeping)
    "field.asset_number": "Asset number",
    "field.code": "Code",
    "field.name": "Name",
    "field.kind": "Kind",
    "field.parent": "Parent unit",
    "field.depth": "Depth",
    "field.status": "Status",
    "field.org_unit": "Org unit",
    "field.substation": "Substation",
    "field.feeder": "Feeder",
    "field.transformer": "Transformer",
    "field.phase": "Phase",
    "field.voltage_kv": "Voltage (kV)",
    "field.lat": "Latitude",
    "field.lon": "Longitude",
    "field.rated_kva": "Rated power (kVA)",
    "field.primary_rated_kv": "Primary rated voltage (kV)",
    "field.secondary_rated_v": "Secondary rated voltage (V)",
    "field.phases": "Phases",
    "field.vector_group": "Vector group",
    "field.no_load_loss_kw": "No-load loss (kW)",
    "field.load_loss_kw": "Load loss (kW)",
    "field.protocol": "Protocol",
    "field.imei": "IMEI",
    "field.sim_iccid": "SIM ICCID",
    "field.firmware": "Firmware",
    "field.reporting_interval_min": "Reporting interval (min)",
    "field.collection_enabled": "Collection enabled",
    "field.customer_account": "Customer account",
    "field.customer_name": "Customer name",
    "field.wiring": "Wiring",
    "field.ct_ratio": "CT ratio",
    "field.pt_ratio": "PT ratio",
    "field.multiplier": "Multiplier",
    "field.tariff": "Tariff",
    "field.retired_at": "Retired at",
    "field.created_at": "Created at",
    "field.updated_at": "Updated at",
    "field.valid_from": "Valid from",
    "field.valid_to": "Valid to",
    # stored codes
    "status.in_service": "In service",
    "status.out_of_service": "Out of service",
    "status.retired": "Retired",
    "org_kind.company": "Company",
    "org_kind.region": "Region",
    "org_kind.branch": "Branch",
    "org_kind.operating_unit": "Operating unit",
    "org_kind.district": "District",
    "org_kind.team": "Team",
    "wiring.single_phase": "Single-phase",
    "wiring.three_phase": "Three-phase",
    "terminal_kind.ttu": "Transformer terminal unit (TTU)",
    "terminal_kind.concentrator": "Concentrator",
    "terminal_kind.dcu": "Data concentrator unit (DCU)",
}

TEXTS: dict[str, dict[str, str]] = {
    "en": _EN,
    # "zh": {...}  the same keys in Chinese
}

_language = DEFAULT_LANGUAGE


def set_language(language: str) -> None:
    """Language of the texts from now on (one per server until users choose their own)."""
    global _language
    if language not in TEXTS:
        raise ValueError(f"no texts for language {language!r}; have {sorted(TEXTS)}")
    _language = language


def current_language() -> str:
    return _language


def t(key: str, /, **values: object) -> str:
    """The text for ``key`` in the current language, with ``{name}`` placeholders filled."""
    text = TEXTS.get(_language, {}).get(key) or TEXTS[DEFAULT_LANGUAGE].get(key) or key
    return text.format(**values) if values else text


def has_text(key: str) -> bool:
    return key in TEXTS[DEFAULT_LANGUAGE]
