"""Lint: is the library clean for ruff (configured in lib/pyproject.toml: line length 100, pyflakes,
pycodestyle, isort, numpy-convention docstrings) and formatted as ruff formats it?"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import ROOT

RUFF = Path(sys.executable).parent / "ruff"


def _ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(RUFF), *args, "masem"], capture_output=True, text=True, cwd=ROOT / "lib")


def test_ruff_check_is_clean() -> None:
    done = _ruff("check", "--no-cache")
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_format_leaves_the_library_as_it_is() -> None:
    done = _ruff("format", "--check", "--no-cache")
    assert done.returncode == 0, done.stdout + done.stderr
