"""Callback tasks, exactly once per Hot lead under ``kill -9`` and rerun, on both CRMs over real
HTTP; never for control leads. The child process runs the real engine against the sandbox of
this process and pauses at a known point (as tests/test_crash_safety.py does): after a tier write
reached the CRM but before the page was recorded, just before the task call (the row says
"sending"), and right after the CRM created the tasks but before we recorded them (the worst
moment: only the ref in the task tells the rerun they exist)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from collections import Counter

import pytest
from pilot_support import is_control, open_leads, pilot_setup, tasks_by_lead, write_pilot_config
from sync_support import NAMES, prepare, small_bank, trained_model

from connector.admin.status import status as gather_status
from connector.cli import main
from connector.config import load_config
from connector.sandbox import Sandbox
from connector.state import StateStore, utcnow
from connector.sync.engine import run_sync

LEADS = 1500

CHILD = textwrap.dedent("""
    import sys, threading, time
    from connector.config import load_config
    from connector.crm import open_crm
    from connector.mapping import load_mapping
    from connector.model import load_model
    from connector.state import StateStore
    from connector.sync.engine import run_sync

    config_path, name, phase = sys.argv[1:4]
    config = load_config(config_path)
    connection = config.connection(name)
    crm = open_crm(connection)
    one_at_a_time = threading.Lock()

    def halt():
        with one_at_a_time:
            print("AT", phase, flush=True)
            time.sleep(600)

    if phase == "write":
        write = crm.write
        def write_then_halt(batch):
            results = write(batch)
            halt()
        crm.write = write_then_halt
    elif phase == "before_task":
        crm.create_tasks = lambda tasks: halt()
    elif phase == "task":
        create = crm.create_tasks
        def create_then_halt(tasks):
            create(tasks)
            halt()
        crm.create_tasks = create_then_halt
    run_sync(connection, crm, load_model(config.model_dir_for(name)),
             load_mapping(connection.mapping), StateStore(config.state_url))
""")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    directory = tmp_path_factory.mktemp("models")
    return {crm: trained_model(crm, LEADS, directory) for crm in ("salesforce", "hubspot")}


@pytest.mark.parametrize("phase", ["write", "before_task", "task"])
@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_one_task_per_hot_lead_after_kill_9_and_reruns(crm, phase, models, tmp_path, capsys):
    with Sandbox(crms=(crm,), seed=small_bank(LEADS)) as box:
        setup = pilot_setup(prepare(box, crm, tmp_path, trained=models[crm]), tmp_path)
        config = write_pilot_config(tmp_path, setup)
        name = NAMES[crm]
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(config), name, phase],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = child.stdout.readline()
        if line.strip() != f"AT {phase}":
            child.kill()
            pytest.fail(f"the child said {line!r} instead of 'AT {phase}': {child.communicate()}")
        child.send_signal(signal.SIGKILL)
        child.wait()
        made_before = sum(len(t) for t in tasks_by_lead(setup, open_leads(setup)).values())
        assert (made_before > 0) == (phase == "task")  # it died right after creating them
        with StateStore(tmp_path / "state.sqlite") as state:
            client = setup.open()
            for _ in range(2):  # the rerun finishes the job; one more run changes nothing
                assert run_sync(setup.connection, client, setup.model(), setup.mapping,
                                state).outcome == "ok"
            client.close()
            leads = open_leads(setup)
            tier = setup.mapping.outputs.tier.field
            hot = {i for i, v in leads.items() if v.get(tier) == "Hot"}
            assert hot and not any(is_control(i) for i in hot)
            tasks = tasks_by_lead(setup, leads)
            counts = Counter(len(found) for found in tasks.values())
            assert {i for i, found in tasks.items() if found} == hot
            assert counts[1] == len(hot) and set(counts) <= {0, 1}, counts
            assert state.pilot.callback_counts(name) == {"created": len(hot)}
            control_rows = [r for r in state.pilot.pilot_rows(name) if r.group == "control"]
            assert any(r.tier == "Hot" for r in control_rows)  # Hot control leads: no task
        if phase == "task":  # status shows the group sizes and the tasks
            entry, = gather_status(load_config(config), StateStore(tmp_path / "state.sqlite"),
                                   utcnow(), connection=name)
            assert entry["pilot"]["groups"]["control"] == len(control_rows)
            assert entry["pilot"]["callbacks"] == {"created": len(hot)}
            assert main(["status", "--config", str(config)]) == 0
            shown = capsys.readouterr().out
            assert f"{len(control_rows):,} leads held back" in shown
            assert f"{len(hot):,} created" in shown


def test_a_lead_that_leaves_the_tier_and_comes_back_gets_a_second_task(tmp_path):
    """Entries are keyed by the state the lead entered from: a rerun of one entry finds its
    row, a new entry (Hot -> Warm -> Hot) gets a new task; leaving the tier makes none."""
    from sync_support import connection_config, environ

    from connector.crm import open_crm
    from connector.mapping import Callbacks
    from connector.records import Record
    from connector.state import PageRecord, RecordState
    from connector.sync.callbacks import CallbackTasks

    with Sandbox(crms=("salesforce",)) as box:
        org = box.salesforce
        lead = org.create(org.objects["Lead"], {"LastName": "Re-entry", "Company": "Acme",
                                                "OwnerId": org.rep_ids[0]})
        connection = connection_config(box, "salesforce")
        setup_mapping = pilot_setup_mapping(tmp_path)
        tier = setup_mapping.outputs.tier.field
        crm = open_crm(connection, environ=environ())
        with StateStore(tmp_path / "s.db") as state:
            state.ensure_connection("sf", "salesforce")
            record = Record(lead, {"OwnerId": org.rep_ids[0]}, None)

            def visit(run_id: int, previous: str | None, now: str, *, crash: bool = False):
                calls = CallbackTasks(Callbacks(), setup_mapping, crm, state, "sf", run_id, utcnow)
                known = state.record_states("sf", [lead]).get(lead)
                assert (known.written.get(tier) if known else None) == previous
                calls.stage([(record, known, {tier: now})], lambda _: False)
                if crash:
                    return
                state.record_page("sf", run_id, PageRecord(states=[
                    RecordState(lead, "fp", "v1", {tier: now})]))
                calls.send_recorded({lead})

            runs = [state.start_run("sf", "sync") for _ in range(5)]
            visit(runs[0], None, "Hot", crash=True)  # died before the page was recorded
            visit(runs[1], None, "Hot")              # the rerun: the same entry, one task
            assert len(org.tasks_of(lead)) == 1
            visit(runs[2], "Hot", "Hot")             # still Hot: no entry
            visit(runs[3], "Hot", "Warm")            # left the tier: nothing
            assert len(org.tasks_of(lead)) == 1
            visit(runs[4], "Warm", "Hot")            # back in: a second entry, a second task
            assert len(org.tasks_of(lead)) == 2
            assert state.pilot.callback_counts("sf") == {"created": 2}
        crm.close()


def pilot_setup_mapping(directory):
    """The Salesforce demo mapping with callbacks for Hot leads."""
    import yaml
    from sync_support import MAPPINGS

    from connector.mapping import load_mapping
    data = yaml.safe_load(MAPPINGS["salesforce"].read_text(encoding="utf-8"))
    data["callbacks"] = {"tier": "Hot"}
    path = directory / "callbacks.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_mapping(path)
