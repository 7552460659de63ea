"""Shared set-up for the sync, scheduler and crash tests (and bench/sync.py): a small bank data
set, a running sandbox with the output fields provisioned, connection configs pointing at it, and
a model trained on the sandbox's own closed leads through the real connectors.

Nothing here is a fake: the CRMs are the sandbox emulators reached over HTTP by the real
adapters, the model is trained by :func:`connector.model.train_model`.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

from connector.config import ConnectionConfig
from connector.crm import open_crm
from connector.mapping import Mapping, load_mapping
from connector.model import load_model, train_model
from connector.sandbox import HUBSPOT_DEFAULTS, SALESFORCE_DEFAULTS, Sandbox
from connector.sandbox.seeding import SeedData, load_bank
from connector.state import StateStore
from connector.sync.engine import RunSummary, run_sync
from connector.sync.writeback import output_specs

ROOT = Path(__file__).resolve().parents[1]
MAPPINGS = {"salesforce": ROOT / "mappings" / "bank-demo-salesforce.yaml",
            "hubspot": ROOT / "mappings" / "bank-demo-hubspot.yaml"}
NAMES = {"salesforce": "sf", "hubspot": "hs"}


def small_bank(leads: int, *, open_share: float = 0.2) -> SeedData:
    """``leads`` rows spread evenly over the bank data, the newest ``open_share`` left open."""
    bank = load_bank()
    step = max(len(bank.rows) // leads, 1)
    rows = bank.rows[::step][:leads]
    first_open = len(rows) - round(len(rows) * open_share)
    return dataclasses.replace(bank, rows=tuple(
        dataclasses.replace(row, index=i, is_open=i >= first_open) for i, row in enumerate(rows)))


def connection_config(sandbox: Sandbox, crm: str, **overrides) -> ConnectionConfig:
    """A connection to ``crm`` in ``sandbox`` using the bank demo mapping."""
    info = sandbox.info[crm]
    if crm == "salesforce":
        settings = dict(auth="password", token_url=info["token_url"], ca_file=info["ca_file"])
    else:
        settings = dict(auth="private_app", base_url=info["base_url"])
    return ConnectionConfig(name=NAMES[crm], crm=crm, mapping=MAPPINGS[crm],
                            **{**settings, **overrides})


def reach_toml(sandbox: Sandbox, crm: str) -> str:
    """The lines of a ``[connections.NAME]`` table that reach ``crm`` in ``sandbox`` (auth and
    address; for Salesforce the sandbox's CA file), as a config file written by hand has them."""
    info = sandbox.info[crm]
    if crm == "salesforce":
        return (f'auth = "password"\ntoken_url = "{info["token_url"]}"\n'
                f'ca_file = "{info["ca_file"]}"')
    return f'auth = "private_app"\nbase_url = "{info["base_url"]}"'


def environ() -> dict[str, str]:
    """The secrets the sandbox accepts, under the default variable names."""
    env = {f"SALESFORCE_{k.upper()}": v for k, v in SALESFORCE_DEFAULTS.items()}
    env.update({f"HUBSPOT_{k.upper()}": v for k, v in HUBSPOT_DEFAULTS.items()})
    return env


def provision(sandbox: Sandbox, connection: ConnectionConfig) -> None:
    """Create the output fields, as an admin would with ``leadscore provision``."""
    crm = open_crm(connection, environ=environ())
    try:
        crm.ensure_fields(output_specs(load_mapping(connection.mapping)))
    finally:
        crm.close()
    if connection.crm == "salesforce":
        sandbox.salesforce.enforce_field_security = False  # the admin granted access


def train(connection: ConnectionConfig, model_dir: Path) -> None:
    """Train a model on the CRM's closed leads, pulled through the connector."""
    mapping = load_mapping(connection.mapping)
    crm = open_crm(connection, environ=environ())
    try:
        records = [dict(r.values) for page in crm.pull_changed(None, mapping.input_fields())
                   for r in page.records]
    finally:
        crm.close()
    # Test-sized data: fewer closed leads than the product demands of a real org.
    train_model(records, mapping, model_dir=model_dir, force=True, min_closed=500, min_positive=40)


@dataclasses.dataclass
class Setup:
    """One CRM of a running sandbox, ready to sync."""

    sandbox: Sandbox
    crm_name: str
    connection: ConnectionConfig
    mapping: Mapping
    model_dir: Path

    def store(self):
        """The sandbox's store for this CRM (``stats()``, ``hidden_outcomes()``...)."""
        return getattr(self.sandbox, self.crm_name)

    def open(self):
        """A fresh, authenticated CRM client."""
        return open_crm(self.connection, environ=environ())

    def model(self):
        """The live model."""
        return load_model(self.model_dir)


def prepare(sandbox: Sandbox, crm: str, model_dir: Path, *, trained: Path | None = None,
            **overrides) -> Setup:
    """Provision ``crm`` in ``sandbox`` and train a model (or reuse the one in ``trained``)."""
    connection = connection_config(sandbox, crm, **overrides)
    provision(sandbox, connection)
    if trained is None:
        train(connection, model_dir)
    else:
        model_dir = trained
    return Setup(sandbox, crm, connection, load_mapping(connection.mapping), model_dir)


_TRAINED: dict[tuple[str, int], Path] = {}


def trained_model(crm: str, leads: int, directory: Path) -> Path:
    """A model for ``crm`` trained on ``small_bank(leads)``, trained once per test session (the
    same seed gives the same records, so every sandbox seeded alike can share it)."""
    key = (crm, leads)
    if key not in _TRAINED:
        with Sandbox(crms=(crm,), seed=small_bank(leads)) as box:
            connection = connection_config(box, crm)
            train(connection, directory / f"{crm}-{leads}")
        _TRAINED[key] = directory / f"{crm}-{leads}"
    return _TRAINED[key]


def sync(setup: Setup, state: StateStore, **options) -> RunSummary:
    """One sync of ``setup``'s connection through a freshly opened adapter (closed after)."""
    crm = setup.open()
    try:
        return run_sync(setup.connection, crm, setup.model(), setup.mapping, state, **options)
    finally:
        crm.close()


def crm_values(setup: Setup) -> dict[str, dict]:
    """Every record's mapped input and output values as the CRM holds them now."""
    fields = list(dict.fromkeys(setup.mapping.input_fields() + setup.mapping.output_fields()))
    crm = setup.open()
    try:
        return {r.id: dict(r.values) for page in crm.pull_changed(None, fields)
                for r in page.records}
    finally:
        crm.close()


def wrong_values(setup: Setup, values: dict[str, dict] | None = None) -> list[str]:
    """Ids of open leads whose output fields differ from what a clean run writes (the model
    applied to the lead's current inputs); ``scored_at`` is not compared."""
    from connector.sync.writeback import changed_fields, output_values, roles_by_field

    values = values if values is not None else crm_values(setup)
    model, mapping = setup.model(), setup.mapping
    roles = roles_by_field(mapping)
    open_ids = [i for i, v in values.items() if mapping.outcome_of(v) is None]
    leads = model.score([values[i] for i in open_ids])
    wrong = []
    for record_id, lead in zip(open_ids, leads):
        expected = output_values(lead, mapping, model_version=model.version,
                                 scored_at=datetime.now(UTC))
        if changed_fields(values[record_id], expected, roles):
            wrong.append(record_id)
    return wrong
