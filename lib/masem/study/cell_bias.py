"""Small-study diagnostics for every cell of a pooled correlation matrix, before any model.

A MASEM rests on every cell of its pooled matrix, so publication bias has to be checked cell by
cell, not only for the few relations a meta-analysis is about (Kepes, Banks, McDaniel & Whetzel,
2012). :func:`cell_bias_table` runs, for each pair of variables, the diagnostics that
:func:`masem.bias_adjusted_masem` uses before it refits a model (random effects on Fisher's z,
Egger's test, PET-PEESE, the ``min_k`` rule; see :mod:`masem.study.bias_adjusted`), and adds
what reading a whole table of tests needs: Egger's p adjusted for the number of cells tested
(Holm, 1979, by default) and the size of the adjustment. The per-cell numbers are those of
``bias_adjusted_masem(...).diagnostics()`` for the same studies, whatever the model.

References
----------
Holm, S. (1979). A simple sequentially rejective multiple test procedure. *Scandinavian Journal
of Statistics*, 6(2), 65-70.
Kepes, S., Banks, G. C., McDaniel, M., & Whetzel, D. L. (2012). Publication bias in the
organizational sciences. *Organizational Research Methods*, 15(4), 624-662.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
import pandas as pd

from masem._util import choose
from masem.data import StudyDatabase, StudyMatrices
from masem.effects import vechs_indices
from masem.errors import DataError, ModelError, relabel_notes
from masem.study.bias_adjusted import MIN_K, _matrices, bias_diagnostics
from masem.tssem import tssem1

__all__ = ["cell_bias_table"]


def _check_settings(min_k: object, alpha: object) -> None:
    """min_k a whole number >= 3, alpha in (0, 1): the rules of bias_adjusted_masem."""
    if isinstance(min_k, bool) or not isinstance(min_k, numbers.Integral) or min_k < 3:
        raise ModelError(f"min_k must be a whole number of at least 3 studies, got {min_k!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0.0 < alpha < 1.0:
        raise ModelError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")


def _adjusted(p: pd.Series, adjust: str) -> pd.Series:
    """``p`` adjusted by statsmodels' ``multipletests`` over the cells that have a test."""
    from statsmodels.stats.multitest import multipletests

    out = pd.Series(np.nan, index=p.index)
    tested = p.notna()
    if tested.any():
        out[tested] = multipletests(p[tested].to_numpy(), method=adjust)[1]
    return out


