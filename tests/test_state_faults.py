"""A state store that cannot be used (read-only, not a database, damaged) is one line, exit 3."""

import re
import sqlite3

import pytest

from connector.cli import main
from connector.errors import StateStoreError
from connector.state import StateStore


@pytest.fixture
def project(tmp_path):
    """A config from `leadscore init` whose state_url the test rewrites."""
    assert main(["init", "--dir", str(tmp_path)]) == 0
    return tmp_path


def _point_at(project, url: str):
    config = project / "leadscore.toml"
    text = config.read_text()
    config.write_text(re.sub(r'^state_url = ".*"$', f'state_url = "{url}"', text, flags=re.M))
    return config


def _status(config, capsys):
    code = main(["status", "--config", str(config)])
    return code, capsys.readouterr().err


def test_not_a_database(project, capsys):
    (project / "notes.txt").write_text("a shopping list, not SQLite\n" * 200)
    code, err = _status(_point_at(project, f"sqlite:///{project / 'notes.txt'}"), capsys)
    assert code == 3 and "Traceback" not in err
    assert "is not a leadscore state database" in err and "hint:" in err


def test_damaged_image(project, capsys):
    path = project / "state.db"
    with StateStore(path) as store:
        for n in range(400):
            store.ensure_connection(f"connection-{n:04d}" * 8, "salesforce")
    data = bytearray(path.read_bytes())
    page = sqlite3.connect(path).execute("PRAGMA page_size").fetchone()[0]
    for at in range(2 * page, len(data), 97):  # scribble over every page past the schema's
        data[at] = 0xA5
    path.write_bytes(bytes(data))
    code, err = _status(_point_at(project, f"sqlite:///{path}"), capsys)
    assert code == 3 and "Traceback" not in err
    assert "is damaged" in err and "Restore it from a backup" in err


def test_read_only_after_opening(project, capsys):
    path = project / "state.db"
    with StateStore(path) as store:
        store.ensure_connection("salesforce", "salesforce")
    # The tests run as root, which file modes do not stop: open the file read-only instead.
    url = f"sqlite:///file:{path}?mode=ro&uri=true"
    with StateStore(url) as store:
        with pytest.raises(StateStoreError) as raised:
            store.start_run("salesforce", "sync")
    assert raised.value.exit_code == 3 and "is read-only" in raised.value.message
    assert "write the file and its folder" in raised.value.hint
