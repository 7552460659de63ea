"""The control group: a stable hashed assignment, nothing written for control leads over real
HTTP, their scores kept in the state store, and written once the group is switched off."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests
from pilot_support import SALT, is_control, open_leads, pilot_setup, tasks_by_lead
from sync_support import NAMES, prepare, small_bank, trained_model
from test_webhook import Endpoint

from connector.admin.report.pilot import gather_pilot, render_pilot
from connector.config import ControlGroup, Webhook
from connector.sandbox import Sandbox
from connector.state import StateStore
from connector.sync.engine import run_sync
from connector.sync.pilot import in_control

LEADS = 1500
IDS = [f"00QDn0000{n:09d}AA" for n in range(10_000)]


def test_the_group_is_the_same_in_another_process_and_holds_about_the_share():
    here = [in_control(i, SALT, 0.2) for i in IDS]
    child = subprocess.run(
        [sys.executable, "-c", "import sys; from connector.sync.pilot import in_control; "
         "ids = sys.stdin.read().split(); "
         f"print(''.join('1' if in_control(i, {SALT!r}, 0.2) else '0' for i in ids))"],
        input="\n".join(IDS), capture_output=True, text=True, check=True)
    assert child.stdout.strip() == "".join("1" if c else "0" for c in here)
    share = sum(here) / len(IDS)
    assert abs(share - 0.2) < 4 * (0.2 * 0.8 / len(IDS)) ** 0.5  # within 4 sigma (0.016)
    # Another salt draws another group; a lower share keeps a subset of the same group.
    assert [in_control(i, SALT + "x", 0.2) for i in IDS] != here
    assert all(c for i, c in zip(IDS, here) if in_control(i, SALT, 0.1))


def test_the_documented_hash():
    """sha256(salt + ":" + id), first 8 bytes big-endian, / 2**64 < share."""
    import hashlib
    value = int.from_bytes(hashlib.sha256(b"s4lt-s4lt:00Q1").digest()[:8], "big") / 2**64
    assert in_control("00Q1", "s4lt-s4lt", value + 1e-9)
    assert not in_control("00Q1", "s4lt-s4lt", value)


def test_control_settings_are_validated():
    with pytest.raises(ValueError, match="at least 8"):
        ControlGroup(share=0.2, salt="short")
    with pytest.raises(ValueError, match="less than or equal to 0.5"):
        ControlGroup(share=0.9, salt="long-enough")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    directory = tmp_path_factory.mktemp("models")
    return {crm: trained_model(crm, LEADS, directory) for crm in ("salesforce", "hubspot")}


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_nothing_is_written_for_control_leads_until_the_group_is_switched_off(
        crm, models, tmp_path, monkeypatch):
    hook = Endpoint([503])  # the chat webhook: down once, then fine
    monkeypatch.setenv("LEADSCORE_TEST_HOOK", hook.url)
    with Sandbox(crms=(crm,), seed=small_bank(LEADS)) as box:
        setup = pilot_setup(prepare(box, crm, tmp_path, trained=models[crm]), tmp_path)
        setup.connection = setup.connection.model_copy(
            update={"webhook": Webhook(url_env="LEADSCORE_TEST_HOOK")})
        name, outputs = NAMES[crm], setup.mapping.output_fields()
        with StateStore(tmp_path / "state.sqlite") as state:
            client = setup.open()
            first = run_sync(setup.connection, client, setup.model(), setup.mapping, state)
            assert first.outcome == "ok"
            leads = open_leads(setup)
            control = {i for i in leads if is_control(i)}
            assert 0.1 < len(control) / len(leads) < 0.3
            scored = [setup.mapping.outputs.score.field, setup.mapping.outputs.tier.field]
            for record_id, values in leads.items():  # (a reason may be empty: nothing stood out)
                written = [f for f in outputs if values.get(f) not in (None, "")]
                if record_id in control:
                    assert written == [], record_id
                else:
                    assert set(scored) <= set(written), record_id
            assert not any(tasks_by_lead(setup, control).values())  # no task either
            # Their scores are kept: every open lead has a pilot row in its own group.
            rows = {r.record_id: r for r in state.pilot.pilot_rows(name)}
            assert set(rows) == set(leads)
            assert {i for i, r in rows.items() if r.group == "control"} == control
            assert all(r.score is not None and r.tier for r in rows.values())
            assert state.pilot.group_sizes(name) == {
                "control": len(control), "scored": len(leads) - len(control), "released": 0}
            made = state.pilot.callback_counts(name)["created"]
            # One post per task; the one refused with 503 waits for its retry (30 s).
            assert len(hook.bodies) == made and {b["tier"] for b in hook.bodies} == {"Hot"}
            assert state.pilot.webhook_counts(name) == {"pending": 1, "sent": made - 1,
                                                         "dead": 0}
            hot_control = {i for i in control if rows[i].tier == "Hot"}

            # Switched off: the next sync writes the control leads' scores (and Hot ones get
            # their task now that reps see them), and the rows stay for the report.
            off = setup.connection.model_copy(update={"control": None})
            second = run_sync(off, client, setup.model(), setup.mapping, state)
            client.close()
            assert second.outcome == "ok" and second.counts.written == len(control)
            after = open_leads(setup)
            assert all(after[i].get(f) not in (None, "") for i in control for f in scored)
            assert state.pilot.group_sizes(name)["released"] == len(control)
            tasks = tasks_by_lead(setup, control)
            assert {i for i, found in tasks.items() if found} == hot_control
            assert all(len(found) <= 1 for found in tasks.values())

            # Outcomes arrive (the sandbox's time route, over HTTP): the report compares the
            # groups per would-be tier, and the group stays the group it was.
            info = box.info[crm]
            closed = requests.post(f"{info['admin_url']}/close", json={"share": 0.5, "seed": 2},
                                   verify=info.get("ca_file") or True, timeout=30).json()
            client = setup.open()
            pilot = gather_pilot(state, client, setup.mapping, name, 0.2)
            client.close()
        everything = pilot.rows[0]
        assert sum(everything.scored) - everything.scored[0] + sum(everything.control) \
            - everything.control[0] == closed["closed"]
        assert everything.scored[0] + everything.control[0] == closed["converted"]
        assert sum(r.scored[1] for r in pilot.rows[1:]) == everything.scored[1]
        assert pilot.headline.startswith("Hot leads reps saw converted")
        assert pilot.dated == (crm == "salesforce")  # Salesforce records ConvertedDate
        html = render_pilot(pilot)
        assert "Does scoring change anything?" in html and "Newcombe" in html
        assert f"{len(control):,} leads were held back" in html
    hook.close()


def test_a_version_1_state_store_gains_the_pilot_tables(tmp_path):
    from sqlalchemy import inspect, text

    from connector.state import schema
    from connector.state.schema import make_engine, write_tx

    engine = make_engine(tmp_path / "v1.db")
    with write_tx(engine) as conn:  # the tables released with version 1, and its stamp
        schema.metadata.create_all(conn, tables=[t for t in schema.metadata.sorted_tables
                                                 if t not in schema.V2_TABLES])
        conn.execute(text("INSERT INTO leadscore_meta (key, value) VALUES "
                          "('schema_version', '1')"))
    assert "pilot_leads" not in inspect(engine).get_table_names()
    engine.dispose()
    with StateStore(tmp_path / "v1.db") as state:
        assert state.schema_version == 2
        assert {"pilot_leads", "callback_tasks", "webhook_outbox"} <= set(
            inspect(state.engine).get_table_names())
        state.ensure_connection("sf", "salesforce")
        assert state.pilot.group_sizes("sf") == {"control": 0, "scored": 0, "released": 0}
