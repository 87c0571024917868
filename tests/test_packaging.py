"""Packaging: is the project installable, pinned, and are its dependency lists in step?

- test_environment_yml_matches_the_lock: a researcher using conda gets the packages of
  lib/pyproject.toml at the versions of requirements.lock (the ones that produced the outputs).
- test_lock_satisfies_pyproject: does requirements.lock pin, with hashes, a version of every
  requirement of lib/pyproject.toml (dependencies and the dev extra) that meets its lower bound?
- test_every_dependency_has_a_lower_bound: users of the library get loose, tested lower bounds.
- test_version_has_one_source: pyproject's version is what ``masem.__version__``, CITATION.cff and
  the changelog say.
- test_ci_runs_make_test_in_a_fresh_clone / test_readme_gives_the_two_commands: the contract of
  DEVELOPERS.md (CI runs the README's test command, in a clone with nothing beside it).
- test_license_travels_with_the_package: the wheel's LICENSE is the project's.
"""

from __future__ import annotations

import re
import tomllib

import yaml
from packaging.requirements import Requirement
from packaging.version import Version

import masem
from conftest import ROOT

# conda-forge names that differ from the PyPI names in lib/pyproject.toml.
CONDA_TO_PYPI = {"python-graphviz": "graphviz", "python-build": "build"}
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


def _lock() -> dict[str, tuple[str, int]]:
    """requirements.lock: name -> (pinned version, number of hashes), for this interpreter."""
    text = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    pins: dict[str, tuple[str, int]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        head = block.split("\\", 1)[0].strip()
        if not head or head.startswith("#"):
            continue
        requirement = Requirement(head)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        (spec,) = requirement.specifier
        assert spec.operator == "==", f"requirements.lock: {head!r} is not pinned with =="
        pins[requirement.name.lower().replace("_", "-")] = (spec.version, block.count("--hash=sha256:"))
    return pins


def test_lock_satisfies_pyproject() -> None:
    pins = _lock()
    for name, spec in _pyproject_requirements().items():
        assert name in pins, f"requirements.lock does not pin {name} (run make lock)"
        version, hashes = pins[name]
        assert Requirement(f"{name}{spec}").specifier.contains(version), (
            f"requirements.lock pins {name}=={version}, which does not satisfy {spec} in lib/pyproject.toml"
        )
    unhashed = sorted(name for name, (_, hashes) in pins.items() if hashes == 0)
    assert not unhashed, f"requirements.lock entries without a hash: {unhashed}"


def test_environment_yml_matches_the_lock() -> None:
    pip_reqs, conda_reqs, pins = _pyproject_requirements(), _conda_requirements(), _lock()
    assert set(pip_reqs) == set(conda_reqs), (
        f"only in pyproject: {sorted(set(pip_reqs) - set(conda_reqs))}, "
        f"only in environment.yml: {sorted(set(conda_reqs) - set(pip_reqs))}"
    )
    for name, spec in conda_reqs.items():
        assert spec == f"=={pins[name][0]}", (
            f"environment.yml pins {name}{spec}, requirements.lock {name}=={pins[name][0]}"
        )


def test_every_dependency_has_a_lower_bound() -> None:
    for name, spec in _pyproject_requirements().items():
        assert spec.startswith(">="), f"{name} has no tested lower bound ({spec!r})"


def test_environment_yml_has_the_graphviz_program() -> None:
    text = (ROOT / "environment.yml").read_text(encoding="utf-8")
    assert re.search(r"^\s{2}-\s+graphviz\b", text, flags=re.M), "environment.yml must install graphviz (dot)"


def test_ci_runs_make_test_in_a_fresh_clone() -> None:
    commands = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert commands[-1] == "make test", commands
    assert any(c.startswith("work=") and "mktemp -d" in c for c in commands), "no empty temporary folder"
    assert any(c.startswith("git clone") and '"$work/' in c for c in commands), "no fresh clone there"
    assert any(c.startswith('cd "$work/') for c in commands), "make test does not run in the clone"
    assert not any("make " in c for c in commands[:-1]), "CI must run the test command and nothing else"


def test_version_has_one_source() -> None:
    version = tomllib.loads((ROOT / "lib" / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    Version(version)  # a valid version string
    assert masem.__version__ == version, "reinstall the package (make setup): its metadata is stale"
    assert str(yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))["version"]) == version
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## {version}" in changelog or "## Unreleased" in changelog
    init = (ROOT / "lib" / "masem" / "__init__.py").read_text(encoding="utf-8")
    assert not re.search(r"__version__\s*=\s*[\"']", init), "__version__ must come from the metadata"


def test_license_travels_with_the_package() -> None:
    assert (ROOT / "LICENSE").read_bytes() == (ROOT / "lib" / "LICENSE").read_bytes()


def test_readme_gives_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make report" in readme and "make test" in readme
