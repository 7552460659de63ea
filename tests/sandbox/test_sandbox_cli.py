"""`leadscore sandbox`: foreground process, JSON facts on the first line, clean stop."""

import json
import random
import signal
import subprocess
import sys

import requests

from connector.cli import main

KEYS = {
    "salesforce": {"instance_url", "token_url", "username", "password", "security_token",
                   "consumer_key", "consumer_secret", "ca_file"},
    "hubspot": {"base_url", "access_token", "ca_file"},
}


def test_sandbox_json_first_line_then_serves_until_interrupted(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector", "sandbox", "--seed", "bank", "--json",
         "--dir", str(tmp_path / "sb")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        facts = json.loads(proc.stdout.readline())
        for crm, keys in KEYS.items():
            assert keys <= set(facts[crm])
        sf, hs = facts["salesforce"], facts["hubspot"]
        assert sf["username"] == "admin@sandbox.leadscore.dev" and hs["ca_file"] is None
        assert hs["access_token"] == "sandbox-hubspot-token"
        session = requests.Session()
        session.trust_env = False
        session.verify = sf["ca_file"]
        token = session.post(sf["token_url"], data={
            "grant_type": "password", "client_id": sf["consumer_key"],
            "client_secret": sf["consumer_secret"], "username": sf["username"],
            "password": sf["password"] + sf["security_token"]}, timeout=10)
        assert token.status_code == 200 and token.json()["instance_url"] == sf["instance_url"]
        contacts = session.get(f"{hs['base_url']}/crm/v3/objects/contacts?limit=2", timeout=10,
                               headers={"Authorization": f"Bearer {hs['access_token']}"})
        assert contacts.status_code == 200 and len(contacts.json()["results"]) == 2
        session.close()
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 0
    assert (tmp_path / "sb" / "tls" / "sandbox-ca.pem").is_file()  # kept for the next run


def test_sandbox_bad_arguments_exit_3_with_one_line(tmp_path, capsys):
    assert main(["sandbox", "--faults", "teapot:1", "--seed", "none"]) == 3
    assert "--faults" in capsys.readouterr().err
    assert main(["sandbox", "--seed", str(tmp_path / "missing.csv")]) == 3
    assert "cannot read seed file" in capsys.readouterr().err
    assert main(["sandbox", "--seed", "none", "--hubspot-tier", "bogus"]) == 3
    assert "unknown HubSpot tier 'bogus'" in capsys.readouterr().err


def test_bad_seed_files_are_one_line_naming_row_and_column(tmp_path, capsys):
    big = tmp_path / "big.csv"
    big.write_text("n,note,y\n" + "".join(
        f"{i},{'x' * 1_000_000 if i == 3 else 'a'},no\n" for i in range(6)))
    latin = tmp_path / "latin.csv"
    latin.write_bytes("n,town,y\n1,Orléans,no\n".encode("latin-1"))
    huge = tmp_path / "huge.csv"  # a number no Number(18, 0) field can hold
    huge.write_text("n,amount,y\n" + "".join(f"{i},{10 ** 25 + i},no\n" for i in range(6)))
    for path, said in ((big, "line 5, column 'note': a value of 1,000,000 characters"),
                       (latin, "line 2, column 'town': not UTF-8"),
                       (huge, "--seed: data row 1: Amount: value outside of valid range")):
        assert main(["sandbox", "--seed", str(path), "--dir", str(tmp_path / "sb")]) == 3
        err = capsys.readouterr().err
        assert said in err and "--hubspot-tier" not in err and "Traceback" not in err
        assert len(err.splitlines()) == 2 and len(err) < 700  # the error and its hint


def _free_port_pair() -> int:
    """A port free together with the next one (the sandbox serves HubSpot on ``port + 1``),
    below Linux's ephemeral range: a port the system picked for us lies inside it, where a
    client connection of a concurrent test can take ``port + 1`` before the sandbox does."""
    from connector.sandbox.server import bind_socket
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20_000, 32_000)
        probes = []
        try:
            for candidate in (port, port + 1):
                probes.append(bind_socket(candidate))
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
        return port
    raise RuntimeError("no two consecutive free ports between 20000 and 32000")


def test_sandbox_serves_on_the_port_asked_for(tmp_path):
    port = _free_port_pair()
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector", "sandbox", "--seed", "none", "--json", "--port",
         str(port), "--dir", str(tmp_path / "sb")], stdout=subprocess.PIPE, text=True)
    try:
        facts = json.loads(proc.stdout.readline())
        assert facts["salesforce"]["instance_url"] == f"https://127.0.0.1:{port}"
        assert facts["hubspot"]["base_url"] == f"http://127.0.0.1:{port + 1}"
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 0


def test_init_and_sandbox_with_hubspot_over_tls(tmp_path):
    """`init --sandbox --hubspot-tls` and `sandbox --hubspot-tls` agree: the HubSpot connection
    reaches the emulator over https, trusting the sandbox's CA through the config's ca_file."""
    from connector.config import load_config
    from connector.crm import open_crm
    port = _free_port_pair()
    assert main(["init", "--dir", str(tmp_path), "--sandbox", "--port", str(port),
                 "--hubspot-tls"]) == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector", "sandbox", "--seed", "none", "--json", "--port",
         str(port), "--hubspot-tls"], stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        facts = json.loads(proc.stdout.readline())
        assert facts["hubspot"]["base_url"] == f"https://127.0.0.1:{port + 1}"
        assert facts["hubspot"]["ca_file"] == facts["salesforce"]["ca_file"]
        connection = load_config(tmp_path / "leadscore.toml").connection("hubspot")
        assert connection.base_url == facts["hubspot"]["base_url"]
        crm = open_crm(connection)
        try:
            assert "email" in {field.name for field in crm.describe().fields.values()}
        finally:
            crm.close()
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 0


def test_private_keys_are_readable_by_their_owner_only(tmp_path):
    from connector.sandbox import Sandbox
    keys = (tmp_path / "sb" / "jwt" / "jwt-private-key.pem",
            tmp_path / "sb" / "tls" / "server-key.pem")
    with Sandbox(crms=("salesforce",), directory=tmp_path / "sb"):
        assert [key.stat().st_mode & 0o777 for key in keys] == [0o600, 0o600]
    for key in keys:  # as an older version left them
        key.chmod(0o644)
    with Sandbox(crms=("salesforce",), directory=tmp_path / "sb"):
        assert [key.stat().st_mode & 0o777 for key in keys] == [0o600, 0o600]
