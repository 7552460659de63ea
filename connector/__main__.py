"""``python -m connector`` runs the ``leadscore`` command line."""

import sys

from connector.cli import main

sys.exit(main())
