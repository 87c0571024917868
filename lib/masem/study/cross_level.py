"""The cross-level test: are the paths of one model the same at two (or more) levels of analysis?

Seibert, Wang & Courtright (2011) report that the relations of empowerment at the individual and
the team level are statistically indistinguishable. In a MASEM that claim is a multi-group test
(Cheung & Chan, 2005; Jak & Cheung, 2020): each level is a group of independent studies with its
own pooled matrix; the levels' variables are mapped onto common names so that one model fits
both; the model is fitted with every path free at each level and with the paths held equal
(:func:`masem.tssem2_multigroup`), and the chi-square difference between the two fits is the
joint test. Each path is also tested on its own (the model with that path held equal against the
free model, :func:`masem.equality_tests`), and because several paths are read together their
p-values are adjusted (Holm, 1979, by default). A non-significant difference is not evidence of
equal paths: it can also mean too little information, which the intervals of the per-level
estimates show.

References
----------
Cheung, M. W.-L., & Chan, W. (2005). Meta-analytic structural equation modeling: A two-stage
approach. *Psychological Methods*, 10(1), 40-64.
Holm, S. (1979). A simple sequentially rejective multiple test procedure. *Scandinavian Journal of
Statistics*, 6(2), 65-70.
Jak, S., & Cheung, M. W.-L. (2020). Meta-analytic structural equation modeling with moderating
effects on SEM parameters. *Psychological Methods*, 25(4), 430-455.
Seibert, S. E., Wang, G., & Courtright, S. H. (2011). Antecedents and consequences of
psychological and team empowerment in organizations: A meta-analytic review. *Journal of Applied
Psychology*, 96(5), 981-1003.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from masem._format import format_p, p_in_text
from masem.effects import vechs_labels
from masem.errors import DataError, ModelError, relabel_notes
from masem.lrt import compare
from masem.study._common import check_model
from masem.study.variants import PooledMatrix
from masem.tssem import MultigroupTSSEM2Result, equality_tests, tssem2_multigroup

__all__ = ["CrossLevelTest", "cross_level_test", "level_input"]


def level_input(
    stage1, names: Mapping[str, str], order: Sequence[str] | None = None
) -> PooledMatrix:
    """One level's stage-1 result with its variables renamed to the common names (a stage-2 input).

    Parameters
    ----------
    stage1 : TSSEM1Result
        The level's stage 1 (``pooled``, ``vcov`` in vechs order, ``total_n``, ``variables``).
    names : mapping of str to str
        The level's variables to keep and their common names, e.g. ``{"T_EMP": "EMP"}``.
    order : list of str, optional
        The common names in the order wanted (default: the level's own order).

    Returns
    -------
    PooledMatrix
        The renamed pooled matrix, its sampling covariance (relabelled, in vechs order of
        ``order``), the level's total N and method.

    Raises
    ------
    DataError
        A variable not in the stage-1 result, two variables mapped onto one name, or an
        ``order`` that does not list the common names once each.

    Examples
    --------
    >>> import masem
    >>> ex = masem.example_data("Hunter83")
    >>> s1 = masem.tssem1(ex.matrices, ex.n, method="FEM")
    >>> level_input(s1, {"Ability": "A", "Supervisor": "S"}).vcov.index.tolist()
    ['S_A']
    """
    for attribute in ("pooled", "vcov", "total_n", "variables"):
        if not hasattr(stage1, attribute):
            raise DataError(
                f"a level's stage 1 must be a tssem1() result; {type(stage1).__name__} lacks "
                f".{attribute}"
            )
    variables = [str(v) for v in stage1.variables]
    if not isinstance(names, Mapping) or not names:
        raise DataError(f"names must map the level's variables onto common names, got {names!r}")
    unknown = [v for v in names if v not in variables]
    if unknown:
        raise DataError(f"{unknown} not in this level's stage 1; its variables are {variables}")
    common = [str(names[v]) for v in variables if v in names]
    if len(set(common)) != len(common):
        raise DataError(f"two variables are mapped onto one common name: {dict(names)}")
    order = common if order is None else [str(v) for v in order]
    if sorted(order) != sorted(common):
        raise DataError(f"order must list the common names {sorted(common)} once each, got {order}")
    back = {str(c): v for v, c in names.items()}
    old = [back[c] for c in order]
    labels = {label: k for k, label in enumerate(vechs_labels(variables))}
    V = stage1.vcov
    if isinstance(V, pd.DataFrame):
        V = V.loc[list(labels), list(labels)]
    V = np.asarray(V, dtype=float)
    # vechs labels name the later variable first; in the new order a pair may be the other way.
    keep = [
        labels.get(f"{old[i]}_{old[j]}", labels.get(f"{old[j]}_{old[i]}"))
        for j in range(len(old))
        for i in range(j + 1, len(old))
    ]
    pooled = stage1.pooled.loc[old, old].to_numpy(dtype=float)
    new_labels = vechs_labels(order)
    return PooledMatrix(
        pooled=pd.DataFrame(pooled, index=order, columns=order),
        vcov=pd.DataFrame(V[np.ix_(keep, keep)], index=new_labels, columns=new_labels),
        total_n=int(stage1.total_n),
        method=str(getattr(stage1, "method", "unknown")),
    )


@dataclass(frozen=True, repr=False, eq=False)
class CrossLevelTest:
    """Result of :func:`cross_level_test` (immutable; DataFrames built fresh on access).

    Attributes
    ----------
    levels : tuple of str
        The levels (groups), in the order given.
    free, equal : MultigroupTSSEM2Result
        The model with every path free at each level, and with the tested paths held equal.
    adjust : str
        The multiple-testing correction of the per-path p-values.

    Examples
    --------
    >>> import masem
    >>> ex = masem.example_data("Hunter83")
    >>> s1 = masem.tssem1(ex.matrices, ex.n, method="FEM")
    >>> names = {"Ability": "A", "Job_knowledge": "K", "Supervisor": "S"}
    >>> test = masem.cross_level_test({"a": s1, "b": s1}, {"a": names, "b": names}, "K ~ A\\nS ~ K")
    >>> bool(test.joint()["chi2_diff"].iloc[0] < 1e-6)  # the same data at both levels
    True
    """

    levels: tuple[str, ...]
    free: MultigroupTSSEM2Result
    equal: MultigroupTSSEM2Result
    adjust: str
    _tests: pd.DataFrame = field(repr=False)
    _joint: pd.DataFrame = field(repr=False)

    def tests(self) -> pd.DataFrame:
        """One row per path: parameter, lval, op, rval, ``estimate_<level>`` for each level,
        chi2_diff, df_diff, p_value and the adjusted ``p_<adjust>`` (e.g. ``p_holm``).
        """
        return self._tests.copy()

    def joint(self) -> pd.DataFrame:
        """The joint test, every tested path equal against all free (:func:`masem.compare`)."""
        return self._joint.copy()

    def summary(self) -> pd.DataFrame:
        """Same as :meth:`tests`."""
        return self.tests()

    def __repr__(self) -> str:
        joint = self._joint.iloc[0]
        head = (
            f"CrossLevelTest({len(self._tests)} paths across {', '.join(self.levels)}: joint "
            f"chi2({joint['df_diff']:g}) = {joint['chi2_diff']:.2f}, "
            f"p {p_in_text(joint['p_value'])}; "
            f"per path with {self.adjust} adjustment)"
        )
        table = self._tests.drop(columns=["lval", "op", "rval"])
        for column in ("p_value", f"p_{self.adjust}"):
            table[column] = table[column].map(format_p)
        body = table.to_string(index=False, float_format=lambda v: f"{v:.3f}")
        return head + "\n" + body


def cross_level_test(
    stage1: Mapping[str, object],
    names: Mapping[str, Mapping[str, str]],
    model: str,
    parameters: Sequence[str] | None = None,
    adjust: str = "holm",
    diag_constraints: bool = False,
) -> CrossLevelTest:
    """Compare the paths of one model across levels of analysis: per-path chi-square difference
    tests with a multiplicity correction, and the joint test.

    Each level's stage-1 result is renamed onto common names (:func:`level_input`), one model in
    those names is fitted to all levels jointly with every parameter free at each level
    (:func:`masem.tssem2_multigroup`), each path is held equal across the levels in turn against
    that model (:func:`masem.equality_tests`, chi-square difference on L - 1 df for L levels, p
    adjusted by ``adjust``), and all tested paths are held equal at once for the joint test
    (:func:`masem.compare`). Variances and covariances stay free at every level.

    Parameters
    ----------
    stage1 : mapping of str to TSSEM1Result
        Each level's name and stage-1 result, e.g. ``{"individual": s1, "team": team_s1}``.
    names : mapping of str to mapping of str to str
        For each level, its variables and their common names, e.g. ``{"individual": {"PE":
        "EMP", "TP": "PERF"}, "team": {"T_EMP": "EMP", "T_PERF": "PERF"}}``.
    model : str
        The model, in the common names.
    parameters : list of str, optional
        The paths to test (names, labels or ``"lval ~ rval"`` as in :func:`masem.equality_tests`);
        default every path and loading.
    adjust : str, default "holm"
        Any method of :func:`statsmodels.stats.multitest.multipletests`.
    diag_constraints : bool, default False
        As in :func:`masem.tssem2`.

    Returns
    -------
    CrossLevelTest
        ``tests()`` (per path: the estimate at each level, chi2_diff, df_diff, p_value, the
        adjusted p-value), ``joint()`` (the joint chi-square difference test), the fits ``free``
        and ``equal``.

    Raises
    ------
    DataError
        Fewer than two levels, a level without a mapping, a variable not in its level's stage 1,
        or a model variable missing at a level.
    ModelError
        A bad model or parameter name, or an unknown ``adjust`` method.

    References
    ----------
    Cheung, M. W.-L., & Chan, W. (2005). Meta-analytic structural equation modeling: A two-stage
    approach. *Psychological Methods*, 10(1), 40-64.
    Holm, S. (1979). A simple sequentially rejective multiple test procedure. *Scandinavian
    Journal of Statistics*, 6(2), 65-70.
    Jak, S., & Cheung, M. W.-L. (2020). Meta-analytic structural equation modeling with
    moderating effects on SEM parameters. *Psychological Methods*, 25(4), 430-455.

    Examples
    --------
    >>> import masem
    >>> ex = masem.example_data("Hunter83")
    >>> studies = list(ex.matrices.values())
    >>> first = masem.tssem1(studies[:7], ex.n[:7], method="FEM")
    >>> second = masem.tssem1(studies[7:], ex.n[7:], method="FEM")
    >>> same = {"Ability": "A", "Job_knowledge": "K", "Supervisor": "S"}
    >>> test = masem.cross_level_test({"first": first, "second": second},
    ...                               {"first": same, "second": same}, "K ~ A\\nS ~ K + A")
    >>> test.tests()[["parameter", "chi2_diff", "p_value", "p_holm"]].round(3)
      parameter  chi2_diff  p_value  p_holm
    0      KonA      1.948    0.163   0.326
    1      SonK      0.111    0.739   0.739
    2      SonA      5.157    0.023   0.069
    """
    model = check_model(model)
    if not isinstance(stage1, Mapping) or len(stage1) < 2:
        raise DataError(
            f"stage1 must map at least two level names onto their tssem1() results, got {stage1!r}"
        )
    if not isinstance(names, Mapping) or set(map(str, names)) != set(map(str, stage1)):
        raise DataError(
            f"names must give a mapping of variables for each level {list(stage1)}, got the "
            f"levels {list(names) if isinstance(names, Mapping) else names!r}"
        )
    levels = [str(level) for level in stage1]
    mapped = {str(k): v for k, v in names.items()}
    targets = {level: sorted(map(str, dict(mapped[level]).values())) for level in levels}
    if any(t != targets[levels[0]] for t in targets.values()):
        raise DataError(f"every level must be mapped onto the same common names; got {targets}")
    if not isinstance(adjust, str):
        raise ModelError(f"adjust must name a multipletests method such as 'holm', got {adjust!r}")
    inputs, order = {}, None
    for level, result in zip(levels, stage1.values()):
        try:
            inputs[level] = level_input(result, mapped[level], order)
        except DataError as exc:
            raise DataError(f"level {level!r}: {exc}") from None
        order = order or list(inputs[level].variables)
    with relabel_notes("cross_level_test, all paths free", stacklevel=4):
        free = tssem2_multigroup(inputs, model, diag_constraints=diag_constraints)
    with relabel_notes("cross_level_test, one path equal at a time", stacklevel=4):
        tests = equality_tests(free, parameters=parameters, adjust=adjust)
    with relabel_notes("cross_level_test, the tested paths equal", stacklevel=4):
        equal = tssem2_multigroup(
            inputs, model, equal=list(tests["parameter"]), diag_constraints=diag_constraints
        )
    return CrossLevelTest(
        levels=tuple(levels),
        free=free,
        equal=equal,
        adjust=str(adjust),
        _tests=tests,
        _joint=compare(equal, free),
    )
