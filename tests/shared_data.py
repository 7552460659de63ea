"""The one way tests reach ``../shared`` (public data sets, vendor specs).

The core suite never needs it; tests that do call :func:`shared_path`, which skips them with a
clear reason when the folder is absent (a clone without the shared checkout beside it).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# ``LEADSCORE_SHARED_DIR`` points elsewhere (a git worktree sits beside other worktrees, not
# beside shared/).
SHARED = Path(os.environ.get("LEADSCORE_SHARED_DIR")
              or Path(__file__).resolve().parents[1].parent / "shared")


def shared_path(*parts: str) -> Path:
    """Path of ``../shared/<parts>``, or skip the calling test when it is not there."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: this test needs the shared/ folder beside the project")
    return path
