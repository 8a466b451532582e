"""The whole suite collects every test directory.

pytest skips directories named ``build`` by default, which once kept the
builder's ~760 tests out of ``make test`` without anyone noticing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_test_directory_is_collected() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=True,
    ).stdout
    collected = {line.split("::", 1)[0].rsplit("/", 1)[0] for line in listed.splitlines()
                 if "::" in line}
    on_disk = {str(path.parent.relative_to(REPO)) for path in (REPO / "tests").rglob("test_*.py")}
    assert on_disk - collected == set()
