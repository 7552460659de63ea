"""``leadscore forget`` end to end over HTTP: after it, no trace of the person's id or email in
the state database (SQLite and PostgreSQL), the models folder, the dry-run previews or the
reports; the CRM's leadscore fields are emptied, the sync never scores them again, and the exit
codes are the README's."""

from __future__ import annotations

import csv
import json
import os
import shutil

import pytest
from sync_support import NAMES, environ, prepare, reach_toml, small_bank, trained_model

from connector.cli import main
from connector.errors import ConnectionLockedError, ErasureIncompleteError, FixConfigError
from connector.sandbox import Sandbox
from connector.state import StateStore, schema

POSTGRES_URL = os.environ.get("LEADSCORE_TEST_POSTGRES_URL")
LEADS = 300


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    directory = tmp_path_factory.mktemp("models")
    return {crm: trained_model(crm, 1500, directory) for crm in ("salesforce", "hubspot")}


def _state_url(backend: str, tmp_path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'state.sqlite'}"
    if not POSTGRES_URL:
        pytest.skip("set LEADSCORE_TEST_POSTGRES_URL to run forget on PostgreSQL")
    engine = schema.make_engine(POSTGRES_URL)
    with engine.begin() as conn:
        schema.metadata.drop_all(conn)
    engine.dispose()
    return POSTGRES_URL


def _config(tmp_path, box: Sandbox, setup, crm: str, state_url: str):
    shutil.copytree(setup.model_dir, tmp_path / "models" / NAMES[crm])
    reach = reach_toml(box, crm)
    config = tmp_path / "leadscore.toml"
    config.write_text(f'state_url = "{state_url}"\nmodel_dir = "models"\n\n'
                      f'[connections.{NAMES[crm]}]\ncrm = "{crm}"\n'
                      f'mapping = "{setup.connection.mapping}"\n{reach}\n')
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in environ().items()))
    return config


def _traces(tmp_path, state: StateStore, record_id: str, email: str) -> list[str]:
    """Where the id (as a text value or a whole CSV cell) or the address still shows."""
    found = []
    with state.engine.connect() as conn:
        for table in schema.metadata.sorted_tables:
            for row in conn.execute(table.select()):
                if any(isinstance(cell, str) and (record_id in cell or email.lower() in
                                                  cell.lower()) for cell in row):
                    found.append(f"table {table.name}")
    for path in tmp_path.rglob("*"):
        if not path.is_file() or path.suffix not in (".csv", ".html", ".json", ".txt"):
            continue
        content = path.read_text("utf-8", errors="replace")
        if email.lower() in content.lower():
            found.append(str(path))
        elif path.suffix == ".csv":
            rows = list(csv.reader(content.splitlines()))
            found += [str(path) for row in rows if record_id in row]
        elif path.suffix == ".json":
            found += [str(path)] if f'"{record_id}"' in content else []
        elif record_id in content:
            found.append(str(path))
    return found


@pytest.mark.parametrize("crm, backend", [("salesforce", "sqlite"), ("salesforce", "postgres"),
                                          ("hubspot", "sqlite")])
