"""Subgroup MASEM: stage 1 per subgroup of studies, then one stage-2 model fitted to all groups
jointly.

When a study characteristic (a *moderator*, e.g. the industry of the sample) may change the
structural paths, the studies are split by it and TSSEM is run per subgroup (Cheung & Chan, 2005;
Cheung, 2015, sec. 7.4; Jak & Cheung, 2020, call it *subgroup analysis*):

1. :func:`subgroup_tssem` pools the correlation matrices separately in each group (stage 1);
2. :func:`tssem2_multigroup` fits one structural model to the G pooled matrices at once. The groups
   are independent samples of studies, so the WLS fit function is the sum of the groups' functions,

       F(theta) = sum_g (r_g - rho_g(theta_g))' V_g^-1 (r_g - rho_g(theta_g)),

   with theta_g the parameters of group g. A parameter listed in ``equal`` is one parameter shared
   by
   all groups (an *equality constraint*); the others are estimated separately in each group. Its
   minimum is a chi-square on sum_g q_g - k degrees of freedom (k free parameters in all), as in the
   multi-group covariance structure analysis of Joreskog (1971);
3. :func:`equality_tests` constrains one path at a time and reports the chi-square difference
   against the model in which it is free: a significant difference means the path differs between
   the groups.

Jak and Cheung (2020) discuss the limits of this approach: the moderator must be categorical, each
group needs enough studies to estimate its own pooled matrix (every pair of variables observed), and
a continuous moderator must be cut into groups. Their one-stage MASEM (OSMASEM) lets the paths
depend on study-level moderators directly instead; it is not implemented here.

Standard errors come from 2 x the inverse of the full Hessian of the joint F, as in
:func:`masem.tssem2`; with nothing constrained the joint fit reproduces separate stage-2 fits per
group (estimates, standard errors, and chi2 and df as sums).

References
----------
Cheung, M. W.-L., & Chan, W. (2005). Meta-analytic structural equation modeling: A two-stage
approach. *Psychological Methods*, 10(1), 40-64.
Cheung, M. W.-L. (2015). *Meta-analysis: A structural equation modeling approach*. Wiley.
Jak, S., & Cheung, M. W.-L. (2020). Meta-analytic structural equation modeling with moderating
effects on SEM parameters. *Psychological Methods*, 25(4), 430-455.
Joreskog, K. G. (1971). Simultaneous factor analysis in several populations. *Psychometrika*,
36(4), 409-426.
Steiger, J. H. (1998). A note on multiple sample extensions of the RMSEA fit index. *Structural
Equation Modeling*, 5(4), 411-419.
Holm, S. (1979). A simple sequentially rejective multiple test procedure. *Scandinavian Journal of
Statistics*, 6(2), 65-70.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg, stats

from masem._util import frozen
from masem.data import StudyDatabase
from masem.effects import vechs_indices
from masem.errors import ConvergenceWarning, DataError, ModelError
from masem.model import Evaluator, RAMModel, did_you_mean, lavaan_to_ram
from masem.tssem._wls import (
    Z_975,
    Problem,
    Stage2Result,
    check_counts,
    check_estimable,
    check_model_variables,
    defined_estimates,
    estimate_covariance,
    fit_indices,
    solve,
    stage1_inputs,
    stage2_target,
    start_values,
    warn_negative_variances,
    warn_undefined,
)
from masem.tssem.stage1 import TSSEM1Result, tssem1

__all__ = [
    "MultigroupTSSEM2Result",
    "SubgroupTSSEM1Result",
    "equality_tests",
    "subgroup_tssem",
    "tssem2_multigroup",
]

_CELL_NAME = re.compile(r"\s*([A-Za-z_][\w.]*)\s*(=~|~~|~)\s*([A-Za-z_][\w.]*)\s*\Z")


# ----------------------------------------------------------------------------------------------
# Stage 1 per subgroup
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False, eq=False)
class SubgroupTSSEM1Result:
    """Result of :func:`subgroup_tssem`: one :class:`~masem.TSSEM1Result` per group.

    Attributes
    ----------
    by : str or None
        The moderator column the studies were split by (None when the groups were given directly).
    groups : tuple of str
        Group names, in the order of the analysis.
    levels : tuple
        The moderator value of each group (equal to ``groups`` when given directly).
    variables : tuple of str
        The variables pooled, in the same order in every group.
    method : str
        ``"REM"`` or ``"FEM"``.
    study_ids : dict of str to tuple of str
        The studies of each group (those reporting at least one correlation among the variables).
    """

    by: str | None
    groups: tuple[str, ...]
    levels: tuple
    variables: tuple[str, ...]
    method: str
    _results: tuple[TSSEM1Result, ...] = field(repr=False)
    _study_ids: tuple[tuple[str, ...], ...] = field(repr=False)

    @property
    def results(self) -> dict[str, TSSEM1Result]:
        """The stage-1 result of each group, by group name (the input of
        :func:`tssem2_multigroup`).
        """
        return dict(zip(self.groups, self._results))

    @property
    def study_ids(self) -> dict[str, tuple[str, ...]]:
        """The studies pooled in each group."""
        return dict(zip(self.groups, self._study_ids))

    def __getitem__(self, group: str) -> TSSEM1Result:
        if group not in self.groups:
            raise KeyError(f"no group {group!r}; the groups are {list(self.groups)}")
        return self._results[self.groups.index(group)]

    def __len__(self) -> int:
        return len(self.groups)

    def overview(self) -> pd.DataFrame:
        """One row per group: group, level, studies, N, fewest studies behind a pair, converged, Q
        test.
        """
        rows = []
        for group, level, res in zip(self.groups, self.levels, self._results):
            k_cell = res.summary()["k"]
            rows.append(
                {
                    "group": group,
                    "level": level,
                    "studies": res.n_studies,
                    "N": res.total_n,
                    "min_k_pair": int(k_cell.min()),
                    "converged": res.converged,
                    "Q": np.nan if res.Q is None else res.Q,
                    "Q_df": np.nan if res.Q_df is None else res.Q_df,
                    "Q_p": np.nan if res.Q_p is None else res.Q_p,
                }
            )
        return pd.DataFrame(rows)

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """One row per group and pooled correlation: group, var1, var2, estimate, se, z, p,
        ci_lower,
        ci_upper (Wald, at ``level``), (tau2, I2), k, N.
        """
        rows, cols = vechs_indices(len(self.variables))
        frames = []
        for group, res in zip(self.groups, self._results):
            table = res.summary(level).drop(columns=["label"])
            table.insert(0, "group", group)
            table.insert(1, "var1", [self.variables[j] for j in cols])
            table.insert(2, "var2", [self.variables[i] for i in rows])
            frames.append(table)
        return pd.concat(frames, ignore_index=True)

    def __repr__(self) -> str:
        head = (
            f"SubgroupTSSEM1Result({self.method}, by={self.by!r}, {len(self.groups)} groups, "
            f"variables={list(self.variables)})"
        )
        body = self.overview()[["group", "studies", "N", "min_k_pair", "converged"]].to_string(
            index=False
        )
        return head + "\n" + "\n".join("  " + line for line in body.splitlines())


def subgroup_tssem(
    data: StudyDatabase | Mapping,
    variables: Sequence[str] | None = None,
    by: str | None = None,
    *,
    levels: Sequence | None = None,
    method: str = "REM",
    re_type: str = "Diag",
    corrected: bool = False,
    min_k: int = 1,
) -> SubgroupTSSEM1Result:
    """TSSEM stage 1 in each subgroup of studies: the first step of a subgroup (multi-group) MASEM.

    Parameters
    ----------
    data : StudyDatabase or mapping
        A study database (then ``variables`` and ``by`` are required), or a mapping from group name
        to :class:`~masem.StudyMatrices` (e.g. from ``db.subset(...).matrices(...)``), all over the
        same variables; then ``by`` is only a label and ``levels`` must be None.
    variables : list of str
        The variables to pool (required with a database; with a mapping they must match the
        matrices' variables when given).
    by : str
        With a database: a column of ``studies.csv`` whose values define the groups (e.g.
        ``"industry"``). Studies with a missing value are left out.
    levels : sequence, optional
        Which values of ``by`` form groups, in this order (default: every value, sorted as text).
    method : {"REM", "FEM"}
        Stage-1 pooling in every group (see :func:`masem.tssem1`).
    re_type : {"Diag", "Symm", "Zero"}
        Between-study covariance structure for REM.
    corrected : bool
        Correct the correlations for unreliability first (see :meth:`StudyDatabase.matrices`).
    min_k : int, default 1
        Refuse a group in which some pair of variables is reported by fewer than ``min_k`` studies.
        Each group must estimate its own pooled matrix, so every pair must be observed in every
        group; a pair reported by one study leaves its between-study variance undetermined, so a
        larger value is a sensible requirement for REM.

    Returns
    -------
    SubgroupTSSEM1Result
        ``results`` (group -> TSSEM1Result), ``overview()`` (group, studies, N, fewest studies per
        pair, convergence, Q), ``summary()`` (pooled r per group and pair with SE, tau2, I2, k, N).

    Raises
    ------
    DataError
        An unknown column, level or variable; a group with fewer than two studies, or in which a
        pair is reported by fewer than ``min_k`` studies (the message names the group, the pairs
        and their counts); a stage-1 error within a group (prefixed with the group's name).
    ModelError
        An unknown ``method`` or ``re_type``.

    Warns
    -----
    ConvergenceWarning
        The stage-1 notes of each group (a tau2 at its bound, a matrix that is not positive
        definite, ...), prefixed with the group's name.

    References
    ----------
    Cheung, M. W.-L. (2015). *Meta-analysis: A structural equation modeling approach*. Wiley, sec.
    7.4.
    Jak, S., & Cheung, M. W.-L. (2020). Meta-analytic structural equation modeling with moderating
    effects on SEM parameters. *Psychological Methods*, 25(4), 430-455.

    Examples
    --------
    >>> import masem
    >>> db = masem.example_data("Nohe15A1").database()
    >>> s1 = masem.subgroup_tssem(db, ["W1", "S1", "S2"], by="Publication", method="FEM")
    >>> s1.overview()[["group", "studies", "N"]]
      group  studies     N
    0     P       19  7728
    1     U       13  5178
    """
    if isinstance(min_k, bool) or not isinstance(min_k, (int, np.integer)) or min_k < 1:
        raise DataError(f"min_k must be a positive integer (studies per pair), got {min_k!r}.")
    if isinstance(data, StudyDatabase):
        groups, level_values, matrices = _groups_from_database(
            data, variables, by, levels, corrected
        )
    elif isinstance(data, Mapping):
        if levels is not None:
            raise DataError(
                "levels only applies to a database; with a mapping its keys are the groups."
            )
        if corrected:
            raise DataError(
                "corrected=True only applies to a database; build corrected matrices with "
                "db.matrices(..., corrected=True) instead."
            )
        groups, level_values, matrices = _groups_from_mapping(data, variables)
    else:
        raise DataError(
            "data must be a StudyDatabase or a mapping of group name -> StudyMatrices, got "
            f"{type(data).__name__}."
        )
    names = list(matrices[0].variables)
    where = [
        f"group {g!r}" + (f" ({by} = {level!r})" if by is not None else "")
        for g, level in zip(groups, level_values)
    ]
    for m, place in zip(matrices, where):  # every group is checked before any is pooled
        _check_coverage(m, place, min_k)
    results = [_stage1_in_group(m, place, method, re_type) for m, place in zip(matrices, where)]
    return SubgroupTSSEM1Result(
        by=by,
        groups=tuple(groups),
        levels=tuple(level_values),
        variables=tuple(names),
        method=results[0].method,
        _results=tuple(results),
        _study_ids=tuple(tuple(m.study_ids) for m in matrices),
    )


def _groups_from_database(db: StudyDatabase, variables, by, levels, corrected):
    if variables is None:
        raise DataError("variables: give the construct codes to pool, e.g. ['PE', 'SERV', 'TP'].")
    studies = db.studies
    choices = [c for c in studies.columns if c not in ("study_id", "n")]
    if not isinstance(by, str) or by not in choices:
        raise DataError(
            f"by must name a moderator column of studies.csv, one of {choices}; got {by!r}."
        )
    present = sorted(set(studies[by].dropna().tolist()), key=str)
    if levels is None:
        chosen = present
    else:
        if isinstance(levels, str) or not isinstance(levels, Sequence) or len(levels) == 0:
            raise DataError(f"levels must be a list of values of {by}, got {levels!r}.")
        chosen = list(levels)
        absent = [v for v in chosen if v not in present]
        if absent:
            raise DataError(f"no study has {by} = {absent[0]!r}; the values of {by} are {present}.")
        if len({str(v) for v in chosen}) != len(chosen):
            raise DataError(f"levels lists a value more than once: {chosen}.")
    if len(chosen) < 2:
        raise DataError(
            f"{by} has the single value {chosen} here; a subgroup analysis needs at least two "
            "groups."
        )
    matrices = []
    for level in chosen:
        ids = studies.loc[studies[by] == level, "study_id"].tolist()
        matrices.append(db.subset(studies=ids).matrices(variables, corrected=corrected))
    return [str(v) for v in chosen], chosen, matrices


def _groups_from_mapping(data: Mapping, variables):
    if len(data) < 2:
        raise DataError(f"a subgroup analysis needs at least two groups, got {list(data)}.")
    groups = [str(g) for g in data]
    if len(set(groups)) != len(groups):
        raise DataError(f"group names must be distinct as text, got {list(data)}.")
    matrices = list(data.values())
    for group, m in zip(groups, matrices):
        if not all(hasattr(m, a) for a in ("matrices", "n", "variables", "study_ids")):
            raise DataError(
                f"group {group!r}: expected StudyMatrices (from db.matrices(...)), got "
                f"{type(m).__name__}."
            )
    expected = list(variables) if variables is not None else list(matrices[0].variables)
    for group, m in zip(groups, matrices):
        if list(m.variables) != expected:
            raise DataError(
                f"group {group!r} has the variables {list(m.variables)}, but {expected} were "
                "expected; "
                "build every group's matrices over the same variables, in the same order."
            )
    return groups, groups, matrices


def _check_coverage(m, where: str, min_k: int) -> None:
    """Refuse a group too small to estimate its own pooled matrix."""
    if len(m.matrices) < 2:
        raise DataError(
            f"{where}: {len(m.matrices)} "
            f"stud{'y reports' if len(m.matrices) == 1 else 'ies report'} "
            f"correlations among {list(m.variables)}; pooling needs at least two. Merge this group "
            "with another or leave it out (levels=...)."
        )
    stack = np.array([np.asarray(x, dtype=float) for x in m.matrices])
    counts = np.sum(~np.isnan(stack), axis=0)
    names = list(m.variables)
    rows, cols = np.tril_indices(len(names), k=-1)
    short = [
        (names[c], names[r], int(counts[r, c])) for r, c in zip(rows, cols) if counts[r, c] < min_k
    ]
    if short:
        if min_k == 1:
            pairs = ", ".join(f"{a}-{b}" for a, b, _ in short)
            problem = f"no study reports {len(short)} pair(s): {pairs}"
        else:
            listed = ", ".join(f"{a}-{b} (k = {k})" for a, b, k in short)
            problem = f"{len(short)} pair(s) reported by fewer than {min_k} studies: {listed}"
        raise DataError(
            f"{where}: {problem}. Each group needs every pair to estimate its own pooled matrix: "
            "drop "
            "a variable, merge groups, or choose other levels."
        )


def _stage1_in_group(m, where: str, method: str, re_type: str) -> TSSEM1Result:
    """tssem1 on one group; its notes and errors name the group."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            result = tssem1(dict(zip(m.study_ids, m.matrices)), m.n, method=method, re_type=re_type)
    except DataError as exc:
        raise DataError(f"{where}: {exc}") from None
    for item in caught:
        if issubclass(item.category, ConvergenceWarning):
            warnings.warn(f"{where}: {item.message}", ConvergenceWarning, stacklevel=3)
        else:
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
    return result


# ----------------------------------------------------------------------------------------------
# Joint stage 2
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Group:
    """The stage-1 data of one group, restricted to the model's variables."""

    name: str
    r: np.ndarray
    V: np.ndarray
    chol: np.ndarray
    n: int
    method: str


class _JointEvaluator:
    """The groups' RAM models side by side: one parameter vector, the groups' correlations stacked.

    Exposes what :class:`masem.tssem._wls.Problem` needs of an evaluator (``evaluate``, ``n``,
    ``names``, ``n_constraints``), so the joint WLS problem is solved, and its Hessian taken, by
    the stage-2 machinery unchanged: a block-diagonal weight matrix makes the stacked problem the
    sum of the groups' fit functions.
    """

    @classmethod
    def sharing(cls, ev: Evaluator, groups: list[str], equal: tuple[str, ...]) -> _JointEvaluator:
        """One joint parameter per name in ``equal``, one per group and name for the others."""
        shared = set(equal)
        positions: dict[object, int] = {}
        joint_names: list[str] = []
        index = []
        for group in groups:
            idx = []
            for name in ev.names:
                key = name if name in shared else (name, group)
                if key not in positions:
                    positions[key] = len(joint_names)
                    joint_names.append(name if name in shared else f"{name}[{group}]")
                idx.append(positions[key])
            index.append(np.array(idx, dtype=int))
        return cls(ev, index, tuple(joint_names))

    def start(self, group_starts: list[np.ndarray]) -> np.ndarray:
        """Joint start values: a shared parameter starts at the mean of the groups' start values."""
        x0 = np.zeros(self.n)
        counts = np.zeros(self.n)
        for idx, x in zip(self.index, group_starts):
            np.add.at(x0, idx, x)
            np.add.at(counts, idx, 1.0)
        x0 /= counts
        return x0

    def __init__(self, ev: Evaluator, index: list[np.ndarray], names: tuple[str, ...]):
        self.ev = ev
        self.index = index
        self.names = names
        self.n = len(names)
        self.n_constraints = ev.n_constraints * len(index)
        q = len(ev.rows)
        self.rows = [np.arange(g * q, (g + 1) * q) for g in range(len(index))]
        m = ev.n_constraints
        self.h_rows = [np.arange(g * m, (g + 1) * m) for g in range(len(index))]
        # The model's constraints hold in every group; one that involves only parameters shared
        # by all groups is the same constraint in each, so it is kept once.
        shared = {
            name for name in ev.names if len({int(idx[ev.names.index(name)]) for idx in index}) == 1
        }
        once = [k for k, con in enumerate(ev.ram.constraints) if _group_free(ev, con, shared)]
        self.constraint_rows = [
            [k for k in range(len(ev.constraint_ops)) if g == 0 or k not in once]
            for g in range(len(index))
        ]
        self.constraint_ops = tuple(
            ev.constraint_ops[k] for rows in self.constraint_rows for k in rows
        )

    def evaluate(self, theta: np.ndarray) -> dict:
        parts = [self.ev.evaluate(theta[idx]) for idx in self.index]
        q, m = len(self.ev.rows), self.ev.n_constraints
        G = len(parts)
        J = np.zeros((G * q, self.n))
        Jh = np.zeros((G * m, self.n))
        for g, (part, idx) in enumerate(zip(parts, self.index)):
            # Within a group every parameter has its own joint position, so plain assignment is
            # exact.
            J[np.ix_(self.rows[g], idx)] = part["J"]
            Jh[np.ix_(self.h_rows[g], idx)] = part["Jh"]
        g_parts, Jg = [], np.zeros((len(self.constraint_ops), self.n))
        at = 0
        for part, idx, rows in zip(parts, self.index, self.constraint_rows):
            g_parts.append(part["g"][rows])
            Jg[at : at + len(rows)][:, idx] = part["Jg"][rows]
            at += len(rows)
        return {
            "rho": np.concatenate([p["rho"] for p in parts]),
            "J": J,
            "h": np.concatenate([p["h"] for p in parts]),
            "Jh": Jh,
            "g": np.concatenate(g_parts) if g_parts else np.zeros(0),
            "Jg": Jg,
            "groups": parts,
        }


def _group_free(ev: Evaluator, constraint, shared: set[str]) -> bool:
    """Whether a constraint is the same in every group: it uses only shared free parameters,
    constants and fixed labels (through its definitions too), and no computed variance.
    """
    definitions = {d.name: d for d in ev.ram.definitions}
    names, seen = list(constraint.names), set()
    while names:
        name = names.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in definitions:
            names.extend(definitions[name].names)
        elif name in ev.computed_names or (name in ev.names and name not in shared):
            return False
    return True


@dataclass(frozen=True, repr=False, eq=False)
class MultigroupTSSEM2Result(Stage2Result):
    """Result of :func:`tssem2_multigroup` (immutable; DataFrames are built fresh on every access).

    Attributes
    ----------
    model : str
        The lavaan syntax (the same model in every group).
    groups : tuple of str
        Group names, in the order fitted.
    equal : tuple of str
        Parameters held equal across the groups (their names in the model).
    variables, latent : tuple of str
        Observed and latent variables of the model.
    n : int
        Total sample size over the groups (the N of RMSEA and BIC).
    n_by_group : tuple of int
        Stage-1 total sample size of each group.
    method : str
        The stage-1 method.
    diag_constraints : bool
        Whether the error variances were free parameters under diag(Sigma) = 1.
    converged, message, iterations, grad_norm
        Optimiser report of the joint fit.

    Examples
    --------
    >>> import masem
    >>> ex = masem.example_data("Becker92")
    >>> studies = list(ex.matrices.values())
    >>> stage1 = {"first three": masem.tssem1(studies[:3], ex.n[:3], method="FEM"),
    ...           "last three": masem.tssem1(studies[3:], ex.n[3:], method="FEM")}
    >>> fit = masem.tssem2_multigroup(stage1, "Math ~ Spatial + Verbal", equal="all")
    >>> fit.groups, fit.equal
    (('first three', 'last three'), ('MathonSpatial', 'MathonVerbal', 'SpatialwithVerbal'))
    """

    groups: tuple[str, ...]
    equal: tuple[str, ...]
    n_by_group: tuple[int, ...]
    _rows: tuple = field(repr=False)
    _defined: tuple = field(repr=False)
    _group_fit: tuple = field(repr=False)
    _implied: tuple[np.ndarray, ...] = field(repr=False)
    _index: tuple[np.ndarray, ...] = field(repr=False)
    _data: tuple[_Group, ...] = field(repr=False)
    _ram: RAMModel = field(repr=False)

    _family = "tssem2_multigroup()"

    @property
    def implied(self) -> dict[str, pd.DataFrame]:
        """Model-implied correlation matrix of each group."""
        v = list(self.variables)
        return {
            g: pd.DataFrame(m.copy(), index=v, columns=v)
            for g, m in zip(self.groups, self._implied)
        }

    def inspect(self) -> pd.DataFrame:
        """Parameter table, one block of rows per group: free parameters, then ``:=`` definitions.

        Columns: group, lval, op, rval, label, equal (held equal across groups), Estimate,
        Std. Err, z-value, p-value, ci.lower, ci.upper (95% Wald intervals).
        """
        se = np.sqrt(np.diag(self._vcov))
        rows = []
        for group, lval, op, rval, label, j, shared, default in self._rows:
            est, s = self._estimates[j], se[j]
            rows.append(
                (
                    group,
                    lval,
                    op,
                    rval,
                    label,
                    shared,
                    est,
                    s,
                    est - Z_975 * s,
                    est + Z_975 * s,
                    default,
                )
            )
        for group, name, expression, value, s in self._defined:
            rows.append(
                (
                    group,
                    name,
                    ":=",
                    expression,
                    name,
                    False,
                    value,
                    s,
                    value - Z_975 * s,
                    value + Z_975 * s,
                    False,
                )
            )
        return self._parameter_table(["group", "lval", "op", "rval", "label", "equal"], rows)

    def by_group(self, parameter: str) -> pd.DataFrame:
        """One parameter in every group: estimate, standard error and 95% Wald interval side by
        side.

        Parameters
        ----------
        parameter : str
            A free parameter, named as in ``equal`` of :func:`tssem2_multigroup` (its label
            ``"s"``, automatic name ``"SERVonPE"`` or element ``"SERV ~ PE"``), or the name of a
            ``:=`` definition (``"LEAD_SERV"``).

        Returns
        -------
        pandas.DataFrame
            Indexed by group (in the order fitted): estimate, se, ci_lower, ci_upper, and
            equal (True when the parameter is held equal across the groups).

        Raises
        ------
        ModelError
            ``parameter`` is not a string, or names no free parameter or definition of the model
            (the message lists them).

        Examples
        --------
        >>> import masem
        >>> db = masem.example_data("Nohe15A1").database()
        >>> stage1 = masem.subgroup_tssem(db, ["W1", "S2"], by="Publication", method="FEM")
        >>> free = masem.tssem2_multigroup(stage1, "S2 ~ s*W1")
        >>> free.by_group("s")[["estimate", "equal"]].round(3)  # doctest: +NORMALIZE_WHITESPACE
               estimate  equal
        group
        P         0.269  False
        U         0.406  False
        """
        if not isinstance(parameter, str):
            raise ModelError(
                f"parameter must be a parameter name such as 's' or 'SERV ~ PE', got {parameter!r}"
            )
        table = self.inspect()
        defined = table["op"] == ":="
        if parameter.strip() in set(table.loc[defined, "lval"]):
            rows = table[defined & (table["lval"] == parameter.strip())]
        else:
            name = _parameter_name(
                self._ram,
                Evaluator(self._ram, computed=not self.diag_constraints),
                parameter,
                what="parameter",
            )
            # A label shared by several elements is one parameter: keep its first element per group.
            rows = table[~defined & (table["label"] == name)].drop_duplicates("group")
        rows = rows.rename(
            columns={
                "Estimate": "estimate",
                "Std. Err": "se",
                "ci.lower": "ci_lower",
                "ci.upper": "ci_upper",
            }
        )
        return rows.set_index("group")[["estimate", "se", "ci_lower", "ci_upper", "equal"]]

    def group_fit(self) -> pd.DataFrame:
        """One row per group: n, correlations q, its share of chi2, its SRMR, its independence
        chi2.
        """
        return pd.DataFrame([dict(row) for row in self._group_fit])

    def _data_key(self) -> tuple:
        return (self.groups, self.variables)

    def _data_label(self) -> str:
        return f"groups {list(self.groups)}, variables {list(self.variables)}"

    def _fitted_data(self) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
        return tuple((g.r, g.V) for g in self._data)

    def _repr_head(self) -> str:
        equal = "none" if not self.equal else ", ".join(self.equal)
        return f"groups={list(self.groups)}, equal=[{equal}], n={self.n}"


def tssem2_multigroup(
    stage1: SubgroupTSSEM1Result | Mapping,
    model: str,
    equal: str | Sequence[str] = "none",
    partial: str | Sequence[str] | None = None,
    diag_constraints: bool = False,
) -> MultigroupTSSEM2Result:
    """Subgroup MASEM stage 2: one structural model fitted jointly to several groups' pooled
    matrices.

    The groups' stage-1 results are independent, so the weighted least squares function of
    :func:`masem.tssem2` becomes a sum over groups (Cheung & Chan, 2005; Jak & Cheung, 2020),

        F(theta) = sum_g (r_g - rho_g(theta_g))' V_g^-1 (r_g - rho_g(theta_g)),

    minimised over all groups' parameters at once. Parameters named in ``equal`` take one value in
    every group; the others are estimated per group. With nothing equal the fit is exactly that of
    separate :func:`masem.tssem2` fits (their chi2 and df add up); constraints add (G - 1) df each.

    Parameters
    ----------
    stage1 : SubgroupTSSEM1Result or mapping
        A :func:`subgroup_tssem` result, or a mapping from group name to a stage-1 result (anything
        :func:`masem.tssem2` accepts). Every group must hold the model's variables.
    model : str
        lavaan syntax, the same in every group (see :func:`masem.tssem2`). Its ``==`` / ``<`` /
        ``>`` constraints hold in every group; one that involves only parameters held equal
        across the groups is the same constraint in each and counts once.
    equal : "none", "all", str or list of str
        The parameters held equal across groups: ``"none"`` (default, every parameter free in each
        group), ``"all"`` (every free parameter shared), or parameters named by their label
        (``"s"``), their automatic name (``"SERVonPE"``) or as written, ``"SERV ~ PE"``,
        ``"F =~ x"``, ``"a ~~ b"``. A label shared by several paths within the model constrains
        them all.
    partial : str or list of str, optional
        Parameters to leave free although ``equal`` covers them (lavaan's ``group.partial``), e.g.
        ``equal="all", partial=["SERV ~ PE"]``: a model of *partial* invariance.
    diag_constraints : bool
        As in :func:`masem.tssem2`. With False (default) error variances are computed from
        diag(Sigma) = 1 in each group and cannot be named in ``equal``.

    Returns
    -------
    MultigroupTSSEM2Result
        ``inspect()`` (one block per group, a ``group`` and an ``equal`` column, 95% Wald
        intervals; ``:=`` definitions per group), ``fit_stats()``, ``group_fit()``, ``implied``
        (per group), ``coefficients`` and ``vcov`` of the joint parameters.

    Raises
    ------
    ModelError
        Fewer than two groups, an unknown or fixed parameter in ``equal`` or ``partial``, a
        ``partial`` parameter that ``equal`` does not cover, a non-identified model.
    DataError
        A group without the model's variables, or whose stage-1 sampling covariance is not
        positive definite.

    Warns
    -----
    ConvergenceWarning
        Non-convergence, a Hessian that is not positive definite, a negative error variance in a
        group.

    Notes
    -----
    Standard errors are sqrt(diag(2 H^-1)) with H the full Hessian of the joint F (as in
    :func:`masem.tssem2`). Fit statistics: chi2 = F_min, df = sum_g q_g - k + constraints. RMSEA
    uses the multi-group convention of Steiger (1998): sqrt(G) sqrt(max(chi2 - df, 0) /
    ((N - 1) df)) with N the total sample size, its 90% interval scaled alike. CFI and TLI compare
    with the multi-group independence model (all correlations zero in every group: chi2 = sum_g
    r_g' V_g^-1 r_g on sum_g q_g df). SRMR is the N-weighted mean of the groups' SRMR.

    References
    ----------
    Cheung, M. W.-L., & Chan, W. (2005). Meta-analytic structural equation modeling: A two-stage
    approach. *Psychological Methods*, 10(1), 40-64.
    Jak, S., & Cheung, M. W.-L. (2020). Meta-analytic structural equation modeling with moderating
    effects on SEM parameters. *Psychological Methods*, 25(4), 430-455.
    Joreskog, K. G. (1971). Simultaneous factor analysis in several populations. *Psychometrika*,
    36(4), 409-426.
    Steiger, J. H. (1998). A note on multiple sample extensions of the RMSEA fit index.
    *Structural Equation Modeling*, 5(4), 411-419.

    Examples
    --------
    >>> import masem
    >>> db = masem.example_data("Nohe15A1").database()
    >>> s1 = masem.subgroup_tssem(db, ["W1", "S1", "S2"], by="Publication", method="FEM")
    >>> free = masem.tssem2_multigroup(s1, "S2 ~ s*W1 + S1")
    >>> same = masem.tssem2_multigroup(s1, free.model, equal=["s", "S2 ~ S1"])
    >>> masem.compare(same, free)[["chi2_diff", "df_diff", "p_value"]].round(3)
       chi2_diff  df_diff  p_value
    0     18.491      2.0      0.0
    """
    if not isinstance(diag_constraints, (bool, np.bool_)):
        raise ModelError(f"diag_constraints must be True or False, got {diag_constraints!r}")
    ram, groups = _prepare(stage1, model)
    ev = Evaluator(ram, computed=not diag_constraints)
    check_estimable(ev)
    names = _resolve_equal(ram, ev, equal)
    if partial is not None:
        freed = _resolve_equal(
            ram, ev, [partial] if isinstance(partial, str) else partial, what="partial"
        )
        stray = [n for n in freed if n not in names]
        if stray:
            raise ModelError(
                f"partial: {stray} {'is' if len(stray) == 1 else 'are'} not held equal by "
                f"equal={equal!r}, "
                "so there is nothing to free; partial only exempts parameters that equal covers"
            )
        names = tuple(n for n in names if n not in freed)
    return _fit_joint(ram, ev, groups, names, bool(diag_constraints))


def equality_tests(
    fit: MultigroupTSSEM2Result,
    parameters: Sequence[str] | None = None,
    adjust: str | None = "holm",
) -> pd.DataFrame:
    """Test each parameter in turn for equality across groups (chi-square difference tests).

    For every parameter, the model of ``fit`` is refitted with that parameter also held equal
    across the groups, and compared with ``fit``: under equality the difference in chi2 follows a
    chi-square distribution with G - 1 df (the restricted model is nested in ``fit``).

    Parameters
    ----------
    fit : MultigroupTSSEM2Result
        The general model, usually every parameter free (``equal="none"``).
    parameters : list of str, optional
        Parameters to test, named as in ``equal`` of :func:`tssem2_multigroup`. Default: every
        path and loading (``~`` / ``=~``) that ``fit`` does not already hold equal.
    adjust : str or None, default "holm"
        Correction for testing several parameters, any ``method`` of
        :func:`statsmodels.stats.multitest.multipletests` (``"holm"``, ``"bonferroni"``,
        ``"fdr_bh"``, ...), reported in a column ``p_<adjust>``; None for none.

    Returns
    -------
    pandas.DataFrame
        One row per parameter: parameter, lval, op, rval (its first element in the model), one
        ``estimate_<group>`` column per group (from ``fit``), chi2_diff, df_diff, p_value and the
        adjusted p-value.

    Raises
    ------
    ModelError
        ``fit`` is not a :func:`tssem2_multigroup` result, a parameter is unknown, fixed or
        already equal, or nothing is left to test.

    References
    ----------
    Jak, S., & Cheung, M. W.-L. (2020). *Psychological Methods*, 25(4), 430-455.
    Holm, S. (1979). A simple sequentially rejective multiple test procedure. *Scandinavian
    Journal of Statistics*, 6(2), 65-70.

    Examples
    --------
    >>> import masem
    >>> db = masem.example_data("Nohe15A1").database()
    >>> s1 = masem.subgroup_tssem(db, ["W1", "S1", "S2"], by="Publication", method="FEM")
    >>> free = masem.tssem2_multigroup(s1, "S2 ~ s*W1 + S1")
    >>> masem.equality_tests(free)[["parameter", "chi2_diff", "df_diff"]].round(3)
      parameter  chi2_diff  df_diff
    0         s      1.629      1.0
    1    S2onS1      6.329      1.0
    """
    if not isinstance(fit, MultigroupTSSEM2Result):
        raise ModelError(
            f"fit must be a tssem2_multigroup() result, got {type(fit).__name__}; fit the model "
            "first"
        )
    ev = Evaluator(fit._ram, computed=not fit.diag_constraints)
    if parameters is None:
        paths = {c.name for c in fit._ram.cells if c.matrix == "A" and c.fixed is None}
        names = tuple(n for n in ev.names if n in paths and n not in fit.equal)
        if not names:
            raise ModelError(
                f"every path of the model is already equal across groups ({list(fit.equal)}); "
                "nothing to test"
            )
    else:
        if isinstance(parameters, str):
            parameters = [parameters]
        names = _resolve_equal(fit._ram, ev, list(parameters), what="parameters")
        already = [n for n in names if n in fit.equal]
        if already:
            raise ModelError(
                f"{already} are already equal across groups in fit; test other parameters"
            )
    if adjust is not None and not isinstance(adjust, str):
        raise ModelError(
            f"adjust must be a multipletests method name such as 'holm', or None; got {adjust!r}"
        )
    base = dict(fit._fit)
    starts = [fit._estimates[idx] for idx in fit._index]
    first_cell = {}
    for _, lval, op, rval, label, *_ in fit._rows:
        first_cell.setdefault(label, (lval, op, rval))
    rows = []
    for name in names:
        restricted = _fit_joint(
            fit._ram, ev, list(fit._data), fit.equal + (name,), fit.diag_constraints, starts
        )
        r_fit = dict(restricted._fit)
        d_chi2 = r_fit["chi2"] - base["chi2"]
        if d_chi2 < -1e-6 * max(1.0, base["chi2"]):
            warnings.warn(
                f"holding {name} equal improved the fit (chi2 {r_fit['chi2']:.4f} < "
                f"{base['chi2']:.4f}): "
                "one of the fits did not reach its minimum; refit with start values",
                ConvergenceWarning,
                stacklevel=2,
            )
        d_chi2 = max(d_chi2, 0.0)
        d_df = r_fit["df"] - base["df"]
        k = ev.names.index(name)
        row = {"parameter": name, **dict(zip(("lval", "op", "rval"), first_cell[name]))}
        for group, idx in zip(fit.groups, fit._index):
            row[f"estimate_{group}"] = float(fit._estimates[idx[k]])
        row |= {"chi2_diff": d_chi2, "df_diff": d_df, "p_value": float(stats.chi2.sf(d_chi2, d_df))}
        rows.append(row)
    table = pd.DataFrame(rows)
    if adjust is not None:
        try:
            from statsmodels.stats.multitest import (
                multipletests,
            )  # imported when used: statsmodels is slow to load

            table[f"p_{adjust}"] = multipletests(table["p_value"].to_numpy(), method=adjust)[1]
        except ValueError:
            raise ModelError(
                f"adjust={adjust!r} is not a multipletests method; use e.g. 'holm', 'bonferroni' "
                "or 'fdr_bh'"
            ) from None
    return table


def _prepare(stage1, model: str) -> tuple[RAMModel, list[_Group]]:
    """Validate the groups' stage-1 results and the model; restrict each group to the model's
    variables.
    """
    if isinstance(stage1, SubgroupTSSEM1Result):
        items = list(stage1.results.items())
    elif isinstance(stage1, Mapping):
        items = [(str(g), s) for g, s in stage1.items()]
    else:
        raise DataError(
            "stage1 must be a subgroup_tssem() result or a mapping {group name: tssem1 result}, "
            f"got {type(stage1).__name__}"
        )
    if len(items) < 2:
        raise ModelError(
            f"a multi-group fit needs at least two groups, got {[g for g, _ in items]}"
        )
    if len({g for g, _ in items}) != len(items):
        raise ModelError(f"group names must be distinct as text, got {[g for g, _ in items]}")
    if not isinstance(model, str):
        raise ModelError(f"model must be lavaan syntax in a str, got {type(model).__name__}")
    inputs = []
    for group, s1 in items:
        try:
            inputs.append(stage1_inputs(s1))
        except DataError as exc:
            raise DataError(f"group {group!r}: {exc}") from None
    probe = lavaan_to_ram(model)
    for (group, _), (variables, *_rest) in zip(items, inputs):
        check_model_variables(probe, variables, where=f"group {group!r}: ", missing_error=DataError)
    first = inputs[0][0]
    used = [v for v in first if v in probe.observed]
    ram = probe.with_observed(used)
    groups = []
    for (group, _), (variables, pooled, acov, total_n, method) in zip(items, inputs):
        r, V, chol = stage2_target(variables, pooled, acov, used, where=f"group {group!r}: ")
        groups.append(_Group(name=group, r=r, V=V, chol=chol, n=int(total_n), method=method))
    return ram, groups


def _resolve_equal(ram: RAMModel, ev: Evaluator, equal, what: str = "equal") -> tuple[str, ...]:
    """The free parameters named by ``equal`` (or ``partial``), in model order."""
    if what == "equal" and isinstance(equal, str) and equal in ("none", "all"):
        return () if equal == "none" else ev.names
    items = [equal] if isinstance(equal, str) else equal
    if not isinstance(items, Sequence) or not all(isinstance(x, str) for x in items):
        shortcuts = "'none', 'all', " if what == "equal" else ""
        raise ModelError(
            f"{what} must be {shortcuts}a parameter name or a list of them; got {equal!r}"
        )
    chosen = {_parameter_name(ram, ev, item, what) for item in items}
    return tuple(n for n in ev.names if n in chosen)


def _parameter_name(ram: RAMModel, ev: Evaluator, item: str, what: str = "equal") -> str:
    """The free parameter a label, automatic name or 'lval op rval' refers to."""
    name = item.strip()
    match = _CELL_NAME.match(item)
    if match:
        lval, op, rval = match.groups()
        cell = None
        for c in ram.cells:
            if op == "=~" and (c.matrix, c.row, c.col) == ("A", rval, lval):
                cell = c
            elif op == "~" and (c.matrix, c.row, c.col) == ("A", lval, rval):
                cell = c
            elif op == "~~" and c.matrix == "S" and {c.row, c.col} == {lval, rval}:
                cell = c
        if cell is None:
            raise ModelError(
                f"{what}: the model has no element {item.strip()!r}; its parameters are "
                f"{list(ev.names)}"
            )
        if cell.fixed is not None:
            raise ModelError(
                f"{what}: {item.strip()!r} is fixed at {cell.fixed:g} in the model, so it is "
                "already the "
                "same in every group; list free parameters only"
            )
        name = cell.name
    if name in ev.names:
        return name
    if name in ev.computed_names:
        raise ModelError(
            f"{what}: {item.strip()!r} is an error variance, which diag_constraints=False computes "
            "from "
            "diag(Sigma) = 1 in each group rather than estimates; use diag_constraints=True to "
            "constrain it"
        )
    if name in ev.fixed_labels:
        raise ModelError(
            f"{what}: the label {name!r} is fixed in the model; list free parameters only"
        )
    raise ModelError(
        f"{what}: unknown parameter {item!r}{did_you_mean(name, ev.names)}; name a label or "
        f"automatic name {list(ev.names)}, or an element as written in the model, e.g. "
        "'SERV ~ PE'"
    )


def _fit_joint(
    ram: RAMModel,
    ev: Evaluator,
    groups: list[_Group],
    equal: tuple[str, ...],
    diag: bool,
    group_starts: list[np.ndarray] | None = None,
) -> MultigroupTSSEM2Result:
    """Minimise the summed WLS function with the parameters in ``equal`` shared across groups."""
    joint = _JointEvaluator.sharing(ev, [g.name for g in groups], equal)
    q_total = len(ev.rows) * len(groups)
    equalities = sum(op == "==" for op in joint.constraint_ops)
    check_counts(joint.n, joint.n_constraints + equalities, q_total, "over the groups ")
    chol_inv = frozen(
        linalg.block_diag(
            *[linalg.solve_triangular(g.chol, np.eye(len(g.r)), lower=True) for g in groups]
        )
    )
    problem = Problem(joint, np.concatenate([g.r for g in groups]), chol_inv)
    starts = group_starts if group_starts is not None else [start_values(ev, g.r) for g in groups]
    sol = solve(problem, joint.start(starts), "the multi-group stage 2")
    problem = problem.with_active(sol.active)
    vcov = estimate_covariance(problem, sol)
    parts = sol.state["groups"]
    fit, group_rows = _joint_fit_statistics(ram, groups, parts, sol, problem)
    shared = set(equal)
    rows = tuple(
        (g.name, c.row, c.op, c.col, c.name, int(idx[k]), ev.names[k] in shared, bool(c.default))
        for g, idx in zip(groups, joint.index)
        for c, _, _, k in ev.cells
    )
    defined = tuple(
        (g.name, *row)
        for g, idx, part in zip(groups, joint.index, parts)
        for row in defined_estimates(ev, sol.x[idx], part, vcov, index=idx)
    )
    warn_undefined(sorted({f"{d[1]} ({d[0]})" for d in defined if not np.isfinite(d[3])}))
    return MultigroupTSSEM2Result(
        model=ram.syntax,
        groups=tuple(g.name for g in groups),
        equal=tuple(equal),
        variables=ram.observed,
        latent=ram.latent,
        n=int(sum(g.n for g in groups)),
        n_by_group=tuple(g.n for g in groups),
        method="/".join(sorted({g.method for g in groups})),
        diag_constraints=diag,
        converged=sol.converged,
        message=sol.message,
        iterations=sol.iterations,
        grad_norm=sol.grad_norm,
        _names=joint.names,
        _estimates=frozen(sol.x),
        _vcov=frozen(vcov),
        _rows=rows,
        _defined=defined,
        _fit=tuple(fit.items()),
        _group_fit=tuple(tuple(row.items()) for row in group_rows),
        _implied=tuple(frozen(part["sigma"]) for part in parts),
        _index=tuple(frozen(idx, dtype=int) for idx in joint.index),
        _data=tuple(groups),
        _ram=ram,
    )


def _joint_fit_statistics(
    ram: RAMModel, groups: list[_Group], parts: list[dict], sol, problem
) -> tuple[dict, list]:
    """The joint fit indices (Steiger's multi-group RMSEA) and each group's share; Heywood cases by
    group.
    """
    group_rows = []
    srmr_weighted = 0.0
    indep = 0.0
    n_total = sum(g.n for g in groups)
    for g, part in zip(groups, parts):
        z = linalg.solve_triangular(g.chol, g.r - part["rho"], lower=True)
        srmr = float(np.sqrt(np.mean((g.r - part["rho"]) ** 2)))
        indep_g = float(np.sum(linalg.solve_triangular(g.chol, g.r, lower=True) ** 2))
        group_rows.append(
            {
                "group": g.name,
                "n": g.n,
                "q": len(g.r),
                "chi2": float(z @ z),
                "SRMR": srmr,
                "chi2_indep": indep_g,
            }
        )
        srmr_weighted += g.n * srmr / n_total
        indep += indep_g
        warn_negative_variances(ram.variables, part["S"], where=f"group {g.name!r}: ")
    joint = problem.ev
    q_total = sum(len(g.r) for g in groups)
    chi2 = max(sol.f, 0.0)
    df = q_total - joint.n + joint.n_constraints + problem.n_model_constraints
    fit = fit_indices(chi2, df, indep, q_total, n_total, srmr_weighted, joint.n_constraints)
    # Steiger's (1998) multi-group RMSEA: the noncentrality is spread over G groups.
    for key in ("RMSEA", "RMSEA_lower", "RMSEA_upper"):
        fit[key] *= math.sqrt(len(groups))
    fit["n_groups"] = float(len(groups))
    return fit, group_rows
