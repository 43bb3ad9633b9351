"""The README's walkthrough, pasted as one block into bash against a real server, works."""

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.settings import Settings
from tests.conftest import OPERATOR_KEY
from tests.live import serve

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def walkthrough() -> str:
    """The first bash block of the README's walkthrough section."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Five-minute walkthrough", 1)[1]
    found = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert found is not None
    return found.group(1)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("readme") / "data"
    with serve(Settings(data_dir=data, operator_key=OPERATOR_KEY, parse_isolation="thread")) as url:
        yield url


def test_the_walkthrough_runs_as_pasted(live: str) -> None:
    script = walkthrough()
    assert script.count("OP=ek_...") == 1
    assert script.count("URL=http://127.0.0.1:8000") == 1
    script = script.replace("OP=ek_...", f"OP={OPERATOR_KEY}")
    script = script.replace("URL=http://127.0.0.1:8000", f"URL={live}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENCLAVE_")}
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert '{"status":"done","progress":{"total":1,"done":1,"failed":0}}' in done.stdout
    assert "parental leave" in done.stdout.lower()
    assert "search " in done.stdout  # the CLI's last line names the search it recorded
