"""leadscore: predictive lead scores written back into Salesforce and HubSpot.

The library surface below is what scripts and notebooks may rely on; the ``leadscore`` command
line (:mod:`connector.cli`) is built on the same calls. A test pins this list.
"""

from connector.config import Config, ConnectionConfig, load_config
from connector.crm import CRM, available_crms, get_crm, open_crm
from connector.errors import LeadscoreError
from connector.mapping import Mapping, load_mapping
from connector.model import load_model, restore_model, train_model
from connector.sandbox import Sandbox
from connector.state import StateStore
from connector.sync.engine import RunSummary, run_sync

__version__ = "0.1.0"

__all__ = [
    "CRM",
    "Config",
    "ConnectionConfig",
    "LeadscoreError",
    "Mapping",
    "RunSummary",
    "Sandbox",
    "StateStore",
    "__version__",
    "available_crms",
    "get_crm",
    "load_config",
    "load_mapping",
    "load_model",
    "open_crm",
    "restore_model",
    "run_sync",
    "train_model",
]
