"""Tasks and their owners in the Salesforce emulator (mixed into
:class:`~connector.sandbox.salesforce_org.SalesforceOrg`): sales-rep users who own the seeded
leads, the cross-record rules of a ``Task`` (notes-2 section 4), and reads for tests and the
time route.
"""

from __future__ import annotations

from connector.sandbox.salesforce_fields import FieldError

SALES_REPS = (("Rita Santos", "rita.santos"), ("Nuno Costa", "nuno.costa"),
              ("Olga Dias", "olga.dias"))


class TaskOps:
    """Users and tasks of the org (uses its ``objects``, ``ids``, ``lock`` and clock)."""

    def _add_user(self, name: str, login: str, *, active: bool = True) -> str:
        user_id = self.ids.next("005")
        now = self.now()
        email = f"{login}@sandbox.leadscore.dev"
        self.objects["User"].rows[user_id] = {
            "Id": user_id, "Username": email, "Name": name, "Email": email, "IsActive": active,
            "ProfileId": self.profile_id, "CreatedDate": now, "CreatedById": self.user_id,
            "LastModifiedDate": now, "LastModifiedById": self.user_id, "SystemModstamp": now}
        return user_id

    def tasks_of(self, lead_id: str) -> list[dict]:
        """The lead's tasks' stored values, read without an API call (tests, benchmarks)."""
        with self.lock:
            return [dict(row) for row in self.objects["Task"].rows.values()
                    if row.get("WhoId") == lead_id and not row.get("IsDeleted")]

    def leads_with_tasks(self) -> set[str]:
        """Leads that are the ``WhoId`` of at least one task."""
        return {row["WhoId"] for row in self.objects["Task"].rows.values()
                if row.get("WhoId") and not row.get("IsDeleted")}

    def _validate_task(self, row: dict) -> None:
        """A task's lead must exist and its owner be an active user (notes-2 section 4; the
        queue case is refused, as a queue not set up for tasks is)."""
        who = row.get("WhoId")
        lead = self.objects["Lead"].rows.get(who) if who else None
        if who and (lead is None or lead.get("IsDeleted")):
            raise FieldError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id",
                             ["WhoId"])
        owner = self.objects["User"].rows.get(row.get("OwnerId"))
        if owner is None:
            raise FieldError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id",
                             ["OwnerId"])
        if not owner.get("IsActive"):
            raise FieldError("INACTIVE_OWNER_OR_USER", "operation performed with inactive user "
                             f"[{owner['Id']}] as owner of task", [])
