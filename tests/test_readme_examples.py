"""Every example in the project's READMEs runs as written, in order, on a fresh clone.

Questions answered:

- test_python_examples_run: for each README with ```python blocks, do the blocks run one after
  another in one interpreter (a block may use what earlier ones defined), from the project root's
  point of view, without an error or a warning?
- test_cheap_shell_examples_run: does each ```bash block whose every command is cheap (copying the
  template, ``masem validate``, ``masem run``, ``masem --help``) exit 0?
- test_every_shell_block_is_run_or_excused: is every other shell block listed in ``NOT_RUN`` with
  the reason it is not run here (it is the test command itself, a conda install, ...), so that a new
  example cannot escape unnoticed?

The examples run in a temporary folder that holds links to the project's data/, models/ and
.venv, so whatever they write (a copied template, an output folder) stays out of the clone.
Shell blocks run with .venv/bin first on PATH, as after ``source .venv/bin/activate``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow

READMES = sorted(
    p for p in ROOT.rglob("README.md")
    if not any(part in (".venv", "node_modules", ".pytest_cache") or part.startswith(".") for part in p.relative_to(ROOT).parts)
)
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
LINKED = ("data", "models", ".venv")  # read by the examples; nothing they write lands in the clone

# A shell command is cheap when it starts with one of these (after `.venv/bin/` is stripped).
CHEAP = ("cp -r data/template", "masem validate", "masem run", "masem --help", "masem --version",
         "python -m masem", "cd ")

# Shell blocks that are not run here, with the reason (README path, first command -> reason).
NOT_RUN = {
    ("README.md", "make report"): "the test command itself and the full study; CI runs make test",
    ("README.md", "conda env create -f environment.yml"): "needs conda, which the project does not install",
    ("benchmarks/README.md", "make bench"): "the benchmarks take minutes; make bench runs them",
    ("data/README.md", "make data"): "regenerates data/ (checked byte for byte by tests/test_make_data.py)",
    ("tests/reference/README.md", 'python scripts/sync_reference.py --from "$SHARED/reference"'):
        "needs the team's shared reference set, which lies outside the project; tests/test_reference_manifest.py checks the copy",
    ("tests/reference_model_syntax/README.md", "Rscript generate.R > expected.json"):
        "needs R with lavaan 0.6-14 and OpenMx; the tests read the committed JSON, never R",
}

# Python blocks that need a service the test machine cannot offer (none: the Dask example of
# benchmarks/README.md runs on a local cluster).
PYTHON_NOT_RUN: dict[tuple[str, str], str] = {}


def _blocks(readme: Path) -> list[tuple[str, int, str]]:
    """(language, line number, code) of every fenced block."""
    text = readme.read_text(encoding="utf-8")
    return [
        (m.group(1).lower(), text.count("\n", 0, m.start()) + 1, m.group(2))
        for m in FENCE.finditer(text)
    ]


def _rel(readme: Path) -> str:
    return str(readme.relative_to(ROOT))


def _first_command(code: str) -> str:
    return _commands(code)[0]


def _commands(code: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", code)
    return [line.split("#")[0].strip() for line in joined.splitlines() if line.split("#")[0].strip()]


def _is_cheap(code: str) -> bool:
    return all(c.removeprefix(".venv/bin/").startswith(CHEAP) for c in _commands(code))


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    for name in LINKED:
        if (ROOT / name).exists():
            (tmp_path / name).symlink_to(ROOT / name, target_is_directory=True)
    return tmp_path


def _env() -> dict:
    env = {**os.environ, "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


RUNNER = r"""
import json, sys, traceback, warnings
import masem
warnings.simplefilter("error")
# masem's notes on the numbers (a tau2 at its bound, ...) are what a user sees; any other warning fails.
warnings.simplefilter("always", masem.ConvergenceWarning)
blocks = json.loads(sys.stdin.read())
namespace = {"__name__": "__main__"}
for where, code in blocks:
    try:
        exec(compile(code, where, "exec"), namespace)
    except BaseException:
        print(f"FAILED {where}", file=sys.stderr)
        traceback.print_exc()
        sys.exit(1)
    print(f"ok {where}")
"""

PYTHON_READMES = [r for r in READMES if any(lang == "python" for lang, _, _ in _blocks(r))]


@pytest.mark.parametrize("readme", PYTHON_READMES, ids=_rel)
def test_python_examples_run(readme: Path, sandbox: Path) -> None:
    blocks = [
        (f"{_rel(readme)}:{line}", code)
        for lang, line, code in _blocks(readme)
        if lang == "python" and (_rel(readme), _first_command(code)) not in PYTHON_NOT_RUN
    ]
    result = subprocess.run(
        [sys.executable, "-c", RUNNER], input=json.dumps(blocks), capture_output=True, text=True,
        cwd=sandbox, env=_env(), timeout=600,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr[-4000:]}"
    assert result.stdout.count("ok ") == len(blocks)


SHELL = [
    (readme, line, code)
    for readme in READMES
    for lang, line, code in _blocks(readme)
    if lang in ("bash", "sh", "shell", "console")
]


@pytest.mark.parametrize(
    "readme,line,code", [b for b in SHELL if _is_cheap(b[2])], ids=lambda v: _rel(v) if isinstance(v, Path) else str(v)
)
def test_cheap_shell_examples_run(readme: Path, line: int, code: str, sandbox: Path) -> None:
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", code], capture_output=True, text=True, cwd=sandbox, env=_env(),
        timeout=600,
    )
    assert result.returncode == 0, f"{_rel(readme)}:{line}\n{result.stdout}\n{result.stderr[-4000:]}"


def test_every_shell_block_is_run_or_excused() -> None:
    loose = [
        (_rel(readme), line, _first_command(code))
        for readme, line, code in SHELL
        if not _is_cheap(code) and (_rel(readme), _first_command(code)) not in NOT_RUN
    ]
    assert not loose, f"shell examples neither run by this test nor listed in NOT_RUN with a reason: {loose}"
    present = {(_rel(r), _first_command(c)) for r, _, c in SHELL}
    present |= {(_rel(r), _first_command(c)) for r in READMES for lang, _, c in _blocks(r) if lang == "python"}
    stale = [key for key in (*NOT_RUN, *PYTHON_NOT_RUN) if key not in present]
    assert not stale, f"NOT_RUN lists blocks that no README has any more: {stale}"


def test_every_block_names_its_language() -> None:
    """A fence without a language would be neither run nor excused: every block must say what it is."""
    unnamed = [(_rel(r), line) for r in READMES for lang, line, _ in _blocks(r) if not lang]
    assert not unnamed, f"code blocks without a language (```python, ```bash, ```text, ...): {unnamed}"
