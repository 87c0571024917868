"""Analogous paths of two levels of analysis (e.g. individual and team) in one tidy table.

Seibert, Wang & Courtright (2011) meta-analysed empowerment at the individual and the team level
and compared the relations side by side. For each relation this module collects, from one level's
stage-1 and stage-2 results, the evidence behind it (studies k and total N of the pair), the
pooled correlation with its interval (stage 1: model-free, directly comparable across levels)
and the structural path with its interval (stage 2: a partial effect, which depends on the other
predictors in that level's model). Tables of several levels are stacked with ``pandas.concat``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from masem.errors import ModelError
from masem.stage2 import TSSEM2Result

__all__ = ["path_summary"]

_COLUMNS = [
    "relation", "level", "path", "k", "N", "r", "r_lower", "r_upper",
    "estimate", "se", "ci_lower", "ci_upper", "p_value", "interval",
]


def path_summary(
    stage2: TSSEM2Result, stage1, paths: Mapping[str, tuple[str, str]], level: str
) -> pd.DataFrame:
    """Pooled correlation and structural path of named relations at one level, one row each.

    Parameters
    ----------
    stage2 : TSSEM2Result
        The fitted structural model of the level (:func:`masem.tssem2`).
    stage1 : TSSEM1Result
        The stage-1 result the model was fitted to (:func:`masem.tssem1`); it supplies k, N and
        the pooled correlation of each pair.
    paths : mapping of str to (cause, effect)
        A name for each relation shared across levels (e.g. ``"practices -> empowerment"``) and
        the variables of this level, e.g. ``("HPWP", "PE")`` for the path ``PE ~ HPWP``.
    level : str
        The level's name, repeated in the ``level`` column (e.g. ``"individual"``).

    Returns
    -------
    pandas.DataFrame
        Columns ``relation``, ``level``, ``path`` (``"cause -> effect"``), ``k`` and ``N`` (studies
        and participants reporting the pair), ``r``, ``r_lower``, ``r_upper`` (pooled correlation,
        95% Wald interval), ``estimate``, ``se``, ``ci_lower``, ``ci_upper``, ``p_value`` (the
        standardized path, 95% interval of the kind the fit used) and ``interval``.

    Raises
    ------
    ModelError
        If ``paths`` is empty or malformed, a variable is not in the stage-1 data, or the model has
        no path ``effect ~ cause``.

    References
    ----------
    Seibert, S. E., Wang, G., & Courtright, S. H. (2011). Antecedents and consequences of
    psychological and team empowerment in organizations: A meta-analytic review. *Journal of
    Applied Psychology*, 96(5), 981-1003.
    Cheung, M. W.-L., & Chan, W. (2005). Meta-analytic structural equation modeling: A two-stage
    approach. *Psychological Methods*, 10(1), 40-64.

    Examples
    --------
    >>> import masem
    >>> db = masem.read_database("data/team")  # doctest: +SKIP
    >>> m = db.matrices(["T_LEAD", "T_EMP", "T_PERF"])  # doctest: +SKIP
    >>> s1 = masem.tssem1(m.matrices, m.n)  # doctest: +SKIP
    >>> s2 = masem.tssem2(s1, "T_EMP ~ T_LEAD\\nT_PERF ~ T_EMP\\nT_LEAD ~~ 1*T_LEAD")  # doctest: +SKIP
    >>> path_summary(s2, s1, {"empowerment -> performance": ("T_EMP", "T_PERF")}, "team")  # doctest: +SKIP
    """
    if not isinstance(stage2, TSSEM2Result):
        raise ModelError(f"stage2 must be a tssem2() result, got {type(stage2).__name__}")
    if not hasattr(stage1, "summary") or not hasattr(stage1, "variables"):
        raise ModelError(
            f"stage1 must be the tssem1() result the model was fitted to, got {type(stage1).__name__}"
        )
    if not isinstance(paths, Mapping) or not paths:
        raise ModelError(
            "paths must be a non-empty mapping {relation name: (cause, effect)}, got "
            f"{paths!r}"
        )
    if not isinstance(level, str) or not level:
        raise ModelError(f"level must be a non-empty name such as 'team', got {level!r}")
    variables = [str(v) for v in stage1.variables]
    correlations = stage1.summary()
    lacking = {"label", "estimate", "ci_lower", "ci_upper", "k", "N"} - set(correlations.columns)
    if lacking:
        raise ModelError(
            f"stage1.summary() lacks {sorted(lacking)}; pass the tssem1() result the model was fitted to"
        )
    correlations = correlations.set_index("label")
    table = stage2.inspect()
    regressions = table[table["op"] == "~"].set_index(["lval", "rval"])
    rows = []
    for relation, pair in paths.items():
        if isinstance(pair, str) or len(pair) != 2:
            raise ModelError(f"relation {relation!r}: give (cause, effect), got {pair!r}")
        cause, effect = (str(v) for v in pair)
        unknown = [v for v in (cause, effect) if v not in variables]
        if unknown:
            raise ModelError(
                f"relation {relation!r}: {unknown} not in the stage-1 variables {variables}"
            )
        if (effect, cause) not in regressions.index:
            available = [f"{c} -> {e}" for e, c in regressions.index]
            raise ModelError(
                f"relation {relation!r}: the model has no path {effect} ~ {cause}; its paths are "
                f"{available}"
            )
        later, earlier = sorted((cause, effect), key=variables.index, reverse=True)
        cell = correlations.loc[f"{later}_{earlier}"]
        path = regressions.loc[(effect, cause)]
        rows.append((
            relation, level, f"{cause} -> {effect}", int(cell["k"]), int(cell["N"]),
            float(cell["estimate"]), float(cell["ci_lower"]), float(cell["ci_upper"]),
            float(path["Estimate"]), float(path["Std. Err"]), float(path["ci.lower"]),
            float(path["ci.upper"]), float(path["p-value"]), stage2.intervals,
        ))
    out = pd.DataFrame(rows, columns=_COLUMNS)
    return out.astype({"k": np.int64, "N": np.int64})
