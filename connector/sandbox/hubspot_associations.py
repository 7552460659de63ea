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

from connector.sandbox.hubspot_errors import validation_error

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
