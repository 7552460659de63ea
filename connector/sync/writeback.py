"""Pure helpers of the sync engine: fingerprints, the values to write back, and the diff.

* :func:`fingerprint` - a hash of a record's mapped input values. Unchanged inputs and the same
  model version mean nothing to do, which is also what stops the write-back loop.
* :func:`output_values` - a :class:`~connector.model.scoring.LeadScore` as CRM field values.
* :func:`changed_fields` - the outputs whose CRM value really differs (HubSpot's ``"42"`` and
  Salesforce's ``42.0`` are the same score).
* :func:`stored_value` - what the state store may keep of a value: numbers, tiers and versions
  as they are, free text (reasons quote the lead's own values) only as a short hash.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from connector.mapping import Mapping as FieldMapping
from connector.mapping import canonical, to_number
from connector.records import FieldCatalog, FieldSpec, parse_stamp

if TYPE_CHECKING:  # connector.model.scoring imports the model package; only types are needed
    from connector.model.scoring import LeadScore

PROBABILITY_DIGITS = 3  # finer changes would rewrite every lead on every retrain for nothing
HASHED_ROLES = frozenset({"reason"})
# Roles whose change alone is not worth a write (a new timestamp on every run would loop).
PASSENGER_ROLES = frozenset({"scored_at"})


def fingerprint(values: Mapping[str, Any], fields: Sequence[str]) -> str:
    """A 32-hex-digit hash of ``fields`` of ``values``, compared the way the mapping compares
    values (so ``"7"`` and ``7.0`` or ``"true"`` and ``True`` hash alike)."""
    canon = [[name, canonical(values.get(name))] for name in sorted(fields)]
    return hashlib.sha256(json.dumps(canon, separators=(",", ":")).encode()).hexdigest()[:32]


def digest(text: str) -> str:
    """A short, stable hash of free text for the state store and audit rows."""
    return "sha256:" + hashlib.sha256(text.strip().encode()).hexdigest()[:16]


def roles_by_field(mapping: FieldMapping) -> dict[str, str]:
    """``{CRM field: output role}`` of every configured output."""
    return {field: role for role, field in mapping.outputs.named()}


def stored_value(role: str, value: Any) -> Any:
    """The form of an output value the state store keeps (no free text, JSON-ready)."""
    if value is None:
        return None
    if role in HASHED_ROLES:
        return digest(str(value))
    if role == "scored_at" and isinstance(value, str):
        try:  # the CRM's own form ("...000+0000", "...Z") compares equal to what we sent
            value = parse_stamp(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (bool, int, str)):
        return value
    return str(value)


def stored_values(mapping: FieldMapping, values: Mapping[str, Any],
                  roles: Mapping[str, str] | None = None) -> dict[str, Any]:
    """:func:`stored_value` for every output field present in ``values`` (``roles``: the
    mapping's :func:`roles_by_field`, when the caller has it at hand)."""
    roles = roles_by_field(mapping) if roles is None else roles
    return {field: stored_value(roles[field], values.get(field)) for field in roles
            if field in values}


def output_plan(mapping: FieldMapping) -> list[tuple[str, str, int | None]]:
    """``(role, CRM field, max_length)`` of every configured output, for :func:`output_values`
    (read once per run instead of once per lead)."""
    return [(role, field, getattr(mapping.outputs, role).max_length)
            for role, field in mapping.outputs.named()]


def output_values(lead: LeadScore, mapping: FieldMapping, *, model_version: str,
                  scored_at: datetime, catalog: FieldCatalog | None = None,
                  plan: list[tuple[str, str, int | None]] | None = None) -> dict[str, Any]:
    """The values to hold in each configured output field for one scored lead (``plan``: the
    mapping's :func:`output_plan`, when the caller has it at hand).

    Text is cut to the mapping's ``max_length`` and to the CRM field's length, so the write is
    never refused for length; a fraction is rounded to the CRM field's scale, as the CRM would
    store it, so the value held afterwards compares equal to the one written.
    """
    by_role: dict[str, Any] = {
        "score": int(lead.score), "tier": lead.tier, "reason": lead.reason,
        "probability": round(float(lead.probability), PROBABILITY_DIGITS),
        "model_version": model_version, "scored_at": scored_at}
    values = {}
    for role, field, limit in (output_plan(mapping) if plan is None else plan):
        value = by_role[role]
        if isinstance(value, str) and limit and len(value) > limit:
            value = value[: limit - 1] + "…"
        info = catalog.get(field) if catalog is not None else None
        if isinstance(value, str) and info is not None:
            value = info.fit(value)
        elif isinstance(value, float) and info is not None and info.scale is not None:
            value = float(info.stored_number(value))
        values[field] = value
    return values


def same_value(held: Any, new: Any) -> bool:
    """Whether the CRM's ``held`` value already equals ``new`` (type-tolerant)."""
    if new is None:
        return canonical(held) is None
    if isinstance(new, bool):
        return canonical(held) == canonical(new)
    if isinstance(new, (int, float)):
        number = to_number(held)
        return number is not None and abs(number - new) < 0.5 * 10 ** -PROBABILITY_DIGITS
    if isinstance(new, str):  # CRMs store an empty text as null
        return ("" if held is None else str(held).strip()) == new.strip()
    return canonical(held) == canonical(new)


def holds_stored(role: str, held: Any, stored: Any) -> bool:
    """Whether the CRM's ``held`` value is the one whose stored form is ``stored`` (used to
    tell whether a staged write landed before a crash)."""
    if role in HASHED_ROLES or role == "scored_at":
        return stored_value(role, held) == stored
    return same_value(held, stored)


def changed_fields(held: Mapping[str, Any], new: Mapping[str, Any],
                   roles: Mapping[str, str]) -> dict[str, Any]:
    """The outputs to write: those whose value differs from what the CRM ``held``.

    Passenger outputs (``scored_at``) go along only when something else changed.
    """
    changed = {field: value for field, value in new.items()
               if roles[field] not in PASSENGER_ROLES and not same_value(held.get(field), value)}
    if changed:
        changed.update({field: value for field, value in new.items()
                        if roles[field] in PASSENGER_ROLES})
    return changed


def preview_row(record_id: str, mapping: FieldMapping, held: Mapping[str, Any],
                new: Mapping[str, Any]) -> dict[str, Any]:
    """One line of the dry-run CSV: id, old and new score and tier, and the new reason."""
    out = mapping.outputs
    return {"id": record_id,
            "old_score": held.get(out.score.field), "new_score": new.get(out.score.field),
            "old_tier": held.get(out.tier.field), "new_tier": new.get(out.tier.field),
            "reason": new.get(out.reason.field)}


PREVIEW_COLUMNS = ("id", "old_score", "new_score", "old_tier", "new_tier", "reason")

_SPECS = {
    "score": dict(label="Lead score", kind="number", precision=3, scale=0,
                  description="Predicted chance of conversion, 0-100 (leadscore)"),
    "tier": dict(label="Lead tier", kind="string", length=40,
                 description="Hot / Warm / Cool / Cold band of the lead score (leadscore)"),
    "reason": dict(label="Lead score reason", kind="text", length=1000,
                   description="What pushed the score up or down (leadscore)"),
    "probability": dict(label="Conversion probability", kind="number", precision=4, scale=3,
                        description="Calibrated probability of conversion (leadscore)"),
    "model_version": dict(label="Lead score model", kind="string", length=40,
                          description="Model version that produced the score (leadscore)"),
    "scored_at": dict(label="Lead scored at", kind="datetime",
                      description="When the score was last written (leadscore)"),
}


def output_specs(mapping: FieldMapping) -> list[FieldSpec]:
    """The CRM fields the write-back needs for ``mapping``'s outputs (for ``ensure_fields``)."""
    specs = []
    for role, field in mapping.outputs.named():
        options = dict(_SPECS[role])
        limit = getattr(mapping.outputs, role).max_length
        if role == "reason" and limit:
            options["length"] = max(limit, 256)  # Salesforce long text starts at 256
        specs.append(FieldSpec(name=field, **options))
    return specs
