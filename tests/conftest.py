"""Shared fixtures: where the project and its reference data live, and how to read them.

The reference data sets and the metaSEM / metafor expected values are the project's own copy in
``tests/reference/`` (provenance and checksums in its README and MANIFEST.json), so the
conformance tests run on any clone.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from masem.effects import olkin_siotani, vechs_labels
from vocabulary import metasem

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "reference"


# Our fit_stats() names -> metaSEM's names for the fit indices compared at the README's fit tolerance.
# masem's fit statistics -> metaSEM's keys in tests/reference, from the table of docs/vocabulary.md.
METASEM_FIT_NAMES = {
    name: metasem(name)
    for name in ("chi2", "p_value", "RMSEA", "RMSEA_lower", "RMSEA_upper", "SRMR", "CFI", "TLI", "chi2_indep")
}


def reference_path(*parts: str) -> Path:
    """Path of a file under tests/reference; a missing file is an error, never a skip."""
    path = REFERENCE.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(
            f"reference file {path} is missing from the project's copy; see tests/reference/README.md"
        )
    return path


def load_reference(*parts: str) -> dict:
    """Parse a reference JSON file (see tests/reference/README.md)."""
    with reference_path(*parts).open(encoding="utf-8") as fh:
        return json.load(fh)


def ref_matrix(block: dict) -> pd.DataFrame:
    """A reference matrix ``{"rownames", "colnames", "values"}`` as a DataFrame, ``null`` as NaN."""
    values = np.array(
        [[np.nan if v is None else float(v) for v in row] for row in block["values"]], dtype=float
    )
    return pd.DataFrame(values, index=block.get("rownames"), columns=block.get("colnames"))


def ref_study_matrices(data: dict) -> list[np.ndarray]:
    """Per-study p x p arrays from a reference data file, ``null`` as NaN."""
    return [
        np.array([[np.nan if v is None else float(v) for v in row] for row in m], dtype=float)
        for m in data["matrices"]
    ]


# A stage-1 stand-in for stage-2 tests: any object with pooled, vcov, total_n, variables and method
# is accepted by tssem2, so a model can be fitted to an exactly known matrix.
@dataclasses.dataclass(frozen=True)
class Stage1:
    """Minimal stand-in for a tssem1() result."""

    pooled: pd.DataFrame
    vcov: pd.DataFrame
    total_n: int
    variables: list
    method: str = "FEM"


def make_stage1(R: np.ndarray, variables: list[str], n: int = 1000) -> Stage1:
    """A stage-1 result whose pooled matrix is R, with the Olkin-Siotani covariance of R at n."""
    labels = vechs_labels(variables)
    return Stage1(
        pooled=pd.DataFrame(R, index=variables, columns=variables),
        vcov=pd.DataFrame(olkin_siotani(R, n), index=labels, columns=labels),
        total_n=n,
        variables=list(variables),
    )


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT


# ----------------------------------------------------------------------------------------------
# Data safety: the suite (unit tests, doctests and nbval's notebook runs) must leave the bundled
# database and the committed notebooks byte-identical. Hash them before the first test and after
# the last one; any difference fails the run, naming the files.
# ----------------------------------------------------------------------------------------------
GUARDED = ("data", "notebooks", "results", "models")


def _snapshot() -> dict[str, str]:
    import hashlib

    digests = {}
    for folder in GUARDED:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and ".ipynb_checkpoints" not in path.parts and "__pycache__" not in path.parts:
                digests[str(path.relative_to(ROOT))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config._masem_snapshot = _snapshot()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    before = getattr(session.config, "_masem_snapshot", None)
    if before is None:
        return
    after = _snapshot()
    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    if changed:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = (
            f"DATA SAFETY: the test run changed {len(changed)} file(s) under {' and '.join(f'{g}/' for g in GUARDED)} "
            f"(added, removed or modified): {changed[:10]}. The library and notebooks must never "
            "write there; restore them with `git checkout -- data notebooks`."
        )
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_line(message, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
