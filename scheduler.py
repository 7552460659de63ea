"""The long-running leadscore process: ``python scheduler.py [--config leadscore.toml]``.

The same as ``leadscore run``: per connection the hourly sync, the new-leads job and weekly
retraining (see :mod:`connector.sync.schedule`). SIGTERM/SIGINT finish the batch in flight and exit 0.
Errors and exit codes go through the CLI's one exit door.
"""

from __future__ import annotations

import sys

from connector.cli import main
from connector.cli import sync_cmd  # noqa: F401  (registers `run`)

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
