"""Packaging: is the project installable and are its two dependency lists in step?

- test_environment_yml_matches_pyproject: a researcher using conda gets the same packages, with the
  same lower bounds, as one using ``make setup`` (pip); the test fails when either list changes alone.
- test_ci_runs_make_test_only / test_readme_gives_the_two_commands: the contract of DEVELOPERS.md.
"""

from __future__ import annotations

import re
import tomllib

from conftest import ROOT

# conda-forge names that differ from the PyPI names in lib/pyproject.toml.
CONDA_TO_PYPI = {"python-graphviz": "graphviz"}
# conda-only entries: the interpreter, the system graphviz (`dot`), pip itself.
CONDA_ONLY = {"python", "graphviz", "pip"}


def _split(requirement: str) -> tuple[str, str]:
    match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*", requirement)
    assert match, f"cannot read requirement {requirement!r}"
    return match.group(1).lower(), match.group(2).replace(" ", "")


def _pyproject_requirements() -> dict[str, str]:
    meta = tomllib.loads((ROOT / "lib" / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = list(meta["dependencies"]) + list(meta["optional-dependencies"]["dev"])
    return dict(_split(r) for r in reqs)


def _conda_requirements() -> dict[str, str]:
    out = {}
    text = (ROOT / "environment.yml").read_text(encoding="utf-8")
    for line in text.split("\ndependencies:", 1)[1].splitlines():
        match = re.match(r"^\s{2}-\s+([^#\s][^#]*?)\s*(#.*)?$", line)
        if not match or match.group(1).endswith(":"):
            continue
        name, spec = _split(match.group(1))
        if name in CONDA_ONLY:
            continue
        out[CONDA_TO_PYPI.get(name, name)] = spec
    return out


def test_environment_yml_matches_pyproject() -> None:
    pip_reqs, conda_reqs = _pyproject_requirements(), _conda_requirements()
    assert pip_reqs == conda_reqs, (
        "environment.yml and lib/pyproject.toml list different packages or bounds: "
        f"only in pyproject {sorted(set(pip_reqs.items()) - set(conda_reqs.items()))}, "
        f"only in environment.yml {sorted(set(conda_reqs.items()) - set(pip_reqs.items()))}"
    )


def test_every_dependency_has_a_lower_bound() -> None:
    for name, spec in _pyproject_requirements().items():
        assert spec.startswith(">="), f"{name} has no tested lower bound ({spec!r})"


def test_environment_yml_has_the_graphviz_program() -> None:
    text = (ROOT / "environment.yml").read_text(encoding="utf-8")
    assert re.search(r"^\s{2}-\s+graphviz\b", text, flags=re.M), "environment.yml must install graphviz (dot)"


def test_ci_runs_make_test_only() -> None:
    commands = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert commands[-1] == "make test"
    assert all(c == "make test" or c.startswith(("set ", "cd ")) for c in commands), commands


def test_readme_gives_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make report" in readme and "make test" in readme
