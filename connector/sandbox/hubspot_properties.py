"""Property definitions and groups of one emulated HubSpot portal (the properties API).

:class:`PropertyRegistry` starts with each object type's default definitions and groups and
validates creations the way ``POST /crm/v3/properties/{type}`` and ``.../groups`` do (required
fields, type/fieldType pairs, options, 409 on an existing name). The portal holds one registry
and guards it with its own lock.
"""

from __future__ import annotations

import json
from datetime import datetime

from connector.sandbox.hubspot_errors import HubSpotError, invalid_json, not_found, validation_error
from connector.sandbox.hubspot_schema import (
    FIELD_TYPES, PROPERTY_NAME, Group, ObjectType, Option, Property)

PROPERTY_REQUIRED = ("name", "label", "type", "fieldType", "groupName")


def _required(body: dict, fields: tuple[str, ...]) -> None:
    missing = [f for f in fields if body.get(f) in (None, "")]
    if missing:
        raise validation_error(f"Some required fields were not set: [{', '.join(missing)}]")
    for name in fields:
        if not isinstance(body[name], str):
            raise invalid_json(f"Cannot deserialize value of type `String` from "
                               f"{json.dumps(body[name])} ({name})")


def _options(raw: object) -> tuple[Option, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(o, dict) for o in raw):
        raise invalid_json("Cannot deserialize value of type `ArrayList<OptionInput>`")
    options = []
    for i, item in enumerate(raw):
        _required(item, ("label", "value"))
        order = item.get("displayOrder", i)
        if not isinstance(order, int):
            raise invalid_json("Cannot deserialize value of type `int` (displayOrder)")
        options.append(Option(item["label"], item["value"], order, bool(item.get("hidden")),
                              str(item.get("description") or "")))
    values = [o.value for o in options]
    if len(set(values)) != len(values):
        raise validation_error("Options must have unique values.")
    return tuple(options)


def _display_order(body: dict) -> int:
    order = body.get("displayOrder", -1)
    if not isinstance(order, int) or isinstance(order, bool):
        raise invalid_json(f"Cannot deserialize value of type `int` from "
                           f"{json.dumps(order)} (displayOrder)")
    return order


class PropertyRegistry:
    """The property definitions and groups of every object type of one portal."""

    def __init__(self, types: tuple[ObjectType, ...]) -> None:
        self.properties: dict[str, dict[str, Property]] = {
            t.name: {p.name: p for p in t.properties} for t in types}
        self.groups: dict[str, dict[str, Group]] = {
            t.name: {g.name: g for g in t.groups} for t in types}

    def get(self, otype: ObjectType, name: str) -> Property:
        """One definition, or HubSpot's 404."""
        prop = self.properties[otype.name].get(name)
        if prop is None:
            raise not_found(f"Unable to find property {name} for object type {otype.type_id}",
                            context={"propertyName": [name]})
        return prop

    def get_group(self, otype: ObjectType, name: str) -> Group:
        """One group, or HubSpot's 404."""
        group = self.groups[otype.name].get(name)
        if group is None:
            raise not_found(f"Unable to find property group {name} for object type "
                            f"{otype.type_id}", context={"groupName": [name]})
        return group

    def create(self, otype: ObjectType, body: object, now: datetime) -> Property:
        """Validate a ``POST /crm/v3/properties/{type}`` body and add the property."""
        if not isinstance(body, dict):
            raise invalid_json("Cannot deserialize value of type `PropertyCreate`")
        _required(body, PROPERTY_REQUIRED)
        name, kind, field_type = body["name"], body["type"], body["fieldType"]
        if kind not in FIELD_TYPES:
            raise invalid_json(f"Cannot deserialize value of type `Type` from String "
                               f"{json.dumps(kind)}: not one of the values accepted for Enum "
                               f"class: [{', '.join(FIELD_TYPES)}]")
        if field_type not in FIELD_TYPES[kind]:
            raise validation_error(f"Property fieldType {field_type} is not compatible with "
                                   f"type {kind}; use one of {', '.join(FIELD_TYPES[kind])}.")
        if not PROPERTY_NAME.match(name):
            raise validation_error(f"Property name {name!r} is not valid: use lowercase letters, "
                                   f"digits and underscores, starting with a letter.")
        if name in self.properties[otype.name]:
            raise HubSpotError(409, "OBJECT_ALREADY_EXISTS",
                               f"Property named '{name}' already exists.",
                               context={"name": [name]})
        if body["groupName"] not in self.groups[otype.name]:
            raise validation_error(f"Property group {body['groupName']!r} does not exist for "
                                   f"object type {otype.type_id}.")
        options = _options(body.get("options"))
        if kind == "enumeration" and not options:
            raise validation_error("Enumeration properties need at least one option.")
        prop = Property(
            name=name, label=body["label"], type=kind, field_type=field_type,
            group_name=body["groupName"], description=str(body.get("description") or ""),
            options=options, display_order=_display_order(body),
            hidden=bool(body.get("hidden")), has_unique_value=bool(body.get("hasUniqueValue")),
            form_field=bool(body.get("formField")), created_at=now, updated_at=now)
        self.properties[otype.name][name] = prop
        return prop

    def create_group(self, otype: ObjectType, body: object) -> Group:
        """Validate a ``POST /crm/v3/properties/{type}/groups`` body and add the group."""
        if not isinstance(body, dict):
            raise invalid_json("Cannot deserialize value of type `PropertyGroupCreate`")
        _required(body, ("name", "label"))
        name = body["name"]
        if not PROPERTY_NAME.match(name):
            raise validation_error(f"Property group name {name!r} is not valid: use lowercase "
                                   f"letters, digits and underscores, starting with a letter.")
        if name in self.groups[otype.name]:
            raise HubSpotError(409, "OBJECT_ALREADY_EXISTS",
                               f"Property group named '{name}' already exists.",
                               context={"name": [name]})
        group = Group(name, body["label"], _display_order(body))
        self.groups[otype.name][name] = group
        return group