def cell_bias_table(
    data: StudyDatabase | StudyMatrices,
    variables: Sequence[str] | None = None,
    method: str = "REM",
    min_k: int = MIN_K,
    alpha: float = 0.05,
    adjust: str = "holm",
) -> pd.DataFrame:
    """Egger's test and PET-PEESE for every pair of ``variables``, with Egger's p adjusted across
    the cells.

    Stage 1 pools the studies (:func:`masem.tssem1`); each cell is then meta-analysed on its own
    (REML on Fisher's z), tested for funnel asymmetry (Egger's test in metafor's default form,
    :func:`masem.egger`) and extrapolated to a study of standard error 0 (PET-PEESE,
    :func:`masem.pet_peese`). A cell with at least ``min_k`` studies takes the PET-PEESE value,
    the others keep their stage-1 value, exactly as :func:`masem.bias_adjusted_masem` does
    before it refits a model.

    Parameters
    ----------
    data : StudyDatabase or StudyMatrices
        The studies: a database (:func:`masem.read_database`) with ``variables``, or the
        per-study matrices of ``db.matrices(...)`` (observed correlations, not corrected).
    variables : list of str, optional
        With a database, the variables to pool (required); with matrices, their variables.
    method : {"REM", "FEM"}
        Stage 1, whose pooled value each cell starts from.
    min_k : int, default 10
        Fewest studies a cell needs to take the PET-PEESE value (Sterne et al., 2011).
    alpha : float, default 0.05
        Level of PET's test that chooses between PET and PEESE.
    adjust : str, default "holm"
        The method of :func:`statsmodels.stats.multitest.multipletests` that adjusts Egger's p
        over every cell with a test ("holm", "bonferroni", "fdr_bh", ...).

    Returns
    -------
    DataFrame
        One row per cell, in vechs order: the columns of
        ``bias_adjusted_masem(...).diagnostics()`` (var1, var2, k, N, r_stage1, r_RE, egger_z,
        egger_p, r_PET, PET_p, r_PEESE, r_adjusted, se_adjusted, used, reason), with
        ``se_stage1`` (the pooled value's standard error) after ``r_stage1``, ``egger_p_<adjust>``
        after ``egger_p`` and ``difference`` (r_adjusted - r_stage1, 0 where the stage-1 value is
        kept) at the end. Cells with fewer than 3 studies have no
        test (NaN) and are left out of the adjustment.

    Raises
    ------
    DataError
        A database without ``variables``, matrices corrected for unreliability, or variables
        that do not match the matrices.
    ModelError
        A bad ``method``, ``min_k``, ``alpha`` or ``adjust``.

    References
    ----------
    Egger, M., Davey Smith, G., Schneider, M., & Minder, C. (1997). Bias in meta-analysis
    detected by a simple, graphical test. *BMJ*, 315, 629-634.
    Holm, S. (1979). A simple sequentially rejective multiple test procedure. *Scandinavian
    Journal of Statistics*, 6(2), 65-70.
    Stanley, T. D., & Doucouliagos, H. (2014). Meta-regression approximations to reduce
    publication selection bias. *Research Synthesis Methods*, 5, 60-78.
    Sterne, J. A. C., et al. (2011). Recommendations for examining and interpreting funnel plot
    asymmetry in meta-analyses of randomised controlled trials. *BMJ*, 343, d4002.

    Examples
    --------
    >>> import masem
    >>> from masem.study.cell_bias import cell_bias_table
    >>> db = masem.example_data("Nohe15A1").database()
    >>> table = cell_bias_table(db, ["W1", "S1", "S2"])
    >>> table[["var1", "var2", "k", "egger_p_holm", "used"]].round(3)
      var1 var2   k  egger_p_holm   used
    0   W1   S1  32         0.798  PEESE
    1   W1   S2  32         0.966  PEESE
    2   S1   S2  32         0.966  PEESE
    """
    method = choose(method, ("REM", "FEM"), "method", ModelError)
    _check_settings(min_k, alpha)
    if not isinstance(adjust, str) or not adjust.strip():
        raise ModelError(
            f"adjust must be a multipletests method name such as 'holm', got {adjust!r}"
        )
    if isinstance(data, StudyDatabase) and variables is None:
        raise DataError(
            "cell_bias_table needs the variables to pool from a database, e.g. "
            "cell_bias_table(db, ['HPWP', 'PE', 'JS'])"
        )
    m = _matrices(data, "", variables)
    with relabel_notes("stage 1", stacklevel=3):
        stage1 = tssem1(m.matrices, m.n, method=method, variables=list(m.variables))
    table = bias_diagnostics(m, stage1, float(alpha), int(min_k))
    try:
        adjusted = _adjusted(table["egger_p"], adjust)
    except ValueError:
        raise ModelError(
            f"adjust={adjust!r} is not a multipletests method; use e.g. 'holm', 'bonferroni' "
            "or 'fdr_bh'"
        ) from None
    table.insert(table.columns.get_loc("egger_p") + 1, f"egger_p_{adjust}", adjusted)
    names = list(m.variables)
    pooled_se = stage1.pooled_se.loc[names, names].to_numpy()
    rows, cols = vechs_indices(len(names))
    table.insert(table.columns.get_loc("r_stage1") + 1, "se_stage1", pooled_se[rows, cols])
    table["difference"] = table["r_adjusted"] - table["r_stage1"]
    return table
