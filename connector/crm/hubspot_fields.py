"""HubSpot property metadata: properties to :class:`FieldInfo`, and output property creation.

leadscore's properties live in their own group, ``leadscore`` ("Lead scoring"), so an admin
finds them together on the record and in the property settings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from hubspot.crm.properties import OptionInput, PropertyCreate, PropertyGroupCreate

from connector.errors import ConfigError
from connector.records import FieldInfo, FieldSpec, ProvisionReport

if TYPE_CHECKING:
    from connector.crm.hubspot import HubSpotCRM

GROUP_NAME, GROUP_LABEL = "leadscore", "Lead scoring"
TEXT_LIMIT = 65_536  # HubSpot's cap on a string property value (characters)
KINDS = {"string": "string", "number": "number", "bool": "boolean", "enumeration": "picklist",
         "date": "date", "datetime": "datetime", "phone_number": "string"}
WIRE_TYPES = {"number": ("number", "number"), "string": ("string", "text"),
              "text": ("string", "textarea"), "picklist": ("enumeration", "select"),
              "datetime": ("datetime", "date"), "boolean": ("bool", "booleancheckbox")}
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
NOTHING_TO_GRANT = (
    "--grant {grant}: nothing to grant in HubSpot: the private app's scopes "
    "(crm.objects.contacts.write) already let it read and write every property; to limit which "
    "users see or edit these properties, set field-level permissions on them in HubSpot "
    "(Settings > Properties, Enterprise accounts)")


def property_info(prop: Any) -> FieldInfo:
    """An SDK ``Property`` as a :class:`FieldInfo`."""
    kind = KINDS.get(prop.type, "other")
    if kind == "string" and prop.field_type == "textarea":
        kind = "text"
    meta = prop.modification_metadata
    read_only = bool(prop.calculated) or bool(meta and meta.read_only_value)
    return FieldInfo(
        name=prop.name, label=prop.label or prop.name, kind=kind, crm_type=prop.type,
        length=TEXT_LIMIT if kind in ("string", "text") else None, updateable=not read_only,
        picklist=tuple(o.value for o in prop.options or ()) if kind == "picklist" else (),
        custom=not prop.hubspot_defined, precision=None, scale=None)  # numbers state no digits


def _create_body(spec: FieldSpec) -> PropertyCreate:
    if not NAME.match(spec.name) or spec.kind not in WIRE_TYPES:
        raise ConfigError(f"hubspot output property {spec.name!r} ({spec.kind}): names are "
                          f"lowercase letters, digits and _; kinds {', '.join(WIRE_TYPES)}")
    prop_type, field_type = WIRE_TYPES[spec.kind]
    options = [OptionInput(label=o, value=o, display_order=i, hidden=False)
               for i, o in enumerate(spec.options)]
    return PropertyCreate(name=spec.name, label=spec.label, type=prop_type, field_type=field_type,
                          group_name=GROUP_NAME, description=spec.description, options=options)


def ensure_properties(crm: HubSpotCRM, specs: Sequence[FieldSpec], *, dry_run: bool
                      ) -> ProvisionReport:
    """Create the properties of ``specs`` missing on ``crm``'s object (and their group)."""
    bodies = {spec.name: _create_body(spec) for spec in specs}
    catalog = crm.describe(refresh=True)
    existing = tuple(s.name for s in specs if s.name in catalog)
    missing = tuple(s.name for s in specs if s.name not in catalog)
    if missing and not dry_run:
        groups = crm.request(partial(crm.groups_api.get_all_with_http_info, crm.object_name))
        if GROUP_NAME not in {g.name for g in groups.results}:
            group = PropertyGroupCreate(name=GROUP_NAME, label=GROUP_LABEL, display_order=-1)
            crm.request(partial(crm.groups_api.create_with_http_info, crm.object_name, group))
        for name in missing:
            crm.request(partial(crm.properties_api.create_with_http_info, crm.object_name,
                                bodies[name]))
    return ProvisionReport(crm.object_name, existing, missing, dry_run=dry_run)
