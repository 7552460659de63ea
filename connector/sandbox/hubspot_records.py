"""Records of the HubSpot emulator: storage, validation of written values, server stamps.

:class:`RecordStore` holds every object type's records (values as strings keyed by property
name), validates writes against the property definitions, and keeps what the server owns: ids,
the creation stamp, the modification stamps that move when a value changes, ``hs_object_id``,
the contact email index (HubSpot refuses a second contact with the same email) and the value
history ``propertiesWithHistory`` reads. It does no locking: :class:`HubSpotPortal` guards it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from connector.sandbox.hubspot_errors import (
    HubSpotError, invalid_json, iso_ms, property_values_error, validation_error)
from connector.sandbox.hubspot_properties import PropertyRegistry
from connector.sandbox.hubspot_ratelimit import PORTAL_ID
from connector.sandbox.hubspot_schema import (
    ObjectType, Property, check_value, read_only, unknown_property)

FIRST_ID = 1001


@dataclass
class Record:
    """One CRM object: its id, stored values and the history of values changed since creation."""

    id: str
    values: dict[str, str | None]
    created_source: str  # HubSpot's sourceType of the creation: API or IMPORT
    history: dict[str, list[tuple[str | None, str, str]]] = field(default_factory=dict)


class RecordStore:
    """Every record of one portal, with the validation and stamps HubSpot applies to writes."""

    def __init__(self, types: tuple[ObjectType, ...], registry: PropertyRegistry) -> None:
        self.registry = registry
        self.tables: dict[str, dict[str, Record]] = {t.name: {} for t in types}
        self.order: dict[str, list[int]] = {t.name: [] for t in types}  # ids, ascending
        self._emails: dict[str, str] = {}
        self._next_id = FIRST_ID
        self.version = 0  # moves on every change; invalidates cached search orders

    def props(self, otype: ObjectType) -> dict[str, Property]:
        """The property definitions of ``otype``."""
        return self.registry.properties[otype.name]

    def record(self, otype: ObjectType, record_id: str) -> Record | None:
        """The record with ``record_id``, or None."""
        return self.tables[otype.name].get(record_id)

    # -- reading -------------------------------------------------------------------------------

    def to_json(self, otype: ObjectType, record: Record, names: list[str] | None,
                history: list[str] | None = None) -> dict:
        """The record as HubSpot returns it: only the asked-for (or default) properties plus
        the ones HubSpot always adds; unknown names are ignored, unset ones come back null."""
        props = self.props(otype)
        wanted = set(otype.defaults if names is None else names) | set(otype.always)
        body = {"id": record.id,
                "properties": {n: record.values.get(n) for n in sorted(wanted) if n in props},
                "createdAt": record.values[otype.created[0]],
                "updatedAt": record.values[otype.modified[0]], "archived": False}
        if history:
            body["propertiesWithHistory"] = {n: self._history(otype, record, n)
                                             for n in history if n in props}
        return body

    def _history(self, otype: ObjectType, record: Record, name: str) -> list[dict]:
        created = record.values[otype.created[0]]
        changes = record.history.get(name) or (
            [(record.values.get(name), created, record.created_source)]
            if record.values.get(name) is not None else [])
        return [{"value": v or "", "timestamp": ts, "sourceType": src}
                for v, ts, src in reversed(changes)]

    def find(self, otype: ObjectType, keys: list[str], id_property: str | None,
             *, reading: bool) -> dict[str, Record]:
        """The records ``keys`` name, by id or by a unique ``id_property`` (also email on
        contacts, for reads); keys that name nothing are left out."""
        if id_property in (None, "", "hs_object_id"):
            return {k: r for k in keys if (r := self.record(otype, k))}
        prop = self.props(otype).get(id_property)
        by_email = otype.name == "contacts" and id_property == "email"
        if prop is None or not (prop.has_unique_value or (reading and by_email)):
            raise validation_error(f"Unable to perform update/upsert by non-unique "
                                   f"{otype.type_id} property {id_property} in portal ID "
                                   f"{PORTAL_ID}")
        if by_email:
            return {k: r for k in keys if (r := self.record(otype, self._emails.get(k.lower(), "")))}
        wanted, found = set(keys), {}
        for record in self.tables[otype.name].values():
            if record.values.get(id_property) in wanted:
                found[record.values[id_property]] = record
        return found

    # -- writing -------------------------------------------------------------------------------

    def clean(self, otype: ObjectType, raw: object, *, creating: bool) -> tuple[dict, list]:
        """Written values in stored form, plus HubSpot's validation failures."""
        if not isinstance(raw, dict):
            raise invalid_json("Cannot deserialize value of type `Map<String,String>` "
                               "(properties)")
        props, clean, failures = self.props(otype), {}, []
        system = {"hs_object_id", *otype.modified} | (set() if creating else set(otype.created))
        for name, value in raw.items():
            prop = props.get(name)
            if prop is None:
                failures.append(unknown_property(name))
            elif name in system or (prop.read_only_value and name not in otype.created):
                failures.append(read_only(name))
            else:
                stored, failure = check_value(prop, value)
                failures.extend([failure] if failure else [])
                clean[name] = stored
        return clean, failures

    def check_unique(self, otype: ObjectType, changes: list[tuple[Record | None, dict]]) -> None:
        """HubSpot's 409 when a write would give two contacts the same email."""
        if otype.name != "contacts":
            return
        claimed: dict[str, str] = {}
        for record, clean in changes:
            email = (clean.get("email") or "").lower()
            if not email:
                continue
            owner = self._emails.get(email) or claimed.get(email)
            if owner and (record is None or owner != record.id):
                raise HubSpotError(409, "CONFLICT", f"Contact already exists. Existing ID: {owner}")
            claimed[email] = record.id if record else "(in this batch)"

    def check_associations(self, otype: ObjectType, clean: dict, associations: object) -> None:
        """Leads need a name and an association to an existing contact (notes 2.6)."""
        if not otype.needs_contact:
            return
        if not clean.get("hs_lead_name"):
            raise property_values_error([{
                "isValid": False, "message": "hs_lead_name is required to create a lead",
                "error": "REQUIRED_PROPERTY", "name": "hs_lead_name"}])
        linked = [str(a["to"].get("id")) for a in associations or []
                  if isinstance(a, dict) and isinstance(a.get("to"), dict)]
        if not any(i in self.tables["contacts"] for i in linked):
            raise validation_error("A lead must be created with an association to an existing "
                                   "contact.", context={"associations": linked})

    def create(self, otype: ObjectType, clean: dict, *, at: datetime,
               source: str = "API") -> Record:
        """Store a new record from validated values; the server sets id and stamps."""
        record_id = str(self._next_id)
        self._next_id += 1
        stamp = iso_ms(at)
        values: dict[str, str | None] = {k: v for k, v in clean.items() if v is not None}
        created = values.get(otype.created[0], stamp)
        values.update({name: created for name in otype.created})
        values.update({name: stamp for name in otype.modified})
        values["hs_object_id"] = record_id
        record = Record(record_id, values, source)
        self.tables[otype.name][record_id] = record
        self.order[otype.name].append(int(record_id))
        if otype.name == "contacts" and values.get("email"):
            self._emails[values["email"].lower()] = record_id
        self.version += 1
        return record

    def remove(self, otype: ObjectType, record_id: str) -> Record | None:
        """Take a record out of the live table (archive, merge, GDPR delete); None if absent."""
        record = self.tables[otype.name].pop(record_id, None)
        if record is None:
            return None
        self.order[otype.name].remove(int(record_id))
        email = (record.values.get("email") or "").lower()
        if otype.name == "contacts" and self._emails.get(email) == record_id:
            del self._emails[email]
        self.version += 1
        return record

    def apply(self, otype: ObjectType, record: Record, clean: dict, at: datetime,
              *, bump_always: bool = False, source: str = "API") -> None:
        """Write validated values; move the modification stamps when a value changed (or on
        every write with ``bump_always``). ``source`` is the history's ``sourceType``."""
        stamp, changed = iso_ms(at), False
        for name, value in clean.items():
            old = record.values.get(name)
            if old == value:
                continue
            changed = True
            if name not in record.history:  # keep the creation value before the first change
                record.history[name] = ([(old, record.values[otype.created[0]],
                                          record.created_source)] if old is not None else [])
            record.history[name].append((value, stamp, source))
            if name == "email" and otype.name == "contacts":
                self._emails.pop((old or "").lower(), None)
                if value:
                    self._emails[value.lower()] = record.id
            if value is None:
                record.values.pop(name, None)
            else:
                record.values[name] = value
        if changed or bump_always:
            record.values.update({name: stamp for name in otype.modified})
            self.version += 1
