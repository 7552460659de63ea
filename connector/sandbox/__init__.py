"""Local emulators of the Salesforce REST and HubSpot CRM v3 APIs, for tests, benchmarks and demos.

``Sandbox`` starts both (or one) on 127.0.0.1: Salesforce over TLS with a throwaway CA, HubSpot
over plain HTTP, as the unmodified SDK clients expect; ``hubspot_tls=True`` serves HubSpot over
TLS too, with a certificate from the same CA (``info["hubspot"]["ca_file"]``, an ``https://``
``base_url``). Use it as a context manager::

    with Sandbox(seed="bank") as sandbox:
        sandbox.info["salesforce"]["token_url"]
        sandbox.salesforce.hidden_outcomes()

With ``port=N`` Salesforce listens on N and HubSpot on N+1; ``port=0`` picks free ports. While
it runs, ``FACTS_FILE`` in its directory holds its ports, CA file, throwaway credentials and
what it was seeded with, for ``leadscore init --sandbox`` to read.
``session_lifetime_s`` is the Salesforce session timeout, counted from a session's last activity
(Salesforce's inactivity timeout), not from its issue.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from connector.sandbox.faults import FaultPlan
from connector.sandbox.hubspot_ratelimit import RateLimits
from connector.sandbox.seeding import SeedData, bank_csv_path, load_bank, load_csv
from connector.sandbox.server import ServerThread, ensure_tls_files, write_private

SALESFORCE_DEFAULTS = {
    "username": "admin@sandbox.leadscore.dev",
    "password": "sandbox-password",
    "security_token": "sandbox-token",
    "consumer_key": "sandbox-consumer-key",
    "consumer_secret": "sandbox-consumer-secret",
}
HUBSPOT_DEFAULTS = {"access_token": "sandbox-hubspot-token"}
CRMS = ("salesforce", "hubspot")
SANDBOX_DIR = ".leadscore-sandbox"
"""Default folder (relative to the working directory) of a long-running sandbox's CA and keys."""
FACTS_FILE = "sandbox.json"
"""The running sandbox's facts in its directory (see :meth:`Sandbox.facts`); removed at stop."""

__all__ = ["Sandbox", "SALESFORCE_DEFAULTS", "HUBSPOT_DEFAULTS", "CRMS", "SANDBOX_DIR",
           "FACTS_FILE"]


def _seed_data(seed: str | Path | SeedData | None) -> SeedData | None:
    if seed is None or seed == "none":
        return None
    if isinstance(seed, SeedData):
        return seed
    if seed == "bank":
        return load_bank()
    return load_csv(Path(seed))


