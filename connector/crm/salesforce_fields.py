"""Salesforce field metadata: describe entries to :class:`FieldInfo`, and custom field creation.

Creation goes through the Tooling API (``tooling/sobjects/CustomField``). Existence is read from
the Tooling API too (``CustomField`` rows), because describe hides a field until field-level
security grants it: relying on describe would try to create it again on the second run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from connector.errors import ConfigError
from connector.records import FieldCatalog, FieldInfo, FieldSpec, ProvisionReport

KINDS = {
    "string": "string", "email": "string", "phone": "string", "url": "string",
    "encryptedstring": "string", "combobox": "string", "textarea": "text",
    "double": "number", "currency": "number", "percent": "number", "int": "number",
    "long": "number", "boolean": "boolean", "date": "date", "datetime": "datetime",
    "picklist": "picklist", "multipicklist": "picklist", "id": "id", "reference": "id",
}


WHOLE_NUMBER_TYPES = ("int", "long")  # describe states their size in ``digits``, precision 0


def _digits(entry: dict) -> tuple[int | None, int | None]:
    """(precision, scale) of a number field's describe entry; (None, None) when it states none.

    ``double``, ``currency`` and ``percent`` fields give ``precision`` (total digits) and
    ``scale`` (decimals); ``int`` and ``long`` give their size in ``digits`` and take no decimals.
    """
    if entry.get("type") in WHOLE_NUMBER_TYPES:
        digits = entry.get("digits") or entry.get("precision") or None
        return (digits, 0) if digits else (None, None)
    precision = entry.get("precision") or None
    return (precision, entry.get("scale") or 0) if precision else (None, None)


def field_info(entry: dict) -> FieldInfo:
    """A describe ``fields[]`` entry as a :class:`FieldInfo`."""
    kind = KINDS.get(entry.get("type", ""), "other")
    precision, scale = _digits(entry) if kind == "number" else (None, None)
    return FieldInfo(
        name=entry["name"], label=entry.get("label") or entry["name"], kind=kind,
        crm_type=entry.get("type", ""),
        length=(entry.get("length") or None) if kind in ("string", "text") else None,
        updateable=bool(entry.get("updateable")),
        picklist=tuple(p["value"] for p in entry.get("picklistValues") or () if p.get("active")),
        custom=bool(entry.get("custom")), precision=precision, scale=scale)


def _metadata(spec: FieldSpec) -> dict[str, Any]:
    """The Tooling ``Metadata`` of ``spec`` (crm-api-notes 1.8)."""
    base: dict[str, Any] = {"label": spec.label, "description": spec.description}
    if spec.kind == "number":
        return {**base, "type": "Number", "precision": spec.precision or 18,
                "scale": spec.scale or 0}
    if spec.kind == "string":
        return {**base, "type": "Text", "length": spec.length or 255}
    if spec.kind == "text":
        return {**base, "type": "LongTextArea", "length": spec.length or 1000, "visibleLines": 3}
    if spec.kind == "datetime":
        return {**base, "type": "DateTime"}
    if spec.kind == "picklist":
        values = [{"fullName": o, "label": o, "default": False} for o in spec.options]
        return {**base, "type": "Picklist",
                "valueSet": {"restricted": True, "valueSetDefinition": {"value": values}}}
    raise ConfigError(f"salesforce output field {spec.name}: kind {spec.kind!r} cannot be "
                      f"created (use number, string, text, datetime or picklist)")


def _developer_name(name: str) -> str:
    return name[: -len("__c")]


def ensure_custom_fields(call: Callable, object_name: str, specs: Sequence[FieldSpec], *,
                         visible: FieldCatalog, dry_run: bool) -> ProvisionReport:
    """Create the custom fields of ``specs`` missing on ``object_name``; see ``CRM.ensure_fields``.

    ``call`` runs an action on the SDK client (the adapter's ``_call``), ``visible`` is a fresh
    describe. The report's manual step lists every field the integration user cannot see yet.
    """
    for spec in specs:
        if not spec.name.endswith("__c"):
            raise ConfigError(f"salesforce output field {spec.name!r} must be a custom field "
                              f"(its API name ends in __c)")
    soql = ("SELECT Id, DeveloperName FROM CustomField WHERE TableEnumOrId = "
            f"'{object_name}'")
    rows = call(lambda sf: sf.toolingexecute("query/", params={"q": soql}))["records"]
    on_org = {row["DeveloperName"] for row in rows}
    existing = [s.name for s in specs if s.name in visible or _developer_name(s.name) in on_org]
    missing = [s for s in specs if s.name not in existing]
    if not dry_run:
        for spec in missing:
            body = {"FullName": f"{object_name}.{spec.name}", "Metadata": _metadata(spec)}
            call(lambda sf, body=body: sf.toolingexecute("sobjects/CustomField/", method="POST",
                                                         data=body))
    hidden = [s.name for s in specs if s.name not in visible]
    return ProvisionReport(object_name, tuple(existing), tuple(s.name for s in missing),
                           dry_run=dry_run, manual_steps=security_steps(object_name, hidden))


def security_steps(object_name: str, hidden: Sequence[str]) -> tuple[str, ...]:
    """The manual step for output fields the integration user cannot see yet (none if none)."""
    if not hidden:
        return ()
    qualified = ", ".join(f"{object_name}.{name}" for name in hidden)
    return (f"grant field-level security (Read and Edit) on {qualified} to the integration "
            "user: rerun with --grant PERMISSION_SET (a permission set's API name; created and "
            "assigned to the integration user when missing), or in Setup > Permission Sets > "
            f"Object Settings > {object_name}",)
