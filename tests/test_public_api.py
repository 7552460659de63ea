"""The library's public surface is deliberate: adding or removing a name is a visible change."""

import importlib.metadata

import connector


def test_public_names_are_pinned():
    assert sorted(connector.__all__) == [
        "CRM", "Config", "ConnectionConfig", "LeadscoreError", "Mapping", "RunSummary",
        "Sandbox", "StateStore", "__version__", "available_crms", "get_crm", "load_config",
        "load_mapping", "load_model", "open_crm", "restore_model", "run_sync", "train_model"]
    assert all(hasattr(connector, name) for name in connector.__all__)


def test_version_matches_the_distribution_and_crms_are_registered():
    assert connector.__version__ == importlib.metadata.version("leadscore")
    assert connector.available_crms() == ["hubspot", "salesforce"]
