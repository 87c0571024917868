"""The architecture of lib/masem (docs/architecture.md): does every import keep the rules?

- test_layers_and_independence: the layer contract of lib/pyproject.toml ([tool.importlinter]):
  errors and the helpers at the bottom, then data, effects and the likelihood-ratio protocol, then
  meta and model, then tssem and osmasem, then study, then plots and report, then the command on
  top; a module imports only from its own layer's package or from layers below, and the packages
  of a layer do not import each other. Checked with import-linter (the ecosystem's tool) and, so
  that the rule holds without it, by the same reading of the source here.
- test_no_import_cycle: no cycle among the modules of masem (imports for type checking aside).
- test_private_names_stay_in_their_package: a private name (``_x``, or anything from a module
  ``_x``) is imported only inside the package that holds it.
- test_import_masem_stays_light: ``import masem`` loads no plotting, report or SEM-parsing package
  (matplotlib, seaborn, graphviz, nbconvert, semopy, statsmodels).
- test_functions_are_short: no function of the library is over 80 lines of code.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from conftest import ROOT

LIB = ROOT / "lib"
PACKAGE = LIB / "masem"
MAX_CODE_LINES = 80
HEAVY = ("matplotlib", "seaborn", "graphviz", "nbconvert", "nbformat", "nbclient", "semopy", "statsmodels", "sklearn")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(LIB).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _resolve(module: str, level: int, here: str) -> str:
    if level == 0:
        return module
    base = here.split(".")
    base = base if _is_package(here) else base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def imports(name: str) -> list[tuple[str, str | None, int]]:
    """(module imported, name imported from it or None, line) of every masem import of a module,
    those inside functions included and those under ``if TYPE_CHECKING`` left out."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    skip = {id(n) for node in ast.walk(tree) if _type_checking(node) for n in ast.walk(node)}
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(alias.name, None, node.lineno) for alias in node.names if alias.name.startswith("masem")]
        elif isinstance(node, ast.ImportFrom):
            module = _resolve(node.module or "", node.level, name)
            if module.split(".")[0] != "masem":
                continue
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                out.append((sub, None, node.lineno) if sub in MODULES else (module, alias.name, node.lineno))
    return out


def _contract() -> list[list[str]]:
    config = tomllib.loads((LIB / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    return [[p.strip() for p in layer.split("|")] for layer in layers]


def _owner(module: str, packages: dict[str, int]) -> str | None:
    """The layer package a module belongs to (the longest listed prefix), if any."""
    for package in sorted(packages, key=len, reverse=True):
        if module == package or module.startswith(package + "."):
            return package
    return None


def test_layers_and_independence() -> None:
    layers = _contract()
    rank = {package: i for i, layer in enumerate(layers) for package in layer}  # 0 = top
    assert set(rank) >= {"masem.data", "masem.effects", "masem.meta", "masem.model", "masem.tssem",
                         "masem.osmasem", "masem.study", "masem.plots", "masem.report", "masem._util", "masem._linalg", "masem._format",
                         "masem.errors"}
    broken = []
    for name in MODULES:
        mine = _owner(name, rank)
        if mine is None:
            continue  # the package facade (masem/__init__.py) and __main__ sit above the layers
        for target, _, line in imports(name):
            theirs = _owner(target, rank)
            if theirs is None or theirs == mine:
                continue
            if rank[theirs] < rank[mine] or rank[theirs] == rank[mine]:
                broken.append(f"{name}:{line} imports {target} ({theirs} is not below {mine})")
    assert not broken, "\n".join(broken)


@pytest.mark.skipif(shutil.which("lint-imports", path=str(Path(sys.executable).parent)) is None,
                    reason="import-linter is not installed (pip install -e 'lib[dev]')")
def test_import_linter_keeps_the_contract() -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--config", str(LIB / "pyproject.toml"), "--no-cache"],
        capture_output=True, text=True, cwd=LIB,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_import_cycle() -> None:
    graph = {name: {target for target, _, _ in imports(name)} & set(MODULES) for name in MODULES}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for module in sorted(MODULES):
        if module not in state and (cycle := visit(module)):
            pytest.fail("import cycle: " + " -> ".join(cycle))


def _scope(module: str, name: str | None) -> str | None:
    """The package a private name belongs to, or None for a public one.

    A name ``_x`` defined in module ``a.b.m`` belongs to package ``a.b``; every name of a private
    module ``a.b._m`` (or of a private package ``a.b._p``) belongs to ``a.b``.
    """
    parts = module.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:i])
    if name is not None and name.startswith("_") and not name.startswith("__"):
        return module if _is_package(module) else ".".join(parts[:-1])
    return None


def test_private_names_stay_in_their_package() -> None:
    leaks = []
    for name in MODULES:
        for target, imported, line in imports(name):
            scope = _scope(target, imported)
            if scope is not None and not (name == scope or name.startswith(scope + ".")):
                what = f"{target}.{imported}" if imported else target
                leaks.append(f"{name}:{line} imports the private {what} of {scope}")
    assert not leaks, "\n".join(leaks)


def test_the_rules_catch_what_they_should() -> None:
    assert _scope("masem.tssem._wls", "Problem") == "masem.tssem"
    assert _scope("masem.tssem.stage2", "_subset") == "masem.tssem"
    assert _scope("masem.tssem.stage1._fem", "fit_fem") == "masem.tssem.stage1"
    assert _scope("masem._linalg", "newton_minimize") == "masem"
    assert _scope("masem._util", "frozen") == "masem"
    assert _scope("masem.tssem.stage2", "tssem2") is None
    assert _owner("masem.tssem.stage1.rem", {"masem.tssem": 0, "masem": 1}) == "masem.tssem"


def test_import_masem_stays_light() -> None:
    code = "import sys, masem; print(sorted({m.split('.')[0] for m in sys.modules} & set(sys.argv[1:])))"
    done = subprocess.run([sys.executable, "-c", code, *HEAVY], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", f"import masem loads {done.stdout.strip()}"


def _code_lines(lines: list[str], node: ast.FunctionDef) -> int:
    body = node.body
    doc = None
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        doc = (body[0].lineno, body[0].end_lineno)
    count = 0
    for number in range(node.lineno, node.end_lineno + 1):
        text = lines[number - 1].strip()
        if doc and doc[0] <= number <= doc[1] or not text or text.startswith("#"):
            continue
        count += 1
    return count


def test_functions_are_short() -> None:
    long = []
    for name, path in MODULES.items():
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = _code_lines(lines, node)
                if n > MAX_CODE_LINES:
                    long.append(f"{name}.{node.name} (line {node.lineno}): {n} lines of code")
    assert not long, "split these into named steps:\n" + "\n".join(long)
