"""``kill -9`` of a real sync process during pull, scoring and write; the rerun must end with
exactly the CRM values of a clean run, no record skipped, no audit row missing or doubled.

The child process runs the real engine against the sandbox served by this test process. It is
instrumented only to say where it is (a line on stdout) and to pause there, so the kill lands
at a known point: before the first page is processed (pull), inside scoring, and right after
a write batch reached the CRM but before anything was recorded (the worst moment).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest
from sync_support import NAMES, crm_values, prepare, small_bank, trained_model, wrong_values
from test_sync import write_config

from connector.sandbox import Sandbox
from connector.state import StateStore
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
    model = load_model(config.model_dir_for(name))

    # HubSpot sends write batches from several threads: one line only, and every thread stops.
    one_at_a_time = threading.Lock()

    def halt():
        with one_at_a_time:
            print("AT", phase, flush=True)
            time.sleep(600)

    if phase == "pull":
        pull = crm.pull_changed
        def pull_changed(cursor, fields):
            for page in pull(cursor, fields):
                halt()
                yield page
        crm.pull_changed = pull_changed
    elif phase == "score":
        score = model.score
        model.score = lambda records: (halt(), score(records))[1]
    elif phase == "write":
        write = crm.write
        def write_then_halt(batch):
            results = write(batch)
            halt()
            return results
        crm.write = write_then_halt
    run_sync(connection, crm, model, load_mapping(connection.mapping),
             StateStore(config.state_url))
""")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    directory = tmp_path_factory.mktemp("models")
    return {crm: trained_model(crm, LEADS, directory) for crm in ("salesforce", "hubspot")}


@pytest.mark.parametrize("phase", ["pull", "score", "write"])
@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_kill_9_then_rerun_equals_a_clean_run(crm, phase, models, tmp_path):
    with Sandbox(seed=small_bank(LEADS)) as box:
        setups = {name: prepare(box, name, tmp_path, trained=models[name]) for name in models}
        config = write_config(tmp_path, box, setups)
        name = NAMES[crm]
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(config), name, phase],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = child.stdout.readline()
        if line.strip() != f"AT {phase}":
            child.kill()
            pytest.fail(f"the child said {line!r} instead of 'AT {phase}': {child.communicate()}")
        child.send_signal(signal.SIGKILL)
        child.wait()
        setup = setups[crm]
        if phase == "write":
            assert setup.store().stats()["records_written"] > 0  # it died after a real write
        with StateStore(tmp_path / "state.sqlite") as state:
            crm_client = setup.open()
            rerun = run_sync(setup.connection, crm_client, setup.model(), setup.mapping, state)
            crm_client.close()
            assert rerun.outcome == "ok"
            assert state.last_runs(name)[1].outcome == "crashed"
            values = crm_values(setup)
            assert wrong_values(setup, values) == []
            audit = [(a.record_id, a.field) for a in state.audit(name)]
            assert len(audit) == len(set(audit))  # no duplicates
            expected = {(record_id, field) for record_id, v in values.items()
                        if setup.mapping.outcome_of(v) is None
                        for field in setup.mapping.output_fields() if v.get(field) not in (None, "")}
            assert set(audit) == expected  # and none missing
