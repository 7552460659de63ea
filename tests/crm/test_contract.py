"""The user stories every CRM adapter passes, over real HTTP against its own sandbox.

Parametrized over every CRM by the ``case`` fixture (tests/crm/conftest.py); adding a CRM adds
one entry there and nothing here.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connector.crm import CRM, open_crm, write_all
from connector.errors import CredentialsError, CRMPermissionError
from connector.records import Cursor, RecordWrite, TaskRequest
from connector.sync.lifecycle import FINAL_CODES


def _pull_ids(pages) -> list[str]:
    return [record.id for page in pages for record in page.records]


def _last_cursor(crm, cursor, fields) -> Cursor:
    pages = list(crm.pull_changed(cursor, fields))
    return pages[-1].cursor


# -- connecting --------------------------------------------------------------------------------


def test_describe_gives_a_typed_catalog(case, crm):
    assert isinstance(crm, CRM)
    catalog = crm.describe()
    score, tier, reason = (catalog[case.outputs[role]] for role in ("score", "tier", "reason"))
    assert (score.kind, tier.kind, reason.kind) == ("number", "string", "text")
    assert score.updateable and tier.length and reason.length
    name, value = case.picklist
    assert catalog[name].kind == "picklist" and value in catalog[name].picklist


def test_describe_states_a_number_fields_digits_where_the_crm_has_them(case):
    crm = case.connect()
    specs = case.specs()
    crm.ensure_fields(specs)
    if case.name == "salesforce":
        case.admin.grant([spec.name for spec in specs])
    catalog = crm.describe(refresh=True)
    digits = {spec.name: (catalog[spec.name].precision, catalog[spec.name].scale)
              for spec in specs}
    tier = next(spec.name for spec in specs if spec.kind == "string")
    if case.name == "salesforce":  # as created: Number(3,0) and Number(5,4)
        assert digits["LS_Score__c"] == (3, 0) and digits["LS_Probability__c"] == (5, 4)
        assert catalog["LS_Score__c"].max_number == 999
        assert catalog["LS_Probability__c"].capacity == "Number(5,4)"
        assert (catalog["AnnualRevenue"].precision, catalog["AnnualRevenue"].scale) == (18, 0)
        assert catalog["AnnualRevenue"].capacity == "Currency(18,0)"
        # an int field states its size in `digits`, and takes no decimals
        assert (catalog["NumberOfEmployees"].precision, catalog["NumberOfEmployees"].scale) \
            == (8, 0)
    else:  # HubSpot numbers state no precision: any size goes
        assert digits["ls_score"] == digits["ls_probability"] == (None, None)
        assert catalog["ls_score"].max_number is None
        assert catalog["ls_score"].problem_with(10 ** 12) is None
    assert digits[tier] == (None, None)  # text has a length, not digits


def test_a_missing_variable_is_named_with_its_flow(case):
    variable = "SALESFORCE_PASSWORD" if case.name == "salesforce" else "HUBSPOT_ACCESS_TOKEN"
    environ = {k: v for k, v in case.environ.items() if k != variable}
    with pytest.raises(CredentialsError) as raised:
        open_crm(case.connection(), environ=environ)
    message = str(raised.value)
    assert variable in message and case.connection().auth in message and "\n" not in message
    assert case.admin.stats()["api_calls"] == 0  # failed before any call


def test_a_wrong_credential_fails_at_once_in_one_line(case):
    variable = "SALESFORCE_PASSWORD" if case.name == "salesforce" else "HUBSPOT_ACCESS_TOKEN"
    with pytest.raises(CredentialsError) as raised:
        open_crm(case.connection(), environ={**case.environ, variable: "wrong"})
    message = str(raised.value)
    assert variable in message and "refused" in message and "\n" not in message
    assert "wrong" not in message  # the secret itself is never echoed
    assert case.sleeps.delays == []  # a refused credential is not retried


# -- reading -----------------------------------------------------------------------------------


def test_full_load_streams_every_record_once(case, crm):
    ids = case.admin.create(450)
    pages = list(crm.pull_changed(None, [case.outputs["score"]]))
    assert sorted(_pull_ids(pages)) == sorted(ids)
    assert pages[-1].cursor.stamp is not None and pages[-1].cursor.resume is None
    assert all(set(r.values) == {case.outputs["score"]} for p in pages for r in p.records)


def test_read_returns_the_records_asked_for_in_order_in_one_call(case, crm):
    ids = case.admin.create(5)
    field = case.outputs["score"]
    crm.write([RecordWrite(ids[3], {field: 42})])
    before = case.admin.stats()["api_calls"]
    records = crm.read([ids[3], "0" * 18 if case.name == "salesforce" else "999999999", ids[0]],
                       [field])
    assert case.admin.stats()["api_calls"] == before + 1
    assert [r.id for r in records] == [ids[3], ids[0]]
    assert float(records[0].values[field]) == 42 and records[1].values[field] is None
    assert crm.read([], [field]) == []
    with pytest.raises(CRMPermissionError):
        crm.read(ids[:1], ["No_Such_Field__c" if case.name == "salesforce" else "no_such"])


def test_incremental_pull_returns_each_change_once(case, crm):
    ids = case.admin.create(300)
    score = case.outputs["score"]
    cursor = _last_cursor(crm, None, [score])
    changed = ids[100:150]
    assert all(r.ok for r in crm.write([RecordWrite(i, {score: 7}) for i in changed]))

    pages = list(crm.pull_changed(cursor, [score]))
    delivered = _pull_ids(pages)
    assert sorted(delivered) == sorted(changed)
    assert {r.values[score] for p in pages for r in p.records} <= {7, "7"}

    # The next pull re-reads the overlap window (these 50 are inside it) and delivers nothing.
    assert _pull_ids(crm.pull_changed(pages[-1].cursor, [score])) == []


def test_overlap_delivers_a_late_arrival_exactly_once(case, crm):
    """A version inside the overlap that the cursor has not seen (it was committed late) is
    delivered by the next pull, once; the versions the cursor has seen are not."""
    score = case.outputs["score"]
    ids = case.admin.create(40)
    cursor = _last_cursor(crm, None, [score])
    assert len(cursor.seen) == 40  # all 40 are inside the 5-minute overlap
    late = sorted(cursor.seen)[7]
    forgetful = Cursor(cursor.stamp, cursor.seen - {late})
    pages = list(crm.pull_changed(forgetful, [score]))
    assert _pull_ids(pages) == [late[0]]
    assert _pull_ids(crm.pull_changed(pages[-1].cursor, [score])) == []
    assert late[0] in ids


def test_new_leads_cost_one_call_when_none_are_new(case, crm):
    email = ["Email" if case.name == "salesforce" else "email"]
    case.admin.create(20)
    cursor = list(crm.pull_created(None, email))[-1].cursor
    before = crm.usage().calls
    assert _pull_ids(crm.pull_created(cursor, email)) == []
    assert crm.usage().calls - before == 1
    fresh = case.admin.create(5)
    pages = list(crm.pull_created(cursor, email))
    assert sorted(_pull_ids(pages)) == sorted(fresh)


def test_unknown_fields_are_refused_before_any_read(case, crm):
    before = crm.usage().calls
    with pytest.raises(CRMPermissionError, match="No_Such_Field"):
        crm.pull_changed(None, ["No_Such_Field"])
    assert crm.usage().calls == before


# -- writing -------------------------------------------------------------------------------------


def test_1000_records_go_out_in_the_fewest_calls(case, crm):
    ids = case.admin.create(1000)
    score, tier = case.outputs["score"], case.outputs["tier"]
    writes = [RecordWrite(i, {score: n % 101, tier: "Hot"}) for n, i in enumerate(ids)]
    calls, requests = crm.usage().calls, case.admin.stats()["write_requests"]

    results = [result for batch in write_all(crm, writes) for result in batch]

    expected_calls = 1000 // crm.write_batch_size  # 5 on Salesforce, 10 on HubSpot
    assert crm.usage().calls - calls == expected_calls
    assert case.admin.stats()["write_requests"] - requests == expected_calls
    assert [r.record_id for r in results] == ids and all(r.ok for r in results)
    stored = case.admin.read(ids, [score, tier])
    assert all(float(stored[i][score]) == n % 101 and stored[i][tier] == "Hot"
               for n, i in enumerate(ids))


def test_invalid_values_are_caught_before_sending_and_the_rest_written(case, crm):
    size = crm.write_batch_size
    ids = case.admin.create(size)
    score, tier = case.outputs["score"], case.outputs["tier"]
    picklist, allowed = case.picklist
    too_long = "x" * (crm.describe()[tier].length + 1)
    bad = {ids[3]: {tier: too_long}, ids[50]: {score: "high"}, ids[-1]: {picklist: "Maybe"}}
    writes = [RecordWrite(i, bad.get(i, {score: 55, picklist: allowed})) for i in ids]
    calls = crm.usage().calls

    results = crm.write(writes)

    assert crm.usage().calls - calls == 1
    failed = {r.record_id: r for r in results if not r.ok}
    assert set(failed) == set(bad)
    assert {(r.field, r.code) for r in failed.values()} == {
        (tier, "STRING_TOO_LONG"), (score, "INVALID_TYPE"), (picklist, "INVALID_PICKLIST")}
    assert all(not r.sent and r.reason for r in failed.values())
    stored = case.admin.read(ids, [score, picklist])
    assert all(float(stored[i][score]) == 55 for i in ids if i not in bad)
    assert all(stored[i][score] is None for i in bad)


# -- creating the output fields -------------------------------------------------------------------


def test_fields_create_twice_creates_once(case):
    crm = case.connect()
    specs = case.specs()
    names = [spec.name for spec in specs]

    planned = crm.ensure_fields(specs, dry_run=True)
    assert planned.dry_run and list(planned.created) == names
    assert crm.describe(refresh=True).missing(names) == names  # nothing was made

    first = crm.ensure_fields(specs)
    second = crm.ensure_fields(specs)
    assert list(first.created) == names and first.existing == ()
    assert second.created == () and list(second.existing) == names
    assert "every output field is present" in "\n".join(second.lines())
    if case.name == "salesforce":  # created, but hidden until the admin grants FLS
        assert "field-level security" in second.manual_steps[0]
        case.admin.grant(names)
        assert crm.ensure_fields(specs).manual_steps == ()
    assert crm.describe(refresh=True).missing(names) == []


def test_fields_create_with_grant_leaves_nothing_to_do_by_hand(case):
    """`leadscore fields create --grant PERMISSION_SET`: one command and the fields are usable
    (Salesforce: permission set, FieldPermissions and assignment; HubSpot: nothing to grant)."""
    crm = case.connect()
    specs = case.specs()
    names = [spec.name for spec in specs]
    planned = crm.ensure_fields(specs, dry_run=True, grant="LeadScore_Integration")
    assert crm.describe(refresh=True).missing(names) == names  # a dry run makes nothing

    report = crm.ensure_fields(specs, grant="LeadScore_Integration")
    assert report.manual_steps == () and list(report.created) == names
    assert crm.describe(refresh=True).missing(names) == []
    lead = case.admin.create(1)[0]
    score = names[0]
    assert [r.ok for r in crm.write([RecordWrite(lead, {score: 42})])] == [True]
    assert float(case.admin.read([lead], [score])[lead][score]) == 42  # HubSpot values are strings

    again = crm.ensure_fields(specs, grant="LeadScore_Integration")
    if case.name == "salesforce":
        assert planned.access == (
            "would create permission set LeadScore_Integration",
            f"would grant Read and Edit on {', '.join(names)} in permission set LeadScore_Integration",
            "would assign permission set LeadScore_Integration to the integration user")
        assert report.access == (
            "created permission set LeadScore_Integration",
            f"granted Read and Edit on {', '.join(names)} in permission set LeadScore_Integration",
            "assigned permission set LeadScore_Integration to the integration user")
        assert again.access == (
            "permission set LeadScore_Integration already grants Read and Edit on every output field",
            "permission set LeadScore_Integration is already assigned to the integration user")
    else:
        for answer in (planned, report, again):
            (line,) = answer.access
            assert line.startswith("--grant LeadScore_Integration: nothing to grant in HubSpot")
    assert again.created == () and again.manual_steps == ()


# -- callback tasks ----------------------------------------------------------------------------


def _task(ref: str, record_id: str, owner: str | None = None) -> TaskRequest:
    return TaskRequest(ref, record_id, owner, f"Call back: Hot lead ({ref})",
                       f"Came from the web\n\n(leadscore ref {ref})",
                       datetime(2026, 5, 2, 9, 30, tzinfo=UTC))


def _owner(case) -> str:
    if case.name == "salesforce":
        return case.sandbox.salesforce.rep_ids[1]
    return "64492918"


def test_tasks_are_created_for_the_owner_and_found_again_by_ref(case, crm):
    first, second = case.admin.create(2)
    results = crm.create_tasks([_task("ls-a1", first, _owner(case)), _task("ls-b2", second)])
    assert [r.ref for r in results] == ["ls-a1", "ls-b2"] and all(r.ok for r in results)
    store = case.sandbox.salesforce if case.name == "salesforce" else case.sandbox.hubspot
    task = store.tasks_of(first)[0]
    if case.name == "salesforce":
        assert (task["WhoId"], task["OwnerId"], task["ActivityDate"], task["Status"],
                task["TaskSubtype"]) == (first, _owner(case), "2026-05-02", "Not Started", "Call")
        assert store.tasks_of(second)[0]["OwnerId"] == store.user_id  # no owner: the API user
    else:
        assert (task["hubspot_owner_id"], task["hs_timestamp"], task["hs_task_status"],
                task["hs_task_type"]) == ("64492918", "2026-05-02T09:30:00.000Z",
                                          "NOT_STARTED", "CALL")
    assert "ls-a1" in (task.get("Description") or task.get("hs_task_body"))
    # Looked up by ref (the crash window): found for both, not for a task never created.
    found = crm.find_tasks([_task("ls-a1", first), _task("ls-b2", second),
                            _task("ls-c3", second)])
    assert found == {"ls-a1": results[0].task_id, "ls-b2": results[1].task_id}


def test_a_task_the_crm_refuses_does_not_stop_the_others(case, crm):
    lead, = case.admin.create(1)
    missing = "00QDn00000ZZZZZIAA" if case.name == "salesforce" else "99999"
    bad_owner = (case.sandbox.salesforce.inactive_user_id if case.name == "salesforce"
                 else "11111111")
    results = crm.create_tasks([_task("ls-ok", lead), _task("ls-gone", missing),
                                _task("ls-owner", lead, bad_owner)])
    assert results[0].ok and not results[1].ok and not results[2].ok
    assert results[1].code and results[2].code and not results[1].transient
    assert crm.find_tasks([_task("ls-ok", lead), _task("ls-owner", lead)]) == {
        "ls-ok": results[0].task_id}
    with pytest.raises(ValueError):
        crm.create_tasks([_task(f"ls-{n}", lead) for n in range(crm.write_batch_size + 1)])


# -- records that leave the CRM ----------------------------------------------------------------


def test_removed_records_are_listed_once_with_what_happened(case, crm):
    ids = case.admin.create(4)
    before = crm.removed_since(None)
    assert before.removals == ()
    case.admin.delete(ids[0])
    survivor = case.admin.merge(ids[1], ids[2])
    found = crm.removed_since(before.reached)
    kinds = {r.record_id: (r.kind, r.survivor) for r in found.removals}
    assert len(kinds) == len(found.removals)  # each id once
    assert kinds[ids[0]] == ("deleted" if case.name == "salesforce" else "archived", None)
    assert kinds[ids[2]] == ("merged", survivor)
    if survivor != ids[1]:  # HubSpot: the merge made a new record, the primary's id is gone too
        assert kinds[ids[1]] == ("merged", survivor)
    assert found.complete and found.reached >= before.reached
    fields = [case.outputs["score"]]
    assert {r.id for r in crm.read([*ids, survivor], fields)} == {survivor, ids[3]}
    score = case.outputs["score"]
    results = crm.write([RecordWrite(ids[0], {score: 10}), RecordWrite(ids[2], {score: 10})])
    assert [r.ok for r in results] == [False, False]
    assert all(r.code in FINAL_CODES and not r.transient for r in results)


def test_ids_for_an_email_address_ignore_case(case, crm):
    if case.name == "salesforce":
        person = case.admin.create(1, Email="Erase.Me@example.com")[0]
        case.admin.create(1, Email="someone.else@example.com")
        address = "Erase.Me@example.com"
    else:
        person = case.admin.create(2)[0]
        address = case.admin.read([person], ["email"])[person]["email"]
    assert crm.ids_for_email(address.upper()) == [person]
    assert crm.ids_for_email("nobody@example.org") == []
    if case.name == "salesforce":  # the recycle bin still holds the person
        case.admin.delete(person)
        assert crm.ids_for_email(address) == [person]