def test_forget_leaves_no_trace_of_the_person(models, tmp_path, capsys, crm, backend):
    state_url = _state_url(backend, tmp_path)
    with Sandbox(crms=(crm,), seed=small_bank(LEADS, open_share=1.0)) as box:
        setup = prepare(box, crm, tmp_path / "m", trained=models[crm])
        config = _config(tmp_path, box, setup, crm, state_url)
        name = NAMES[crm]
        base = ["--config", str(config), "-c", name]
        out = tmp_path / "out"
        assert main(["sync", *base, "--dry-run", "--out", str(out)]) == 0  # a preview of all
        assert main(["sync", *base]) == 0
        assert main(["report", *base, "--out", str(tmp_path / "report.html")]) == 0
        with StateStore(state_url) as state:
            person = state.record_ids(name)[7]
        fields = setup.mapping.output_fields()
        if crm == "salesforce":
            email = "Ana.Person@Example.com"
            user_sf = box.salesforce
            user_sf.update(user_sf.sobject("Lead"), person, {"Email": email})
        else:
            email = box.hubspot.values("contacts", person)["email"]
        capsys.readouterr()

        code = main(["forget", *base, "--email", email.upper(), "--clear-crm", "--out", str(out),
                     "--json"])
        assert code == 0, capsys.readouterr().err
        removed = json.loads(capsys.readouterr().out)
        assert removed["records"] == 1 and removed["state"]["records"] == 1
        assert removed["state"]["audit"] >= 3 and removed["crm_cleared"] == 1
        assert sum(removed["previews"].values()) == 1
        with StateStore(state_url) as state:
            assert _traces(tmp_path, state, person, email) == []
            assert [e for e, _ in state.removal_events(name, person)] == ["forgotten"]
        held = box.salesforce.peek([person], fields) if crm == "salesforce" else {
            person: {f: box.hubspot.values("contacts", person).get(f) for f in fields}}
        assert all(value in (None, "") for value in held[person].values())

        assert main(["sync", *base, "--full"]) == 0  # the person is never scored again
        with StateStore(state_url) as state:
            assert state.record_states(name, [person]) == {}
            assert _traces(tmp_path, state, person, email) == []
        assert main(["forget", *base, "--id", person]) == 0  # again: nothing left, still fine


def test_forget_exit_codes(models, tmp_path, capsys):
    with Sandbox(crms=("salesforce",), seed=small_bank(60, open_share=1.0)) as box:
        setup = prepare(box, "salesforce", tmp_path / "m", trained=models["salesforce"])
        config = _config(tmp_path, box, setup, "salesforce",
                         f"sqlite:///{tmp_path / 'state.sqlite'}")
        base = ["--config", str(config), "-c", "sf"]
        assert main(["forget", *base]) == 2  # neither --id nor --email
        assert main(["forget", *base, "--id", "00Q1", "--email", "a@b.c"]) == 2
        assert main(["forget", "--config", str(config), "-c", "nope", "--id", "x"]) \
            == FixConfigError.exit_code == 3
        with StateStore(tmp_path / "state.sqlite") as state:
            state.ensure_connection("sf", "salesforce")
            with state.lock("sf", owner="a running sync"):
                assert main(["forget", *base, "--id", "00Q1"]) == ConnectionLockedError.exit_code
        assert "a running sync" in capsys.readouterr().err
        model_file = next((tmp_path / "models" / "sf").rglob("card.json"))
        card = json.loads(model_file.read_text())
        card["note"] = "00QDn0000000001MAA"  # a model file naming a person: cannot be edited
        model_file.write_text(json.dumps(card))
        assert main(["forget", *base, "--id", "00QDn0000000001MAA"]) \
            == ErasureIncompleteError.exit_code == 4
        assert "still hold" in capsys.readouterr().err


def test_forget_when_the_crm_is_unreachable_erases_nothing_and_exits_75(models, tmp_path,
                                                                        capsys):
    """--email and --clear-crm need the CRM: with it down, forget says so, exits 75 and the
    state is untouched (a later run can still find and erase everything); --id alone works
    without the CRM."""
    state_url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    with Sandbox(crms=("salesforce",), seed=small_bank(60, open_share=1.0)) as box:
        setup = prepare(box, "salesforce", tmp_path / "m", trained=models["salesforce"])
        config = _config(tmp_path, box, setup, "salesforce", state_url)
        ca_file = box.info["salesforce"]["ca_file"]
        shutil.copy(ca_file, tmp_path / "ca.pem")  # the sandbox's folder goes with it
        config.write_text(config.read_text().replace(ca_file, str(tmp_path / "ca.pem")))
        base = ["--config", str(config), "-c", "sf"]
        assert main(["sync", *base]) == 0
    with StateStore(state_url) as state:
        first, second = state.record_ids("sf")[:2]
    capsys.readouterr()
    assert main(["forget", *base, "--email", "someone@example.com"]) == 75
    assert "unreachable" in capsys.readouterr().err.lower()
    assert main(["forget", *base, "--id", first, "--clear-crm"]) == 75
    capsys.readouterr()
    with StateStore(state_url) as state:
        assert set(state.record_states("sf", [first, second])) == {first, second}
    assert main(["forget", *base, "--id", second]) == 0
    with StateStore(state_url) as state:
        assert set(state.record_states("sf", [first, second])) == {first}
