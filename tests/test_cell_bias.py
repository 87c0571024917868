"""Small-study diagnostics for every cell of a pooled matrix (masem.study.cell_bias).

- test_cells_are_those_of_bias_adjusted_masem: for the bundled database, is every column the
  table shares with ``bias_adjusted_masem(...).diagnostics()`` identical (the same studies, the same
  per-cell analysis, whatever the model)?
- test_holm_is_hand_computed: is ``egger_p_holm`` Holm's step-down adjustment written out by hand
  (sorted p times the number of remaining tests, cumulative maximum, capped at 1) over the cells
  that have a test?
- test_difference_and_kept_cells: is ``difference`` r_adjusted - r_stage1, and exactly 0 where a
  cell keeps its stage-1 value (fewer than min_k studies)? Is ``se_stage1`` the standard error of
  masem.tssem1's pooled value, and the adjusted standard error of a kept cell?
- test_file_drawer_cell_is_flagged: in the bundled database, whose only selected relation is
  empowerment - task performance (data/README.md), is that cell significant after Holm's
  adjustment, and is its adjustment downward?
- test_bad_input_is_refused: no variables for a database, bad min_k, alpha, adjust or method.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import masem
from conftest import ROOT
from masem.study.cell_bias import cell_bias_table

VARIABLES = ["HPWP", "SPS", "PE", "JS", "TP", "CSAT"]


def quiet(func, *args, **kwargs):
    """Per-cell notes (tau2 at 0 in small cells) are not what these tests check."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", masem.ConvergenceWarning)
        return func(*args, **kwargs)


@pytest.fixture(scope="module")
def database() -> masem.StudyDatabase:
    return masem.read_database(ROOT / "data" / "individual")


@pytest.fixture(scope="module")
def table(database) -> pd.DataFrame:
    return quiet(cell_bias_table, database, VARIABLES)


def test_cells_are_those_of_bias_adjusted_masem(database, table) -> None:
    fit = quiet(masem.bias_adjusted_masem, database, "TP ~ PE\nPE ~ HPWP + SPS\nJS ~ PE\nCSAT ~ PE",
                variables=VARIABLES)
    expected = fit.diagnostics()
    assert len(table) == len(expected) == 15
    pd.testing.assert_frame_equal(table[expected.columns], expected)


def test_holm_is_hand_computed(table) -> None:
    p = table["egger_p"].to_numpy()
    order = np.argsort(p)
    m = len(p)
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    expected = np.empty(m)
    expected[order] = np.minimum(stepped, 1.0)
    # Holm's formula against statsmodels' implementation of it: equal up to float rounding.
    np.testing.assert_allclose(table["egger_p_holm"], expected, rtol=0, atol=1e-12)


def test_difference_and_kept_cells(table) -> None:
    np.testing.assert_allclose(table["difference"], table["r_adjusted"] - table["r_stage1"], atol=0)
    kept = table["used"] == "stage 1"
    assert kept.any() and (table.loc[kept, "k"] < 10).all()
    assert (table.loc[kept, "difference"] == 0).all()
    np.testing.assert_allclose(table.loc[kept, "se_adjusted"], table.loc[kept, "se_stage1"], rtol=0, atol=0)


def test_se_stage1_is_the_pooled_standard_error(database, table) -> None:
    m = database.matrices(VARIABLES)
    stage1 = quiet(masem.tssem1, m.matrices, m.n, method="REM")
    expected = [stage1.pooled_se.loc[a, b] for a, b in zip(table["var1"], table["var2"])]
    np.testing.assert_allclose(table["se_stage1"], expected, rtol=0, atol=0)


def test_file_drawer_cell_is_flagged(table) -> None:
    row = table.set_index(["var1", "var2"]).loc[("PE", "TP")]
    assert row["egger_p_holm"] < 0.05 and row["difference"] < 0
    others = table[(table["var1"] != "PE") | (table["var2"] != "TP")]
    assert (others["egger_p_holm"] >= 0.05).all()


def test_bad_input_is_refused(database) -> None:
    with pytest.raises(masem.DataError, match="needs the variables"):
        cell_bias_table(database)
    with pytest.raises(masem.ModelError, match="min_k"):
        cell_bias_table(database, VARIABLES, min_k=2)
    with pytest.raises(masem.ModelError, match="alpha"):
        cell_bias_table(database, VARIABLES, alpha=1.5)
    with pytest.raises(masem.ModelError, match="not a multipletests method"):
        quiet(cell_bias_table, database, ["PE", "JS", "TP"], adjust="nonsense")
    with pytest.raises(masem.ModelError, match="method"):
        cell_bias_table(database, VARIABLES, method="XYZ")
    with pytest.raises(masem.DataError, match="corrected for unreliability"):
        cell_bias_table(database.matrices(["PE", "JS"], corrected=True))
