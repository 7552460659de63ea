"""`leadscore init`: a commented config, the example mappings, and (sandbox) a .env."""

import tomllib

from connector.cli import main
from connector.config import load_config


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
