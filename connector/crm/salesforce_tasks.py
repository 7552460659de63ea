"""Callback tasks on Salesforce: ``Task`` records created in composite collections, found by SOQL.

A task is linked to its lead by ``WhoId`` and assigned to the lead's owner (``OwnerId``); a lead
owned by a queue (owner id prefix ``00G``) gets no ``OwnerId``, so the task goes to the
integration user: a queue can hold a task only if it is set up to (notes-2 section 4).
``ActivityDate`` (the due date) is a date only, taken in UTC. Our ``ref`` ends the
``Description`` (the long text "Comments" field, which SOQL cannot filter on), so
:func:`find_tasks` reads the descriptions of the leads' tasks and matches them here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC
from typing import Any

from connector.records import TaskRequest, TaskResult

QUEUE_PREFIX = "00G"
TRANSIENT_CODES = frozenset({"UNABLE_TO_LOCK_ROW"})
SUBJECT_MAX, DESCRIPTION_MAX = 255, 32000
PRIORITIES = {"High": "High", "Normal": "Normal", "Low": "Low"}


def task_body(task: TaskRequest) -> dict[str, Any]:
    """One ``Task`` record of a composite create."""
    body: dict[str, Any] = {
        "attributes": {"type": "Task"}, "WhoId": task.record_id,
        "Subject": task.subject[:SUBJECT_MAX], "Description": task.description[:DESCRIPTION_MAX],
        "ActivityDate": task.due.astimezone(UTC).date().isoformat(),
        "Status": "Not Started", "Priority": PRIORITIES.get(task.priority, "Normal"),
        "TaskSubtype": "Call"}
    if task.owner_id and not task.owner_id.startswith(QUEUE_PREFIX):
        body["OwnerId"] = task.owner_id
    return body


def create_tasks(call: Callable, tasks: Sequence[TaskRequest]) -> list[TaskResult]:
    """``POST composite/sobjects`` (``allOrNone=false``): one result per task, in order."""
    if not tasks:
        return []
    body = {"allOrNone": False, "records": [task_body(task) for task in tasks]}
    saves = call(lambda sf: sf.restful("composite/sobjects", method="POST", json=body))
    results = []
    for task, save in zip(tasks, saves, strict=True):
        if save.get("success"):
            results.append(TaskResult(task.ref, task_id=save["id"]))
            continue
        error = (save.get("errors") or [{}])[0]
        code = error.get("statusCode")
        results.append(TaskResult(task.ref, code=code, reason=error.get("message"),
                                  transient=code in TRANSIENT_CODES))
    return results


def find_tasks(call: Callable, tasks: Sequence[TaskRequest]) -> dict[str, str]:
    """``{ref: Task id}`` for the requests whose task exists: one SOQL query over the leads'
    tasks (``WhoId IN (...)``), descriptions matched against the refs."""
    wanted = {task.ref: task.record_id for task in tasks}
    ids = sorted({i for i in wanted.values() if i.isalnum() and len(i) in (15, 18)})
    if not ids:
        return {}
    quoted = ", ".join(f"'{i}'" for i in ids)
    soql = f"SELECT Id, WhoId, Description FROM Task WHERE WhoId IN ({quoted})"
    rows = call(lambda sf: sf.query_all(soql))["records"]
    found = {}
    for row in rows:
        text = row.get("Description") or ""
        for ref, record_id in wanted.items():
            if ref in text and (row.get("WhoId") or "")[:15] == record_id[:15]:
                found[ref] = row["Id"]
    return found
