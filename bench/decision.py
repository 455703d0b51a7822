"""What the decision benchmarks share: the banner's request, and a fresh data dir to serve it."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# Nothing answers here: events stay in the spool.
UNREACHABLE_CLICKHOUSE = "http://127.0.0.1:9"

# The body and headers a banner sends for one decision.
BODY = {
    "site": "demo",
    "choices": {"preferences": True, "analytics": False, "marketing": True},
    "lifetime": "persistent",
    "policy_version": "2026-11-01",
    "language": "en",
    "page": "/pricing",
}
HEADERS = {
    "Content-Type": "application/json",
    "Origin": "http://localhost:5173",
    "X-Country-Code": "DE",
}


def fresh_data_dir(prefix: str, *upgrade_options: str) -> tuple[Path, dict[str, str]]:
    """Make a scratch dir with a migrated data dir in it; return it and the server's env."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    env = {
        **os.environ,
        "CONSENTRY_DATA_DIR": str(work / "data"),
        "CONSENTRY_SECRET_KEYS": "bench-signing-key-0123456789abcdef",
    }
    subprocess.run(
        [str(BIN / "consentry"), "db", "upgrade", *upgrade_options],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return work, env
