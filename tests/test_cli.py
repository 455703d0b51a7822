"""The ``consentry`` console script as an operator meets it."""

import subprocess
import sys
from pathlib import Path

import pytest

CONSENTRY = str(Path(sys.executable).parent / "consentry")


@pytest.mark.parametrize(
    "command", [["keys", "list"], ["keys", "create", "ops"], ["sites", "verify"]]
)
def test_a_data_dir_without_a_database_says_to_run_db_upgrade(tmp_path, command):
    env = {"PATH": "/usr/bin:/bin", "CONSENTRY_DATA_DIR": str(tmp_path / "fresh")}
    result = subprocess.run(
        [CONSENTRY, *command], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "Run `consentry db upgrade` first" in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2  # the message, maybe the key warning
