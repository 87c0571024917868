"""``make data`` (scripts/make_data.py): is the bundled database exactly what the generator writes?

Questions answered:
- Does running the generator into a temporary folder reproduce data/individual, data/team (their
  tables and metadata.json) and data/population/*_correlations.csv byte for byte, with no other
  file, "\\n" line ends and fixed three-decimal correlations and alphas?
- Does it leave the project's data/ folder untouched while doing so?
- Does data/README.md say, in bold, that the data are simulated?
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT

DATA = ROOT / "data"
GENERATED = ["individual", "team"]
# metadata.json says that the studies are simulated (read by masem.read_database).
TABLES = ["studies.csv", "correlations.csv", "reliabilities.csv", "constructs.csv", "metadata.json"]


def fingerprint(folder):
    return {
        str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("make_data")
    before = fingerprint(DATA)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_data.py"), "--out", str(out)],
        check=True, capture_output=True, text=True, env=env, cwd=ROOT,
    )
    assert fingerprint(DATA) == before  # the generator read data/population and wrote only to out
    return out


@pytest.mark.parametrize("level", GENERATED)
@pytest.mark.parametrize("table", TABLES)
def test_bundled_tables_reproduced_byte_for_byte(generated, level, table):
    assert (generated / level / table).read_bytes() == (DATA / level / table).read_bytes()


@pytest.mark.parametrize("level", GENERATED)
def test_population_correlations_reproduced(generated, level):
    name = f"{level}_correlations.csv"
    assert (generated / "population" / name).read_bytes() == (DATA / "population" / name).read_bytes()


def test_nothing_else_written(generated):
    written = sorted(str(p.relative_to(generated)) for p in generated.rglob("*") if p.is_file())
    expected = sorted(
        [f"{level}/{table}" for level in GENERATED for table in TABLES]
        + [f"population/{level}_correlations.csv" for level in GENERATED]
    )
    assert written == expected


@pytest.mark.parametrize("level", GENERATED)
def test_fixed_formatting(generated, level):
    correlations = (generated / level / "correlations.csv").read_bytes()
    assert b"\r" not in correlations
    rows = correlations.decode("utf-8").splitlines()[1:]
    assert all(re.fullmatch(r"[IT]\d{3},\w+,\w+,-?\d\.\d{3},\d+", row) for row in rows)
    alphas = (generated / level / "reliabilities.csv").read_text(encoding="utf-8").splitlines()[1:]
    assert all(re.fullmatch(r"[IT]\d{3},\w+,[01]\.\d{3}", row) for row in alphas)


def test_readme_says_simulated_in_bold():
    text = (DATA / "README.md").read_text(encoding="utf-8")
    assert re.search(r"\*\*The data in this folder are simulated\.", text)
    assert "make data" in text and "2011" in text
