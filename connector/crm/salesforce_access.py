"""Field-level security for the output fields: ``leadscore fields create --grant PERMISSION_SET``.

A new custom field is invisible to every user until a ``FieldPermissions`` row grants it in a
permission set that applies to the user: the user's profile's own set, or a standalone set the
user is assigned through a ``PermissionSetAssignment`` (crm-api-notes-2 section 5). Given a
permission set's API name, :func:`grant_access` makes the output fields readable and editable
for the integration user, idempotently:

1. find the set by ``Name``, or create a standalone one;
2. grant Read and Edit on each output field: one sObject Collections insert for the missing rows,
   one update for rows that grant Read only;
3. make the set reach the integration user: a standalone set gets an assignment if it has none;
   a profile's own set reaches only that profile's users (checked through ``User.ProfileId``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from connector.errors import ConfigError, CRMPermissionError

API_NAME = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|_(?!_))*$")  # Salesforce's rule for API names
API_NAME_MAX = 80
SETUP_HINT = ("The integration user needs the 'Manage Profiles and Permission Sets' and 'Assign "
              "Permission Sets' permissions for --grant; or grant the fields in Setup instead.")


def check_name(permission_set: str) -> None:
    """Refuse a ``--grant`` value that cannot be a permission set's API name."""
    if len(permission_set) > API_NAME_MAX or not API_NAME.match(permission_set) \
            or permission_set.endswith("_"):
        raise ConfigError(
            f"--grant {permission_set!r}: not a permission set API name",
            hint="Use the permission set's API name (Setup > Permission Sets, the 'API Name' "
                 "column): a letter, then letters, digits and single underscores, up to 80.")


def _records(call: Callable, soql: str) -> list[dict]:
    return call(lambda sf: sf.query_all(soql))["records"]


def _save(call: Callable, method: str, records: list[dict], what: str) -> None:
    """One sObject Collections write (up to 200 records); any refused record is an error."""
    if not records:
        return
    body = {"allOrNone": True, "records": records}
    saves = call(lambda sf: sf.restful("composite/sobjects", method=method, json=body))
    refused = [save["errors"][0] for save in saves if not save.get("success") and save.get("errors")]
    if refused:
        raise CRMPermissionError(f"salesforce refused to {what}: {refused[0].get('statusCode')} "
                                 f"{refused[0].get('message')}", hint=SETUP_HINT)


def _find_or_create(call: Callable, name: str, dry_run: bool) -> tuple[dict | None, list[str]]:
    """The permission set row called ``name`` (None when a dry run would create it)."""
    found = _records(call, "SELECT Id, Name, IsOwnedByProfile, ProfileId FROM PermissionSet "
                           f"WHERE Name = '{name}'")
    if found:
        return found[0], []
    if dry_run:
        return None, [f"would create permission set {name}"]
    label = name.replace("_", " ")
    created = call(lambda sf: sf.restful("sobjects/PermissionSet", method="POST",
                                         json={"Name": name, "Label": label}))
    row = {"Id": created["id"], "Name": name, "IsOwnedByProfile": False, "ProfileId": None}
    return row, [f"created permission set {name}"]


def _grant_fields(call: Callable, object_name: str, fields: Sequence[str], permission_set: dict | None,
                  name: str, dry_run: bool) -> list[str]:
    rows = {} if permission_set is None else {
        row["Field"]: row for row in _records(
            call, "SELECT Id, SobjectType, Field, PermissionsRead, PermissionsEdit FROM "
                  f"FieldPermissions WHERE ParentId = '{permission_set['Id']}' AND "
                  f"SobjectType = '{object_name}'")}
    missing = [f for f in fields if f"{object_name}.{f}" not in rows]
    read_only = [f for f in fields if f not in missing and not (
        rows[f"{object_name}.{f}"]["PermissionsRead"] and rows[f"{object_name}.{f}"]["PermissionsEdit"])]
    if not missing and not read_only:
        return [f"permission set {name} already grants Read and Edit on every output field"]
    if not dry_run:
        grant = {"PermissionsRead": True, "PermissionsEdit": True}
        _save(call, "POST", [
            {"attributes": {"type": "FieldPermissions"}, "ParentId": permission_set["Id"],
             "SobjectType": object_name, "Field": f"{object_name}.{f}", **grant} for f in missing],
            f"grant field access in permission set {name}")
        _save(call, "PATCH", [
            {"attributes": {"type": "FieldPermissions"}, "id": rows[f"{object_name}.{f}"]["Id"], **grant}
            for f in read_only], f"grant Edit in permission set {name}")
    verb = "would grant" if dry_run else "granted"
    return [f"{verb} Read and Edit on {', '.join(missing + read_only)} in permission set {name}"]


def _reach_user(call: Callable, permission_set: dict | None, name: str, user_id: str,
                dry_run: bool) -> tuple[list[str], list[str]]:
    """(lines, manual steps) making ``permission_set`` apply to the integration user."""
    if permission_set is not None and permission_set["IsOwnedByProfile"]:
        users = _records(call, f"SELECT Id, ProfileId FROM User WHERE Id = '{user_id}'") if user_id else []
        if users and users[0]["ProfileId"] == permission_set["ProfileId"]:
            return [f"permission set {name} is the integration user's profile's own"], []
        return [], [f"permission set {name} belongs to a profile the integration user does not "
                    "have: grant the fields in a permission set assigned to the integration user"]
    if not user_id:
        return [], [f"assign permission set {name} to the integration user (Setup > Users > the "
                    "user > Permission Set Assignments)"]
    if permission_set is not None and _records(
            call, "SELECT Id FROM PermissionSetAssignment WHERE AssigneeId = "
                  f"'{user_id}' AND PermissionSetId = '{permission_set['Id']}'"):
        return [f"permission set {name} is already assigned to the integration user"], []
    if dry_run:
        return [f"would assign permission set {name} to the integration user"], []
    _save(call, "POST", [{"attributes": {"type": "PermissionSetAssignment"},
                          "AssigneeId": user_id, "PermissionSetId": permission_set["Id"]}],
          f"assign permission set {name} to the integration user")
    return [f"assigned permission set {name} to the integration user"], []


def grant_access(call: Callable, object_name: str, fields: Sequence[str], permission_set: str, *,
                 user_id: str, dry_run: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Give the integration user (``user_id``, may be empty when unknown) Read and Edit on
    ``fields`` of ``object_name`` through ``permission_set``; see the module docstring.

    ``call`` runs an action on the SDK client (the adapter's ``_call``). Returns (what was done,
    or would be with ``dry_run``; what the admin must still do). Raises :class:`ConfigError`
    for a malformed name and :class:`CRMPermissionError` when Salesforce refuses a grant.
    """
    check_name(permission_set)
    row, lines = _find_or_create(call, permission_set, dry_run)
    lines += _grant_fields(call, object_name, fields, row, permission_set, dry_run)
    reached, steps = _reach_user(call, row, permission_set, user_id, dry_run)
    return tuple(lines + reached), tuple(steps)
