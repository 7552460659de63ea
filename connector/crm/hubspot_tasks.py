"""Callback tasks on HubSpot: ``tasks`` batch create with the task -> record association, and a
lookup through the v4 associations API.

Create (``POST /crm/v3/objects/tasks/batch/create``, 100 inputs): ``hs_timestamp`` (the due
moment, required), ``hs_task_subject``, ``hs_task_body`` (ending with our ``ref``),
``hs_task_status`` NOT_STARTED, ``hs_task_priority``, ``hs_task_type`` CALL and
``hubspot_owner_id``, associated with the record by the HUBSPOT_DEFINED task -> object type
(204 for contacts). Each input carries its ``ref`` as ``objectWriteTraceId``, so results and
per-input errors of a 207 map back to requests whatever their order. A 400 for one bad input
fails the whole batch: it is split in halves until the offender stands alone.

Lookup: ``POST /crm/v4/associations/{object}/tasks/batch/read`` (the records' tasks), then a
batch read of those tasks' bodies: both read the records themselves, never the search index,
which lags behind writes by seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from functools import partial
from typing import Any

from hubspot.crm.associations.v4.models import (
    BatchInputPublicFetchAssociationsBatchRequest, PublicFetchAssociationsBatchRequest)
from hubspot.crm.objects.tasks.models import (
    AssociationSpec, BatchInputSimplePublicObjectBatchInputForCreate,
    BatchReadInputSimplePublicObjectId, PublicAssociationsForObject, PublicObjectId,
    SimplePublicObjectBatchInputForCreate, SimplePublicObjectId)

from connector.errors import BatchRejectedError, ConfigError
from connector.records import TaskRequest, TaskResult

# HUBSPOT_DEFINED association types from a task to each object (HubSpot's AssociationTypes).
TASK_TO = {"contacts": 204, "companies": 192, "deals": 216, "tickets": 230}
PRIORITIES = {"High": "HIGH", "Normal": "MEDIUM", "Low": "LOW"}
FINAL_CATEGORIES = frozenset({"VALIDATION_ERROR", "OBJECT_NOT_FOUND", "INVALID_OWNER_ID"})
ASSOCIATION_READ_LIMIT = 1000


def association_type(object_name: str) -> int:
    """The task -> ``object_name`` association type; ConfigError for objects without one."""
    try:
        return TASK_TO[object_name]
    except KeyError:
        raise ConfigError(f"hubspot: callback tasks cannot be associated with "
                          f"{object_name} records",
                          hint="Use callbacks on contacts, companies, deals or tickets, or "
                               "set callbacks.enabled: false.") from None


def _iso(task: TaskRequest) -> str:
    return task.due.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _input(task: TaskRequest, object_name: str) -> SimplePublicObjectBatchInputForCreate:
    properties = {"hs_timestamp": _iso(task), "hs_task_subject": task.subject,
                  "hs_task_body": task.description, "hs_task_status": "NOT_STARTED",
                  "hs_task_priority": PRIORITIES.get(task.priority, "MEDIUM"),
                  "hs_task_type": "CALL"}
    if task.owner_id:
        properties["hubspot_owner_id"] = task.owner_id
    link = PublicAssociationsForObject(
        to=PublicObjectId(id=task.record_id),
        types=[AssociationSpec(association_category="HUBSPOT_DEFINED",
                               association_type_id=association_type(object_name))])
    return SimplePublicObjectBatchInputForCreate(properties=properties, associations=[link],
                                                 object_write_trace_id=task.ref)


def create_tasks(crm, tasks: Sequence[TaskRequest], write_errors) -> list[TaskResult]:
    """One batch create (split on a whole-batch 400); one result per task, in order."""
    if not tasks:
        return []
    try:
        return _create(crm, tasks, write_errors)
    except BatchRejectedError as error:
        if len(tasks) == 1:
            return [TaskResult(tasks[0].ref, code="VALIDATION_ERROR", reason=error.message)]
        middle = len(tasks) // 2
        return (create_tasks(crm, tasks[:middle], write_errors)
                + create_tasks(crm, tasks[middle:], write_errors))


def _create(crm, tasks: Sequence[TaskRequest], write_errors) -> list[TaskResult]:
    body = BatchInputSimplePublicObjectBatchInputForCreate(
        inputs=[_input(task, crm.object_name) for task in tasks])
    data = crm.request(partial(crm.tasks_batch_api.create_with_http_info, body),
                       table=write_errors)
    created = {obj.object_write_trace_id: obj.id for obj in data.results or ()
               if obj.object_write_trace_id}
    failed: dict[str, TaskResult] = {}
    for error in getattr(data, "errors", None) or ():
        for ref in (error.context or {}).get("objectWriteTraceId", ()):
            failed[ref] = TaskResult(ref, code=error.category, reason=error.message,
                                     transient=error.category not in FINAL_CATEGORIES)
    return [TaskResult(task.ref, task_id=created[task.ref]) if task.ref in created else
            failed.get(task.ref) or TaskResult(
                task.ref, code="NOT_CONFIRMED", transient=True,
                reason="HubSpot answered without this task or an error for it")
            for task in tasks]


def find_tasks(crm, tasks: Sequence[TaskRequest]) -> dict[str, str]:
    """``{ref: task id}``: the records' associated tasks whose body holds the ref."""
    wanted = {task.ref: task.record_id for task in tasks}
    if not wanted:
        return {}
    record_ids = sorted(set(wanted.values()))
    body = BatchInputPublicFetchAssociationsBatchRequest(
        inputs=[PublicFetchAssociationsBatchRequest(id=i) for i in record_ids])
    data = crm.request(partial(crm.associations_batch_api.get_page_with_http_info,
                               crm.object_name, "tasks", body))
    linked: dict[str, set[str]] = {}
    for result in data.results or ():
        linked[str(result._from.id)] = {str(to.to_object_id) for to in result.to or ()}
    task_ids = sorted({task_id for ids in linked.values() for task_id in ids})
    bodies: dict[str, Any] = {}
    size = crm.write_batch_size
    for start in range(0, len(task_ids), size):
        read = BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=i) for i in task_ids[start:start + size]],
            properties=["hs_task_body"], properties_with_history=[])
        answer = crm.request(partial(crm.tasks_batch_api.read_with_http_info, read,
                                     archived=False))
        bodies.update({obj.id: (obj.properties or {}).get("hs_task_body") or ""
                       for obj in answer.results or ()})
    return {ref: task_id for ref, record_id in wanted.items()
            for task_id in sorted(linked.get(record_id, ()))
            if ref in bodies.get(task_id, "")}
