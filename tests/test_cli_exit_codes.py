"""The README's exit-code table, as a real process sees it: usage errors exit 2, no traceback."""

import subprocess
import sys

import pytest


def _leadscore(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "connector", *args], capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("args, said", [
    (("sync",), "Missing option '--connection'"),
    (("nosuch",), "No such command 'nosuch'"),
    (("status", "--bogus"), "No such option: --bogus"),
    (("sandbox", "--port", "notanumber"), "Invalid value for '--port'"),
])
def test_usage_errors_exit_2_without_a_traceback(args, said):
    done = _leadscore(*args)
    assert done.returncode == 2, done.stderr
    assert said in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_help_exits_0():
    done = _leadscore("sync", "--help")
    assert done.returncode == 0 and "--connection" in done.stdout
