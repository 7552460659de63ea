"""Fixtures for the model tests (data from leadsynth)."""

from __future__ import annotations

import pytest
from leadsynth import make_leads, make_mapping

from connector.mapping import Mapping


@pytest.fixture(scope="session")
def leads() -> list[dict]:
    """2,400 leads, the newest 10% open."""
    return make_leads(2400, open_share=0.1)


@pytest.fixture()
def mapping() -> Mapping:
    """The synthetic leads' mapping."""
    return make_mapping()
