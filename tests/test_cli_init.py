"""`leadscore init`: a commented config, the example mappings, and (sandbox) a .env."""

import dataclasses
import json
import signal
import subprocess
import sys
import tomllib

from connector.cli import main
from connector.config import load_config
from connector.mapping import load_mapping
from connector.sandbox import Sandbox
from connector.sandbox.seeding import load_bank


def test_init_writes_a_config_that_loads_and_mappings(tmp_path, capsys):
    assert main(["init", "--dir", str(tmp_path)]) == 0
    config = load_config(tmp_path / "leadscore.toml")
    assert set(config.connections) == {"salesforce", "hubspot"}
    assert config.connection("salesforce").auth == "jwt"
    assert (tmp_path / "mappings" / "salesforce-lead.yaml").is_file()
    text = (tmp_path / "leadscore.toml").read_text()
    assert "# " in text and "password" not in tomllib.loads(text)["connections"]["salesforce"]
    assert not (tmp_path / ".env").exists()


def test_init_sandbox_points_at_the_port_and_writes_secrets_only_to_env(tmp_path):
    assert main(["init", "--dir", str(tmp_path), "--sandbox", "--port", "9443"]) == 0
    config = load_config(tmp_path / "leadscore.toml")
    sf, hs = config.connection("salesforce"), config.connection("hubspot")
    assert sf.resolved_token_url == "https://127.0.0.1:9443/services/oauth2/token"
    assert hs.base_url == "http://127.0.0.1:9444"
    assert "sandbox-password" not in (tmp_path / "leadscore.toml").read_text()
    env = (tmp_path / ".env").read_text()
    assert "SALESFORCE_PASSWORD=sandbox-password" in env
    assert (tmp_path / ".env").stat().st_mode & 0o077 == 0
    assert sf.credentials().secret("password") == "sandbox-password"


def test_init_refuses_to_overwrite(tmp_path, capsys):
    assert main(["init", "--dir", str(tmp_path)]) == 0
    assert main(["init", "--dir", str(tmp_path)]) == 3
    assert "already exists" in capsys.readouterr().err
    assert main(["init", "--dir", str(tmp_path), "--force"]) == 0


def test_init_sandbox_reads_the_running_sandbox_and_starts_a_csv_seed_on_suggest(tmp_path):
    """`sandbox --port 0` picks free ports for both CRMs and writes its facts in its --dir;
    `init --sandbox` reads them, and for a CSV seed points the mappings where `mappings
    suggest` writes, which then reaches both emulators through that config."""
    csv = tmp_path / "leads.csv"
    csv.write_text("age,job,y\n" + "".join(
        f"{20 + i % 50},{('admin', 'student', 'retired')[i % 3]},{'yes' if i % 4 else 'no'}\n"
        for i in range(300)))
    box_dir = tmp_path / ".leadscore-sandbox"
    proc = subprocess.Popen([sys.executable, "-m", "connector", "sandbox", "--port", "0",
                             "--seed", str(csv), "--json", "--dir", str(box_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        facts = json.loads(proc.stdout.readline())
        assert (box_dir / "sandbox.json").stat().st_mode & 0o077 == 0
        assert main(["init", "--sandbox", "--dir", str(tmp_path)]) == 0
        config = load_config(tmp_path / "leadscore.toml")
        sf, hs = config.connection("salesforce"), config.connection("hubspot")
        assert sf.resolved_token_url == facts["salesforce"]["token_url"]
        assert hs.base_url == facts["hubspot"]["base_url"]
        assert sf.ca_file == box_dir.resolve() / "tls" / "sandbox-ca.pem"
        for crm in ("salesforce", "hubspot"):
            assert config.connection(crm).mapping == tmp_path / "mappings" / f"suggested-{crm}.yaml"
            assert main(["mappings", "suggest", "-c", crm, "--config",
                         str(tmp_path / "leadscore.toml")]) == 0
            assert {f.field.lower().removesuffix("__c") for f in
                    load_mapping(config.connection(crm).mapping).features} >= {"age", "job"}
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 0
    assert not (box_dir / "sandbox.json").exists()  # gone with the sandbox


def test_init_sandbox_with_the_bank_seed_keeps_the_demo_mappings(tmp_path):
    bank = load_bank()
    small = dataclasses.replace(bank, rows=bank.rows[:200])
    with Sandbox(seed=small, directory=tmp_path / ".leadscore-sandbox") as box:
        assert main(["init", "--sandbox", "--dir", str(tmp_path)]) == 0
        config = load_config(tmp_path / "leadscore.toml")
        assert config.connection("hubspot").base_url == box.info["hubspot"]["base_url"]
        assert config.connection("salesforce").mapping.name == "bank-demo-salesforce.yaml"


def test_init_sandbox_port_0_needs_a_running_sandbox(tmp_path, capsys):
    assert main(["init", "--sandbox", "--port", "0", "--dir", str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert "--port 0: no running sandbox" in err and "leadscore sandbox --port 0" in err
