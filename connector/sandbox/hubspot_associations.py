"""Associations in the HubSpot emulator: the ones made when a task is created, and the v4 reads.

A task created with ``associations`` (``[{"to": {"id"}, "types": [{"associationCategory":
"HUBSPOT_DEFINED", "associationTypeId": 204}]}]``) is linked both ways (task -> contact 204,
contact -> task 203), as HubSpot shows it from either side. Served v4 routes (notes-2 section 9,
``specs/hubspot/crm-associations-v4.openapi.json``):

* ``POST /crm/v4/associations/{from}/{to}/batch/read``: at most 1,000 inputs (HubSpot's limit
  since 2025-02-10); ids without associations come back as errors in a 207.
* ``GET /crm/v4/objects/{type}/{id}/associations/{toType}``: one record's associations, paged.

``toObjectId`` is an integer, as the spec types it. Unlabelled types carry no ``label`` key.
A batch error's ``category`` is a string, as HubSpot's current clients read it; the 2024 spec
types it as an object (an unverified difference, recorded in the sandbox's test).
"""

from __future__ import annotations

from connector.sandbox.hubspot_errors import not_found, property_values_error, validation_error

# HUBSPOT_DEFINED type ids (HubSpot's AssociationTypes enum): (from, to) -> id.
TYPE_IDS = {("tasks", "contacts"): 204, ("contacts", "tasks"): 203,
            ("tasks", "companies"): 192, ("companies", "tasks"): 191}
BATCH_READ_LIMIT = 1000
PAGE_LIMIT = 500


class Associations:
    """Links between records of one portal: ``(from type, from id, to type) -> {to id: type}``."""

    def __init__(self) -> None:
        self.links: dict[tuple[str, str, str], dict[str, int]] = {}

    def check(self, from_type: str, associations: object, exists) -> list[tuple[str, str]]:
        """The ``(to type, to id)`` pairs a create's ``associations`` ask for, validated
        (``exists(type, id)`` says whether a record exists); HubSpot's 400 otherwise."""
        wanted = []
        for item in associations or []:
            to = item.get("to") if isinstance(item, dict) else None
            types = item.get("types") if isinstance(item, dict) else None
            if not isinstance(to, dict) or not isinstance(types, list) or not types:
                raise validation_error("Invalid association: each needs `to.id` and `types`")
            to_id = str(to.get("id"))
            for spec in types:
                type_id = spec.get("associationTypeId") if isinstance(spec, dict) else None
                target = next((t for (f, t), i in TYPE_IDS.items()
                               if f == from_type and i == type_id), None)
                if target is None or spec.get("associationCategory") != "HUBSPOT_DEFINED":
                    raise validation_error(f"association type {type_id} is not valid from "
                                           f"{from_type}", context={"associationTypeId":
                                                                    [str(type_id)]})
                if not exists(target, to_id):
                    raise validation_error(f"Could not associate: no {target} with id {to_id}",
                                           context={"toObjectId": [to_id]})
                wanted.append((target, to_id))
        return wanted

    def link(self, from_type: str, from_id: str, pairs: list[tuple[str, str]]) -> None:
        """Store each pair both ways."""
        for to_type, to_id in pairs:
            self.links.setdefault((from_type, from_id, to_type), {})[to_id] = \
                TYPE_IDS[(from_type, to_type)]
            self.links.setdefault((to_type, to_id, from_type), {})[from_id] = \
                TYPE_IDS[(to_type, from_type)]

    def holders(self, from_type: str, to_type: str) -> set[str]:
        """Records of ``from_type`` with at least one ``to_type`` association."""
        return {from_id for (kind, from_id, target), found in self.links.items()
                if kind == from_type and target == to_type and found}

    def of(self, from_type: str, from_id: str, to_type: str) -> list[dict]:
        """One record's associations to ``to_type`` in v4 form, by target id."""
        found = self.links.get((from_type, from_id, to_type), {})
        return [{"toObjectId": int(to_id), "associationTypes": [
            {"category": "HUBSPOT_DEFINED", "typeId": type_id}]}
            for to_id, type_id in sorted(found.items(), key=lambda item: int(item[0]))]

    def batch_read(self, from_type: str, to_type: str, body: object, singular: str
                   ) -> tuple[list[dict], list[dict]]:
        """Results and per-input errors of a v4 batch read."""
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list):
            raise validation_error("Invalid input: `inputs` must be an array")
        if len(inputs) > BATCH_READ_LIMIT:
            raise validation_error(f"Batch input limit exceeded: at most {BATCH_READ_LIMIT} "
                                   f"inputs are allowed, got {len(inputs)}")
        results, errors = [], []
        for item in inputs:
            record_id = str(item.get("id")) if isinstance(item, dict) else ""
            linked = self.of(from_type, record_id, to_type)
            if linked:
                results.append({"from": {"id": record_id}, "to": linked})
            else:
                errors.append({"status": "error", "category": "OBJECT_NOT_FOUND",
                               "message": f"No {to_type} is associated with {singular.lower()} "
                                          f"{record_id}.",
                               "context": {"fromObjectId": [record_id]}, "links": {},
                               "errors": []})
        return results, errors


class TaskRoutes:
    """The portal's task and association methods (mixed into
    :class:`~connector.sandbox.hubspot_portal.HubSpotPortal`, whose lock, store and types they
    use)."""

    def _check_create(self, otype, clean: dict, associations: object
                      ) -> list[tuple[str, str]]:
        """Required properties and the associations of a new task (other types: none)."""
        missing = [name for name in otype.required if clean.get(name) is None]
        if missing:
            raise property_values_error([{
                "isValid": False, "message": f"{name} is required", "error": "REQUIRED_PROPERTY",
                "name": name, "localizedErrorMessage": f"{name} is required"}
                for name in missing])
        if otype.name != "tasks":
            return []
        return self.associations.check(
            otype.name, associations,
            lambda kind, i: self.store.record(self._types[kind], i) is not None)

    def association_batch_read(self, otype, to_type: str, body: object
                               ) -> tuple[list[dict], list[dict]]:
        """``POST /crm/v4/associations/{type}/{toType}/batch/read``: results and errors."""
        target = self.object_type(to_type)
        with self._lock:
            return self.associations.batch_read(otype.name, target.name, body, otype.singular)

    def associations_of(self, otype, record_id: str, to_type: str) -> list[dict]:
        """``GET /crm/v4/objects/{type}/{id}/associations/{toType}``; 404 for no record."""
        target = self.object_type(to_type)
        with self._lock:
            if self.store.record(otype, record_id) is None:
                raise not_found(f"resource not found: no {otype.singular} with id {record_id}",
                                context={"id": [record_id]})
            return self.associations.of(otype.name, record_id, target.name)

    def tasks_of(self, record_id: str) -> list[dict]:
        """A contact's tasks' stored values, read without an API call (tests, benchmarks)."""
        with self._lock:
            tasks = self._types["tasks"]
            ids = self.associations.links.get(("contacts", record_id, "tasks"), {})
            return [dict(self.store.record(tasks, i).values) for i in ids]

    def leads_with_tasks(self) -> set[str]:
        """Contacts with at least one associated task."""
        return self.associations.holders("contacts", "tasks")
