"""Effects decomposition of a stage-2 model: total, direct and specific indirect effects.

In a recursive path model with path matrix A (``A[y, x]`` the path from x to y), the effect of x
on y carried by one directed path x -> m1 -> ... -> y is the product of the coefficients along it
(a *specific indirect effect* when the path has mediators), the *direct effect* is ``A[y, x]``,
the *total indirect effect* the sum over all paths with at least one mediator, and the *total
effect* the sum over all paths, which equals the (y, x) element of (I - A)^-1 - I (Bollen, 1987;
Bollen, 1989, ch. 8). The *proportion mediated* is the total indirect effect over the total
effect (MacKinnon, 2008, ch. 4). Correlations among causes (``~~``) carry no effect: the
decomposition covers the directed part of the model only.

:func:`decompose_effects` traces the paths of a fitted :func:`masem.tssem2` model, writes every
effect as a lavaan ``:=`` definition (products of the path labels), and refits the same model
with those definitions to the same stage-1 data. The estimates do not change; the definitions
get tssem2's Wald (delta-method) and likelihood-based intervals and :func:`masem.indirect`'s
parametric-bootstrap intervals, so that nothing of the inference is re-implemented here.
Differences between effects (*contrasts*, e.g. between two specific indirect effects, or between
the indirect effects of two predictors) are definitions too, with the same three intervals
(Preacher & Hayes, 2008; MacKinnon, 2008, ch. 5).

References
----------
Bollen, K. A. (1987). Total, direct, and indirect effects in structural equation models.
*Sociological Methodology*, 17, 37-69.
Bollen, K. A. (1989). *Structural equations with latent variables*. Wiley.
MacKinnon, D. P. (2008). *Introduction to statistical mediation analysis*. Erlbaum.
Preacher, K. J., & Hayes, A. F. (2008). Asymptotic and resampling strategies for assessing and
comparing indirect effects in multiple mediator models. *Behavior Research Methods*, 40(3),
879-891.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pandas as pd

from masem.errors import ConvergenceWarning, ModelError, relabel_notes
from masem.model import lavaan_to_ram
from masem.tssem.indirect import BootstrapResult, indirect, interval_table
from masem.tssem.stage2 import TSSEM2Result, tssem2

__all__ = ["EffectDecomposition", "decompose_effects"]

_INTERVALS = ("wald", "profile", "bootstrap")
# A contrast shortcut: which effects it compares, and whether within a pair or across predictors.
_CONTRAST_SHORTCUTS = {
    "specific": ("specific indirect", "pair"),
    "predictors": ("total indirect", "outcome"),
    "totals": ("total", "outcome"),
}
# More paths than this between two variables means a model far larger than a MASEM study fits.
_MAX_PATHS = 500
# The order in which the definitions can be written: each refers only to earlier ones.
_DEPENDS = {
    "direct": 0,
    "specific indirect": 0,
    "total indirect": 1,
    "total": 2,
    "proportion mediated": 3,
    "contrast": 4,
}
_COLUMNS = ["predictor", "outcome", "effect", "path", "parameter", "expression", "estimate", "se"]


# ----------------------------------------------------------------------------------------------
# The effects of a path model
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Effect:
    """One effect: where it runs, its ':=' name and expression, or its value when it is fixed."""

    predictor: str
    outcome: str
    effect: str  # total, direct, specific indirect, total indirect, proportion mediated, contrast
    path: str
    parameter: str
    expression: str
    constant: float | None = None  # no free parameter involved: the value, without sampling error


def _edges(fit: TSSEM2Result) -> dict[tuple[str, str], str | float]:
    """{(cause, effect): the free parameter's name, or the value of a fixed non-zero path}."""
    table = fit.inspect()
    free = table[table["op"] == "~"]  # paths and loadings (indicator ~ factor)
    edges: dict[tuple[str, str], str | float] = {
        (cause, effect): label
        for effect, cause, label in free[["lval", "rval", "label"]].itertuples(index=False)
    }
    A = fit.A
    names, values = list(A.index), A.to_numpy()
    for i, j in zip(*np.nonzero(values)):
        edges.setdefault((names[j], names[i]), float(values[i, j]))
    return edges


def _children(edges: dict, order: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {v: [] for v in order}
    for cause, effect in edges:
        out[cause].append(effect)
    return {v: sorted(out[v], key=order.index) for v in order}


def _check_recursive(children: dict[str, list[str]]) -> None:
    """Refuse a model with a feedback loop: its path sums are infinite series."""
    state: dict[str, int] = {}  # 1 on the current DFS branch, 2 finished

    def visit(v: str, trail: list[str]) -> None:
        state[v] = 1
        for w in children[v]:
            if state.get(w) == 1:
                loop = (
                    " -> ".join(trail[trail.index(w) :] + [v, w]) if w in trail else v + " -> " + w
                )
                raise ModelError(
                    f"the model is nonrecursive (feedback loop {loop}): its effects are infinite "
                    "sums of paths, so they cannot be listed path by path; decompose a recursive "
                    "model"
                )
            if w not in state:
                visit(w, trail + [v])
        state[v] = 2

    for v in children:
        if v not in state:
            visit(v, [])


def _paths(children: dict[str, list[str]], x: str, y: str) -> list[list[str]]:
    """Every directed path from x to y, shortest first, then in the variables' order."""
    found: list[list[str]] = []

    def walk(v: str, trail: list[str]) -> None:
        if v == y:
            found.append(trail)
            if len(found) > _MAX_PATHS:
                raise ModelError(
                    f"more than {_MAX_PATHS} paths lead from {x} to {y}; choose fewer pairs"
                )
            return
        for w in children[v]:
            walk(w, trail + [w])

    walk(x, [x])
    return sorted(found, key=len)


def _product(path: list[str], edges: dict) -> tuple[str, float | None]:
    """The ':=' product along a path, and its value when every coefficient on it is fixed."""
    symbols = [edges[(a, b)] for a, b in zip(path, path[1:])]
    fixed = math.prod(s for s in symbols if not isinstance(s, str))
    names = [s for s in symbols if isinstance(s, str)]
    if not names:
        return repr(fixed), fixed
    return "*".join(([repr(fixed)] if fixed != 1.0 else []) + names), None


def _sum(terms: list[_Effect]) -> tuple[str, float | None]:
    """A sum of effects, by name (constants inlined), and its value when all are fixed."""
    if all(t.constant is not None for t in terms):
        value = math.fsum(t.constant for t in terms)
        return repr(value), value
    text = [repr(t.constant) if t.constant is not None else t.parameter for t in terms]
    return " + ".join(text), None


class _Names:
    """Identifier-safe ':=' names that clash neither with the model's labels nor with each other."""

    def __init__(self, taken: set[str]):
        self.taken = set(taken)

    def __call__(self, *parts: str) -> str:
        base = re.sub(r"\W", "_", "_".join(parts))
        name, k = base, 2
        while name in self.taken:
            name, k = f"{base}_{k}", k + 1
        self.taken.add(name)
        return name


def _pair_effects(x: str, y: str, paths: list[list[str]], edges: dict, names: _Names) -> list:
    """total, direct, specific indirect, total indirect and proportion mediated of one pair."""
    direct, specific = None, []
    for path in paths:
        expression, value = _product(path, edges)
        if len(path) == 2:
            name = names("direct", x, y)
            direct = _Effect(x, y, "direct", f"{x} -> {y}", name, expression, value)
        else:
            specific.append(
                _Effect(
                    x,
                    y,
                    "specific indirect",
                    " -> ".join(path),
                    names("ind", *path),
                    expression,
                    value,
                )
            )
    out = ([direct] if direct else []) + specific
    if not specific:  # only the direct path: the total effect is the direct effect
        expression, value = _sum(out)
        return [_Effect(x, y, "total", "all paths", names("total", x, y), expression, value)] + out
    expression, value = _sum(specific)
    through = _Effect(
        x, y, "total indirect", "all indirect paths", names("indirect", x, y), expression, value
    )
    expression, value = _sum(([direct] if direct else []) + [through])
    total = _Effect(x, y, "total", "all paths", names("total", x, y), expression, value)
    out = [total] + out + [through]
    if value is not None:
        # Every path is fixed: the share is a number (undefined when the fixed paths cancel).
        if value != 0.0:
            share = through.constant / value
            out.append(_proportion(x, y, names, repr(share), share))
        return out
    if direct is None:  # full mediation by the model's construction, not an estimate
        return out + [_proportion(x, y, names, "1.0", 1.0)]
    numerator = through.parameter if through.constant is None else through.expression
    return out + [_proportion(x, y, names, f"({numerator})/({total.parameter})", None)]


def _proportion(x: str, y: str, names: _Names, expression: str, value: float | None) -> _Effect:
    return _Effect(
        x,
        y,
        "proportion mediated",
        "all indirect paths / all paths",
        names("pm", x, y),
        expression,
        value,
    )


def _check_pairs(pairs, children: dict[str, list[str]]) -> list[tuple[str, str]]:
    """The (predictor, outcome) pairs to decompose: given and checked, or every mediated pair."""
    order = list(children)
    if pairs is None:
        chosen = [
            (x, y)
            for x in order
            for y in order
            if x != y and any(len(p) > 2 for p in _paths(children, x, y))
        ]
        if not chosen:
            raise ModelError(
                "the model has no indirect path (no variable both predicted and predicting), so "
                "there is nothing to decompose; every effect is a direct path"
            )
        return chosen
    given = _pair_items(
        pairs,
        "pairs must be a non-empty list of (predictor, outcome) pairs such as "
        f"[('HPWP', 'CSAT')], or None for every mediated pair; got {pairs!r}",
        "each pair must be (predictor, outcome)",
    )
    checked = []
    for pair, (x, y) in zip(pairs, given):
        unknown = [v for v in (x, y) if v not in children]
        if unknown:
            raise ModelError(
                f"pair {pair!r}: {unknown} not in the model; its variables are {order}"
            )
        if x == y or not _paths(children, x, y):
            raise ModelError(
                f"pair {pair!r}: the model has no directed path from {x} to {y}, so {x} has no "
                "effect on it (a correlation is not an effect)"
            )
        if (x, y) in checked:
            raise ModelError(f"pair {pair!r} is listed twice")
        checked.append((x, y))
    return checked


def _pair_items(values, empty: str, item: str) -> list[tuple[str, str]]:
    """``values`` as a list of two-name tuples; ``empty`` and ``item`` are the error messages."""
    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
        raise ModelError(empty)
    out = []
    for value in values:
        if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != 2:
            raise ModelError(f"{item}, got {value!r}")
        out.append((str(value[0]), str(value[1])))
    return out


def _contrasts(spec, effects: list[_Effect], names: _Names) -> list[_Effect]:
    """Differences between effects: the named pairs, or every pair of one shortcut's kind."""
    if spec is None:
        return []
    if isinstance(spec, str):
        pairs = _shortcut_pairs(spec, effects)
    else:
        pairs = _named_pairs(spec, effects)
    out = []
    for a, b in pairs:
        if a.constant is not None and b.constant is not None:
            value = a.constant - b.constant
            expression = repr(value)
        else:
            value = None
            first = a.parameter if a.constant is None else repr(a.constant)
            second = b.parameter if b.constant is None else repr(b.constant)
            expression = f"{first} - ({second})"
        out.append(
            _Effect(
                a.predictor if a.predictor == b.predictor else f"{a.predictor} vs {b.predictor}",
                a.outcome if a.outcome == b.outcome else f"{a.outcome} vs {b.outcome}",
                "contrast",
                f"{a.parameter} - {b.parameter}",
                names("contrast", a.parameter, b.parameter),
                expression,
                value,
            )
        )
    return out


def _shortcut_pairs(spec: str, effects: list[_Effect]) -> list[tuple[_Effect, _Effect]]:
    if spec not in _CONTRAST_SHORTCUTS:
        raise ModelError(
            f"contrasts must be one of {list(_CONTRAST_SHORTCUTS)} or a list of pairs of effects "
            f"(their parameter names or paths such as 'HPWP -> PE -> CSAT'); got {spec!r}"
        )
    kind, within = _CONTRAST_SHORTCUTS[spec]
    groups: dict[tuple[str, str], list[_Effect]] = {}
    for e in effects:
        if e.effect == kind:
            key = (e.predictor if within == "pair" else "", e.outcome)
            groups.setdefault(key, []).append(e)
    pairs = [
        (group[i], group[j])
        for group in groups.values()
        for i in range(len(group))
        for j in range(i + 1, len(group))
    ]
    if not pairs:
        where = "one predictor-outcome pair" if within == "pair" else "one outcome"
        raise ModelError(
            f"contrasts={spec!r}: the chosen pairs have no two {kind} effects of {where}; "
            "nothing to contrast"
        )
    return pairs


def _named_pairs(spec, effects: list[_Effect]) -> list[tuple[_Effect, _Effect]]:
    lookup = {e.parameter: e for e in effects}
    lookup |= {e.path: e for e in effects if e.effect in ("direct", "specific indirect")}
    given = _pair_items(
        spec,
        f"contrasts must be one of {list(_CONTRAST_SHORTCUTS)} or a non-empty list of pairs of "
        "effects, "
        f"got {spec!r}",
        "each contrast must be a pair (first, second) of effects",
    )
    pairs = []
    for item in given:
        unknown = [v for v in item if v not in lookup]
        if unknown:
            raise ModelError(
                f"contrast {tuple(item)!r}: unknown effect(s) {unknown}; name an effect by its "
                f"parameter or path, one of {sorted(lookup)}"
            )
        a, b = (lookup[v] for v in item)
        if a is b:
            raise ModelError(f"contrast {tuple(item)!r} compares an effect with itself")
        pairs.append((a, b))
    return pairs


# ----------------------------------------------------------------------------------------------
# The refit with the effects as definitions
# ----------------------------------------------------------------------------------------------


def _stage1_of(fit: TSSEM2Result) -> SimpleNamespace:
    """The stage-1 data a fit used (its pooled correlations and their sampling covariance)."""
    names = list(fit.variables)
    R = np.eye(len(names))
    i, j = np.triu_indices(len(names), k=1)  # (0,1), (0,2), ...: the vechs order mirrored
    R[i, j] = R[j, i] = fit.sample_vector.to_numpy()
    return SimpleNamespace(
        pooled=pd.DataFrame(R, index=names, columns=names),
        vcov=fit.acov,
        total_n=fit.n,
        variables=names,
        method=fit.method,
    )


def _syntax(model: str, effects: list[_Effect]) -> str:
    """The model plus one ':=' line per free effect, each after the definitions it refers to."""
    ordered = sorted(effects, key=lambda e: _DEPENDS[e.effect])
    lines = [f"{e.parameter} := {e.expression}" for e in ordered if e.constant is None]
    if not lines:
        return model
    return "\n".join([model.rstrip(), "# effects decomposition (masem.decompose_effects)", *lines])


def _check_intervals(intervals) -> tuple[str, ...]:
    chosen = (intervals,) if isinstance(intervals, str) else intervals
    if (
        not isinstance(chosen, Sequence)
        or not chosen
        or any(c not in _INTERVALS for c in chosen)
        or len(set(chosen)) != len(chosen)
    ):
        raise ModelError(
            f"intervals must name some of {list(_INTERVALS)} once each, got {intervals!r}"
        )
    return tuple(c for c in _INTERVALS if c in chosen)


def _refit(fit: TSSEM2Result, syntax: str, intervals: tuple[str, ...], boot_options: dict):
    """The model with the definitions, refitted: Wald fit, profile fit, bootstrap (or None)."""
    data = _stage1_of(fit)
    with relabel_notes("decompose_effects (the refit with the effect definitions)", stacklevel=4):
        wald = tssem2(data, syntax, diag_constraints=fit.diag_constraints, intervals="wald")
    moved = float(np.max(np.abs(wald._estimates - fit._estimates), initial=0.0))
    if moved > 1e-6:
        warnings.warn(
            f"the refit with the effect definitions moved the estimates by up to {moved:.2g}: "
            "the original fit had not reached the minimum; refit it with start values",
            ConvergenceWarning,
            stacklevel=3,
        )
    profile = None
    if "profile" in intervals:
        with relabel_notes("decompose_effects (likelihood-based intervals)", stacklevel=4):
            profile = tssem2(
                data, syntax, diag_constraints=fit.diag_constraints, intervals="profile"
            )
    boot = indirect(wald, **boot_options) if "bootstrap" in intervals else None
    return wald, profile, boot


def _table(
    effects: list[_Effect], wald: TSSEM2Result, profile, boot: BootstrapResult | None
) -> pd.DataFrame:
    """One row per effect with its estimate, delta-method SE and the requested intervals."""

    def defined(fit: TSSEM2Result) -> pd.DataFrame:
        table = fit.inspect()
        return table[table["op"] == ":="].set_index("label")

    w = defined(wald)
    p = defined(profile) if profile is not None else None
    b = boot.summary().set_index("parameter") if boot is not None else None
    rows = []
    for e in effects:
        row = [e.predictor, e.outcome, e.effect, e.path, e.parameter, e.expression]
        if e.constant is not None:  # a fixed effect has no sampling error: its interval is itself
            value = e.constant
            row += [value, 0.0, value, value]
            row += [value, value] if p is not None else []
            row += [0.0, value, value] if b is not None else []
        else:
            value = float(w.loc[e.parameter, "Estimate"])
            row += [value, float(w.loc[e.parameter, "Std. Err"])]
            row += [float(w.loc[e.parameter, c]) for c in ("ci.lower", "ci.upper")]
            if p is not None:
                row += [float(p.loc[e.parameter, c]) for c in ("ci.lower", "ci.upper")]
            if b is not None:
                row += [float(b.loc[e.parameter, c]) for c in ("boot_se", "ci_lower", "ci_upper")]
        rows.append(row)
    columns = _COLUMNS + ["wald_ci_lower", "wald_ci_upper"]
    columns += ["profile_ci_lower", "profile_ci_upper"] if p is not None else []
    columns += ["boot_se", "boot_ci_lower", "boot_ci_upper"] if b is not None else []
    return pd.DataFrame(rows, columns=columns)


# ----------------------------------------------------------------------------------------------
# The result and the public function
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False, eq=False)
class EffectDecomposition:
    """Result of :func:`decompose_effects` (immutable; DataFrames are built fresh on every access).

    Attributes
    ----------
    model : str
        The lavaan syntax refitted: the original model plus one ``:=`` line per effect that
        involves a free parameter (fixed effects are computed directly).
    intervals : tuple of str
        The intervals computed: some of ``"wald"``, ``"profile"``, ``"bootstrap"`` (all 95%).
    fit : TSSEM2Result
        The refit with Wald intervals (estimates equal to the original fit's).
    profile : TSSEM2Result or None
        The refit with likelihood-based intervals.
    bootstrap : BootstrapResult or None
        The parametric bootstrap of ``fit`` (:func:`masem.indirect`).

    Examples
    --------
    >>> import masem
    >>> ex = masem.example_data("Hunter83")
    >>> s1 = masem.tssem1(ex.matrices, ex.n, method="FEM")
    >>> fit = masem.tssem2(s1, "Job_knowledge ~ Ability\\nSupervisor ~ Ability + Job_knowledge")
    >>> masem.decompose_effects(fit, intervals="wald").effects["effect"].tolist()
    ['total', 'direct', 'specific indirect', 'total indirect', 'proportion mediated']
    """

    model: str
    intervals: tuple[str, ...]
    fit: TSSEM2Result
    profile: TSSEM2Result | None
    bootstrap: BootstrapResult | None
    _table: pd.DataFrame = field(repr=False)

    def summary(self) -> pd.DataFrame:
        """Every effect, then every contrast: predictor, outcome, effect, path, parameter,
        expression, estimate, se (delta method) and the intervals' bounds (``wald_ci_lower``,
        ``wald_ci_upper``, ``profile_ci_lower``, ..., ``boot_se``, ``boot_ci_lower``, ...).
        """
        return self._table.copy()

    @property
    def effects(self) -> pd.DataFrame:
        """The rows of :meth:`summary` that are effects (no contrasts)."""
        table = self._table[self._table["effect"] != "contrast"]
        return table.reset_index(drop=True)

    @property
    def contrasts(self) -> pd.DataFrame:
        """The rows of :meth:`summary` that are contrasts (differences between two effects)."""
        table = self._table[self._table["effect"] == "contrast"]
        return table.reset_index(drop=True)

    def interval_table(self) -> pd.DataFrame:
        """The effects and contrasts with a free parameter in long format (parameter, method,
        estimate, ci_lower, ci_upper), as :func:`masem.tssem.interval_table` gives them, ready
        for :func:`masem.plots.interval_plot`.
        """
        free = self._table.loc[self._table["se"] > 0, "parameter"].tolist()
        wald = self.fit if "wald" in self.intervals else None
        return interval_table(wald, self.profile, self.bootstrap, parameters=free)

    def __repr__(self) -> str:
        table = self._table
        effects = table[table["effect"] != "contrast"]
        n_pairs = len(effects[["predictor", "outcome"]].drop_duplicates())
        head = (
            f"EffectDecomposition({n_pairs} predictor-outcome pairs, "
            f"{int((table['effect'] == 'contrast').sum())} contrasts; "
            f"95% intervals: {', '.join(self.intervals)})"
        )
        columns = [c for c in table.columns if c not in ("parameter", "expression")]
        body = table[columns].to_string(index=False, float_format=lambda v: f"{v:.3f}")
        return head + "\n" + body


def decompose_effects(
    fit: TSSEM2Result,
    pairs: Sequence[tuple[str, str]] | None = None,
    contrasts: str | Sequence[tuple[str, str]] | None = None,
    intervals: str | Sequence[str] = ("wald", "profile", "bootstrap"),
    n_boot: int = 2000,
    seed: int = 2011,
    n_jobs: int = 1,
    progress: bool = True,
) -> EffectDecomposition:
    """Total, direct and specific indirect effects of a stage-2 model, with three kinds of
    intervals, and contrasts between effects.

    For each (predictor, outcome) pair the directed paths of the fitted model are traced on its
    A matrix (Bollen, 1987): the *direct effect* is the path predictor -> outcome, every path
    through mediators is a *specific indirect effect* (the product of its coefficients), the
    *total indirect effect* is their sum and the *total effect* adds the direct effect (the
    element of (I - A)^-1 - I). The *proportion mediated* is total indirect / total (MacKinnon,
    2008); it is only interpretable when the direct and indirect effects have the same sign and
    the total effect is clearly away from zero, otherwise it can exceed 1 or turn negative.

    Each effect is written as a lavaan ``:=`` definition of the path labels (unlabelled paths by
    their automatic names such as ``JSonPE``) and the model is refitted with them to the same
    stage-1 data (same estimates): the delta-method standard error and Wald interval and the
    likelihood-based interval come from :func:`masem.tssem2`, the percentile interval from the
    parametric bootstrap of :func:`masem.indirect` (Cheung, 2009). Contrasts are definitions of
    differences (Preacher & Hayes, 2008). An effect along paths that are all fixed has no
    sampling error: its standard error is 0 and every interval is the value itself.

    Parameters
    ----------
    fit : TSSEM2Result
        A converged :func:`masem.tssem2` fit of a recursive model (no feedback loops).
    pairs : list of (str, str), optional
        (predictor, outcome) pairs, each with a directed path between them, e.g.
        ``[("HPWP", "CSAT"), ("WCH", "CSAT")]``. Default: every pair connected by at least one
        path through a mediator, in the order of the model's variables.
    contrasts : "specific", "predictors", "totals" or list of (str, str), optional
        Differences first - second to estimate: ``"specific"`` compares the specific indirect
        effects within each pair, ``"predictors"`` the total indirect effects and ``"totals"``
        the total effects of every two predictors on the same outcome (e.g. to rank antecedents);
        or explicit pairs of effects, each named by its
        ``parameter`` (see the result) or, for a direct or specific indirect effect, by its path,
        e.g. ``("HPWP -> PE -> CSAT", "WCH -> PE -> CSAT")``. Default: none.
    intervals : str or list of str, default ("wald", "profile", "bootstrap")
        Which 95% intervals to compute; the profile intervals and, above all, the bootstrap take
        most of the time.
    n_boot, seed, n_jobs, progress
        Passed to :func:`masem.indirect` when ``"bootstrap"`` is among the intervals.

    Returns
    -------
    EffectDecomposition
        ``summary()`` (one row per effect and contrast: predictor, outcome, effect, path,
        parameter, expression, estimate, se, ``wald_ci_lower`` / ``wald_ci_upper``,
        ``profile_ci_lower`` / ``profile_ci_upper``, ``boot_se``, ``boot_ci_lower`` /
        ``boot_ci_upper``), ``effects``, ``contrasts``, ``interval_table()``, and the refits
        ``fit``, ``profile``, ``bootstrap`` and their syntax ``model``.

    Raises
    ------
    ModelError
        If ``fit`` is not a converged :func:`masem.tssem2` result, the model is nonrecursive,
        a pair names an unknown variable or has no directed path, a contrast names an unknown
        effect, or an option is unknown.

    References
    ----------
    Bollen, K. A. (1987). Total, direct, and indirect effects in structural equation models.
    *Sociological Methodology*, 17, 37-69.
    Cheung, M. W.-L. (2009). Comparison of methods for constructing confidence intervals of
    standardized indirect effects. *Behavior Research Methods*, 41(2), 425-438.
    MacKinnon, D. P. (2008). *Introduction to statistical mediation analysis*. Erlbaum.
    Preacher, K. J., & Hayes, A. F. (2008). Asymptotic and resampling strategies for assessing
    and comparing indirect effects in multiple mediator models. *Behavior Research Methods*,
    40(3), 879-891.

    Examples
    --------
    >>> import masem
    >>> ex = masem.example_data("Hunter83")
    >>> s1 = masem.tssem1(ex.matrices, ex.n, method="FEM")
    >>> fit = masem.tssem2(s1, "Job_knowledge ~ Ability\\nWork_sample ~ Ability + Job_knowledge\\n"
    ...                        "Supervisor ~ Job_knowledge + Work_sample")
    >>> effects = masem.decompose_effects(fit, pairs=[("Ability", "Supervisor")],
    ...                                   intervals=("wald", "profile"))
    >>> effects.summary()[["effect", "estimate", "se", "profile_ci_lower"]].round(3)
                    effect  estimate     se  profile_ci_lower
    0                total     0.169  0.010             0.150
    1    specific indirect     0.112  0.011             0.092
    2    specific indirect     0.029  0.005             0.019
    3    specific indirect     0.028  0.004             0.019
    4       total indirect     0.169  0.010             0.150
    5  proportion mediated     1.000  0.000             1.000
    >>> effects.effects.loc[3, "path"]
    'Ability -> Job_knowledge -> Work_sample -> Supervisor'
    """
    if not isinstance(fit, TSSEM2Result):
        raise ModelError(
            f"fit must be a tssem2() result, got {type(fit).__name__}; fit the model with "
            "masem.tssem2 first"
        )
    if not fit.converged:
        raise ModelError(
            f"the stage-2 fit did not converge ({fit.message}); its effects would describe an "
            "arbitrary point: fix the fit first (start values, a simpler model)"
        )
    chosen = _check_intervals(intervals)
    edges = _edges(fit)
    children = _children(edges, list(fit.variables + fit.latent))
    _check_recursive(children)
    names = _Names(set(fit.coefficients.index) | set(fit.defined.index) | _labels(fit))
    effects: list[_Effect] = []
    for x, y in _check_pairs(pairs, children):
        effects += _pair_effects(x, y, _paths(children, x, y), edges, names)
    effects += _contrasts(contrasts, effects, names)
    boot_options = {"n_boot": n_boot, "seed": seed, "n_jobs": n_jobs, "progress": progress}
    syntax = _syntax(fit.model, effects)
    wald, profile, boot = _refit(fit, syntax, chosen, boot_options)
    table = _table(effects, wald, profile, boot)
    if "wald" not in chosen:
        table = table.drop(columns=["wald_ci_lower", "wald_ci_upper"])
    return EffectDecomposition(
        model=syntax, intervals=chosen, fit=wald, profile=profile, bootstrap=boot, _table=table
    )


def _labels(fit: TSSEM2Result) -> set[str]:
    """Every label and definition of the model, fixed ones included (a ':=' name must differ)."""
    ram = lavaan_to_ram(fit.model)
    return {c.name for c in ram.cells} | {d.name for d in ram.definitions}
