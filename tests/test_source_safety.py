"""Does the library parse user text instead of running it, and keep randomness explicit?

Questions answered (issue 7, by reading the source with ``ast``, so no code path can hide it):
- no ``eval``, ``exec``, ``compile`` or ``__import__`` call, no ``DataFrame.eval`` / ``.query`` (which
  evaluate strings), and no ``pickle`` / ``marshal`` / ``shelve`` / ``dill`` / ``joblib.load`` /
  ``numpy.load(allow_pickle=True)``: model syntax and CSV files are parsed, never evaluated, and
  nothing is unpickled;
- no use of numpy's global random state (``np.random.seed``, ``np.random.normal``, ...) or of the
  ``random`` module: every draw goes through a seeded ``numpy.random.Generator``.
The scan covers the package, the scripts and the benchmarks.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import ROOT

SOURCES = sorted(
    p for folder in ("lib/masem", "scripts", "benchmarks") for p in (ROOT / folder).rglob("*.py")
)
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}
FORBIDDEN_METHODS = {"query", "eval"}  # pandas evaluates their string argument
FORBIDDEN_MODULES = {"pickle", "cPickle", "marshal", "shelve", "dill", "cloudpickle", "random"}
# numpy.random attributes that create explicit generators; everything else is the global state.
EXPLICIT_RANDOM = {"default_rng", "Generator", "SeedSequence", "PCG64", "BitGenerator"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def problems(path: Path, root: Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        where = f"{path.relative_to(root)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            found += [f"{where} imports {a.name}" for a in node.names if a.name.split(".")[0] in FORBIDDEN_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in FORBIDDEN_MODULES:
            found.append(f"{where} imports from {node.module}")
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name in FORBIDDEN_CALLS:
                found.append(f"{where} calls {name}()")
            elif isinstance(node.func, ast.Attribute) and node.func.attr in FORBIDDEN_METHODS:
                found.append(f"{where} calls .{node.func.attr}() (evaluates a string)")
            elif name in {"joblib.load", "np.load", "numpy.load"}:
                pickled = any(k.arg == "allow_pickle" for k in node.keywords) or name == "joblib.load"
                if pickled:
                    found.append(f"{where} may unpickle with {name}()")
        elif isinstance(node, ast.Attribute):
            name = _dotted(node)
            parts = name.split(".")
            if len(parts) == 3 and parts[0] in {"np", "numpy"} and parts[1] == "random" and parts[2] not in EXPLICIT_RANDOM:
                found.append(f"{where} uses the global random state ({name})")
    return found


def test_there_is_source_to_scan() -> None:
    assert len(SOURCES) > 10


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_evaluation_unpickling_or_global_random_state(path: Path) -> None:
    assert not problems(path)


def test_the_scanner_catches_what_it_should(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import pickle\nimport numpy as np\nx = eval('1')\nnp.random.seed(1)\n"
        "df.query('a > 1')\ny = np.load('f.npy', allow_pickle=True)\n",
        encoding="utf-8",
    )
    found = problems(bad, root=tmp_path)
    assert len(found) == 5, found