class Sandbox:
    """Both CRM emulators in this process, each on its own loopback port, until :meth:`stop`."""

    def __init__(self, *, crms: tuple[str, ...] = CRMS, port: int = 0,
                 seed: str | Path | SeedData | None = None, latency_ms: float = 0.0,
                 jitter_ms: float = 0.0, faults: str = "", hubspot_tier: str = "professional",
                 daily_api_limit: int = 100_000, session_lifetime_s: float = 7200.0,
                 directory: Path | None = None, hubspot_tls: bool = False) -> None:
        unknown = set(crms) - set(CRMS)
        if unknown or not crms:
            raise ValueError(f"unknown CRM {sorted(unknown)}; choose from {', '.join(CRMS)}")
        self.crms, self.port = tuple(crms), port
        self.plan = FaultPlan.parse(faults, latency_ms=latency_ms, jitter_ms=jitter_ms)
        RateLimits.for_tier(hubspot_tier)  # an unknown tier fails here, before any seeding
        self._seed = seed
        self._options = {"hubspot_tier": hubspot_tier, "daily_api_limit": daily_api_limit,
                         "session_lifetime_s": session_lifetime_s, "hubspot_tls": hubspot_tls}
        # A given directory keeps the CA and JWT key across runs (so a config written by
        # `leadscore init --sandbox` stays valid); without one, a temporary directory is used.
        self._keep_directory = directory is not None
        self.directory: Path | None = Path(directory) if directory is not None else None
        self.salesforce = None
        self.hubspot = None
        self._servers: dict[str, ServerThread] = {}
        self.info: dict[str, dict] = {}
        self.seeded: dict[str, str | None] = {"kind": "none", "source": None}

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Sandbox:
        """Create the stores, seed them, and start serving. Returns ``self``."""
        if self.directory is None:
            self.directory = Path(tempfile.mkdtemp(prefix="leadscore-sandbox-"))
        try:
            data = _seed_data(self._seed)
            if data is not None:
                bank = data.source == str(bank_csv_path())
                self.seeded = {"kind": "bank" if bank else "csv", "source": data.source}
            next_port = self.port
            if "salesforce" in self.crms:
                self._start_salesforce(next_port, data)
                next_port = next_port + 1 if next_port else 0
            if "hubspot" in self.crms:
                self._start_hubspot(next_port, data)
            self.directory.mkdir(parents=True, exist_ok=True)  # a HubSpot-only run makes no CA
            write_private(self.directory / FACTS_FILE, json.dumps(self.facts(), indent=1).encode())
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every server and delete the sandbox's temporary files."""
        for server in self._servers.values():
            server.stop()
        self._servers.clear()
        if self.directory is not None:
            facts = self.directory / FACTS_FILE
            try:
                if json.loads(facts.read_text(encoding="utf-8")).get("pid") == os.getpid():
                    facts.unlink()  # ours (another sandbox may have started in this folder since)
            except (OSError, ValueError):
                pass
        if self.directory is not None and not self._keep_directory:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- faults ----------------------------------------------------------------------------------

    def set_faults(self, spec: str, *, latency_ms: float | None = None,
                   jitter_ms: float | None = None) -> None:
        """Replace the fault plan while running (random draws restart from the spec's seed)."""
        self.plan = FaultPlan.parse(
            spec, latency_ms=self.plan.latency_ms if latency_ms is None else latency_ms,
            jitter_ms=self.plan.jitter_ms if jitter_ms is None else jitter_ms)

    def _plan(self) -> FaultPlan:
        return self.plan

    # -- the two emulators -------------------------------------------------------------------------

    def _start_salesforce(self, port: int, data: SeedData | None) -> None:
        from connector.sandbox.salesforce_api import build_app
        from connector.sandbox.salesforce_auth import JWTKeyPair, make_jwt_keypair
        from connector.sandbox.salesforce_org import SalesforceOrg

        tls = ensure_tls_files(self.directory / "tls")
        jwt_dir = self.directory / "jwt"
        jwt = JWTKeyPair(jwt_dir / "jwt-private-key.pem", jwt_dir / "jwt-cert.pem")
        if not (jwt.key_file.is_file() and jwt.cert_file.is_file()):
            jwt = make_jwt_keypair(jwt_dir)
        jwt.key_file.chmod(0o600)  # a key written by an older version may be wider
        self.salesforce = SalesforceOrg(
            daily_api_limit=self._options["daily_api_limit"],
            session_lifetime_s=self._options["session_lifetime_s"],
            jwt_cert_file=jwt.cert_file, **SALESFORCE_DEFAULTS)
        if data is not None:
            self.salesforce.seed(data)
        server = ServerThread(build_app(self.salesforce, plan_of=self._plan), port=port,
                              tls=tls, name="salesforce")
        self._servers["salesforce"] = server.start()
        self.salesforce.instance_url = server.base_url
        self.info["salesforce"] = {
            "instance_url": server.base_url,
            "token_url": f"{server.base_url}/services/oauth2/token",
            **SALESFORCE_DEFAULTS,
            "ca_file": str(tls.ca_file),
            "jwt_private_key_file": str(jwt.key_file),
            "jwt_cert_file": str(jwt.cert_file),
            "api_version": self.salesforce.api_version,
            "admin_url": f"{server.base_url}/__sandbox",
        }

    def _start_hubspot(self, port: int, data: SeedData | None) -> None:
        from connector.sandbox.hubspot_api import build_app
        from connector.sandbox.hubspot_portal import HubSpotPortal

        self.hubspot = HubSpotPortal(tier=self._options["hubspot_tier"], **HUBSPOT_DEFAULTS)
        if data is not None:
            self.hubspot.seed(data)
        # The same CA as the Salesforce side: one ca_file trusts both emulators.
        tls = ensure_tls_files(self.directory / "tls") if self._options["hubspot_tls"] else None
        server = ServerThread(build_app(self.hubspot, plan_of=self._plan), port=port,
                              tls=tls, name="hubspot")
        self._servers["hubspot"] = server.start()
        self.info["hubspot"] = {
            "base_url": server.base_url,
            **HUBSPOT_DEFAULTS,
            "ca_file": str(tls.ca_file) if tls else None,
            "tier": self._options["hubspot_tier"],
            "admin_url": f"{server.base_url}/__sandbox",
        }

    def facts(self) -> dict:
        """What a client needs to reach this sandbox: :attr:`info` per CRM with absolute file
        paths, what it was seeded with (``kind``: ``bank``, ``csv`` or ``none``) and its pid.
        Its credentials are the sandbox's own throwaway ones."""
        crms = {crm: {key: str(Path(value).resolve()) if key.endswith("_file") and value else value
                      for key, value in facts.items()} for crm, facts in self.info.items()}
        return {"pid": os.getpid(), "seed": self.seeded, **crms}

    def info_json(self) -> str:
        """``info`` as one line of JSON (what ``leadscore sandbox --json`` prints first)."""
        return json.dumps(self.info, sort_keys=True)
