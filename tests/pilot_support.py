"""Shared set-up of the pilot tests (control group, callback tasks) and bench/uplift.py: a
sandbox connection whose mapping asks for callback tasks and whose config has a control group,
and readers of what the sandbox CRM holds (output values, tasks per lead)."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from sync_support import MAPPINGS, NAMES, Setup, crm_values, environ, reach_toml

from connector.config import ControlGroup
from connector.mapping import load_mapping
from connector.sync.pilot import in_control

SALT = "pilot-test-salt"


def pilot_setup(setup: Setup, directory: Path, *, share: float | None = 0.2,
                callbacks: dict | None = None) -> Setup:
    """``setup`` with a mapping that makes callback tasks (default: Hot) and a control group
    of ``share`` (None: none)."""
    data = yaml.safe_load(MAPPINGS[setup.crm_name].read_text(encoding="utf-8"))
    data["callbacks"] = {"tier": "Hot", **(callbacks or {})}
    mapping = directory / f"pilot-{setup.crm_name}.yaml"
    mapping.write_text(yaml.safe_dump(data), encoding="utf-8")
    control = None if share is None else ControlGroup(share=share, salt=SALT)
    connection = setup.connection.model_copy(update={"mapping": mapping, "control": control})
    return Setup(setup.sandbox, setup.crm_name, connection, load_mapping(mapping),
                 setup.model_dir)


def write_pilot_config(directory: Path, setup: Setup, *, share: float = 0.2) -> Path:
    """A leadscore.toml with ``setup``'s connection (control group ``share``), and a .env."""
    shutil.copytree(setup.model_dir, directory / "models" / NAMES[setup.crm_name],
                    dirs_exist_ok=True)
    reach = reach_toml(setup.sandbox, setup.crm_name)
    config = directory / "leadscore.toml"
    config.write_text(f"""
state_url = "sqlite:///{directory / 'state.sqlite'}"
model_dir = "models"

[connections.{NAMES[setup.crm_name]}]
crm = "{setup.crm_name}"
mapping = "{setup.connection.mapping}"
{reach}
control = {{share = {share}, salt = "{SALT}"}}
""", encoding="utf-8")
    (directory / ".env").write_text("".join(f"{k}={v}\n" for k, v in environ().items()))
    return config


def tasks_by_lead(setup: Setup, ids) -> dict[str, list[dict]]:
    """Each lead's tasks as the sandbox holds them (read without an API call)."""
    return {i: setup.store().tasks_of(i) for i in ids}


def open_leads(setup: Setup) -> dict[str, dict]:
    """Open leads' mapped inputs and outputs as the CRM holds them now."""
    return {i: v for i, v in crm_values(setup).items() if setup.mapping.outcome_of(v) is None}


def is_control(record_id: str, share: float = 0.2) -> bool:
    """The test salt's group of ``record_id``."""
    return in_control(record_id, SALT, share)
