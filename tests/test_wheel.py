"""The package as a user gets it: an sdist and a wheel that install and run outside this checkout.

Questions answered:

- test_build_gives_sdist_and_wheel: does ``python -m build lib`` give one sdist and one wheel, the
  wheel holding every subpackage, the bundled example data and the LICENSE, and no tests?
- test_wheel_metadata_matches_pyproject: does the wheel declare the version and the requirements
  of lib/pyproject.toml (what pip will install for a user)?
- test_wheel_runs_in_a_fresh_venv: installed into a new virtual environment, does the wheel give a
  working ``masem --version``, ``masem --help`` and ``import masem; masem.tssem1(...)`` on a
  bundled example, importing masem from that environment and not from lib/?

The new environment does not download the dependencies again: a path file lets it see the
locked packages of the project's environment (not their .pth hooks, so not the editable install
of lib/), and ``pip check`` inside it proves that the wheel's declared requirements are met.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from conftest import ROOT, load_reference

pytestmark = pytest.mark.slow


def _run(args: list, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONNOUSERSITE": "1"}
    env.pop("PYTHONPATH", None)
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, **kwargs)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # --no-isolation: the build backend (setuptools) is pinned in requirements.lock, so no download.
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", out, ROOT / "lib"])
    return out


def _wheel(dist: Path) -> Path:
    (wheel,) = dist.glob("masem-*.whl")
    return wheel


def test_build_gives_sdist_and_wheel(dist: Path) -> None:
    assert len(list(dist.glob("masem-*.tar.gz"))) == 1
    names = zipfile.ZipFile(_wheel(dist)).namelist()
    packages = sorted(
        str(p.parent.relative_to(ROOT / "lib")) for p in (ROOT / "lib" / "masem").rglob("__init__.py")
    )
    for package in packages:
        assert f"{package}/__init__.py" in names, f"the wheel lacks the subpackage {package}"
    examples = ROOT / "lib" / "masem" / "data" / "examples"
    for example in [*examples.glob("*.json"), *examples.glob("population/*.csv")]:
        inside = f"masem/data/examples/{example.relative_to(examples).as_posix()}"
        assert inside in names, f"the wheel lacks {inside}"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), "no LICENSE in the wheel"
    assert not any(n.startswith("tests/") for n in names)


def test_wheel_metadata_matches_pyproject(dist: Path) -> None:
    project = tomllib.loads((ROOT / "lib" / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    with zipfile.ZipFile(_wheel(dist)) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(archive.read(name).decode("utf-8"))
    assert metadata["Version"] == project["version"]
    required = [r for r in metadata.get_all("Requires-Dist") if "extra ==" not in r]
    assert sorted(r.replace(" ", "") for r in required) == sorted(d.replace(" ", "") for d in project["dependencies"])
    assert metadata["License-Expression"] == "MIT"


def test_wheel_runs_in_a_fresh_venv(dist: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv])
    python = venv / "bin" / "python"
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    # Plain path lines only: the project's site-packages becomes visible, its .pth hooks do not run.
    (site / "locked_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    _run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", _wheel(dist)])
    _run([python, "-m", "pip", "check"])

    version = _run([venv / "bin" / "masem", "--version"], cwd=tmp_path).stdout.strip()
    project = tomllib.loads((ROOT / "lib" / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert version == f"masem {project['version']}"
    helptext = _run([venv / "bin" / "masem", "--help"], cwd=tmp_path).stdout
    assert "run" in helptext and "validate" in helptext

    script = (
        "import masem\n"
        "ex = masem.example_data('Hunter83')\n"
        "s1 = masem.tssem1(ex.matrices, ex.n, method='REM')\n"
        "print(masem.__file__)\n"
        "print(repr(float(s1.pooled.loc['Job_knowledge', 'Ability'])))\n"
    )
    where, pooled = _run([python, "-c", script], cwd=tmp_path).stdout.split()
    assert Path(where).is_relative_to(venv), f"masem was imported from {where}, not from the new environment"
    # The installed package agrees with metaSEM 1.5.5's tssem1 REM on Hunter83 (README tolerance 1e-4).
    rem = load_reference("expected", "metasem", "Hunter83.json")["tssem1"]["REM"]
    expected = rem["coef"][rem["coef_labels"].index("Job_knowledge_Ability")]
    assert abs(float(pooled) - expected) < 1e-4
