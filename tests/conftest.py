"""Shared fixtures: where the project and the shared reference data live, and how to read them.

Reference files are read in place from ``../shared/reference`` (never copied into the project);
tests that need them skip with a clear message when that folder is absent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference"


# Our fit_stats() names -> metaSEM's names for the fit indices compared at the README's fit tolerance.
METASEM_FIT_NAMES = {
    "chi2": "chisq",
    "p_value": "pvalue",
    "RMSEA": "RMSEA",
    "RMSEA_lower": "RMSEA_lower90",
    "RMSEA_upper": "RMSEA_upper90",
    "SRMR": "SRMR",
    "CFI": "CFI",
    "TLI": "TLI",
    "chi2_indep": "chisq_indep",
}


def reference_path(*parts: str) -> Path:
    """Path of a file under ../shared/reference; skips the calling test when it is absent."""
    path = REFERENCE.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference file {path} is not available (../shared/reference is read in place)")
    return path


def load_reference(*parts: str) -> dict:
    """Parse a reference JSON file (see ../shared/reference/README.md)."""
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


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT
