"""Structural relations side by side: pooled correlations, paths, levels of analysis, population.

Seibert, Wang & Courtright (2011) meta-analysed empowerment at the individual and the team level
and compared the relations side by side. For each relation this module collects, from one level's
stage-1 and stage-2 results, the evidence behind it (studies k and total N of the pair), the
pooled correlation with its interval (stage 1: model-free, directly comparable across levels)
and the structural path with its interval (stage 2: a partial effect, which depends on the other
predictors in that level's model). :func:`level_comparison` stacks several levels;
:func:`structural_paths` lists a model's paths, next to the population values of a simulation when
one is given; :func:`pooled_correlations` looks up named pairs of a stage-1 result.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from masem.errors import ModelError
from masem.tssem.stage2 import TSSEM2Result

__all__ = ["level_comparison", "path_summary", "pooled_correlations", "structural_paths"]

_COLUMNS = [
    "relation",
    "level",
    "path",
    "k",
    "N",
    "r",
    "r_ci_lower",
    "r_ci_upper",
    "estimate",
    "se",
    "ci_lower",
    "ci_upper",
    "p_value",
    "interval",
]
_CORRELATION_COLUMNS = ["var1", "var2", "k", "N", "r", "r_ci_lower", "r_ci_upper"]
_PATH_COLUMNS = [
    "effect",
    "cause",
    "label",
    "estimate",
    "se",
    "p_value",
    "ci_lower",
    "ci_upper",
    "interval",
]


def _check_stage2(stage2: object) -> None:
    if not isinstance(stage2, TSSEM2Result):
        raise ModelError(f"stage2 must be a tssem2() result, got {type(stage2).__name__}")


def _check_relations(relations: object, argument: str) -> dict[str, tuple[str, str]]:
    """{name: (a, b)} with both names as strings; ModelError naming the relation otherwise."""
    if not isinstance(relations, Mapping) or not relations:
        raise ModelError(
            f"{argument} must be a non-empty mapping {{relation name: (cause, effect)}}, got "
            f"{relations!r}"
        )
    checked = {}
    for relation, pair in relations.items():
        if isinstance(pair, str) or not hasattr(pair, "__len__") or len(pair) != 2:
            raise ModelError(f"relation {relation!r}: give (cause, effect), got {pair!r}")
        checked[str(relation)] = (str(pair[0]), str(pair[1]))
    return checked


def _cells(stage1: object) -> tuple[list[str], pd.DataFrame]:
    """The stage-1 variables and its summary indexed by pair label."""
    if not hasattr(stage1, "summary") or not hasattr(stage1, "variables"):
        raise ModelError(
            "stage1 must be the tssem1() result the model was fitted to, got "
            f"{type(stage1).__name__}"
        )
    correlations = stage1.summary()
    lacking = {"label", "estimate", "ci_lower", "ci_upper", "k", "N"} - set(correlations.columns)
    if lacking:
        raise ModelError(
            f"stage1.summary() lacks {sorted(lacking)}; pass the tssem1() result the model was "
            "fitted to"
        )
    return [str(v) for v in stage1.variables], correlations.set_index("label")


def _correlation_rows(
    variables: list[str], cells: pd.DataFrame, pairs: dict[str, tuple[str, str]]
) -> pd.DataFrame:
    rows = []
    for relation, (a, b) in pairs.items():
        unknown = [v for v in (a, b) if v not in variables]
        if unknown:
            raise ModelError(
                f"relation {relation!r}: {unknown} not in the stage-1 variables {variables}"
            )
        if a == b:
            raise ModelError(
                f"relation {relation!r}: a correlation needs two different variables, got {a!r} "
                "twice"
            )
        # stage-1 labels name the later variable first ("later_earlier", vechs order)
        later, earlier = sorted((a, b), key=variables.index, reverse=True)
        cell = cells.loc[f"{later}_{earlier}"]
        rows.append(
            (
                a,
                b,
                int(cell["k"]),
                int(cell["N"]),
                float(cell["estimate"]),
                float(cell["ci_lower"]),
                float(cell["ci_upper"]),
            )
        )
    out = pd.DataFrame(
        rows, columns=_CORRELATION_COLUMNS, index=pd.Index(list(pairs), name="relation")
    )
    return out.astype({"k": np.int64, "N": np.int64})


def pooled_correlations(stage1, pairs: Mapping[str, tuple[str, str]]) -> pd.DataFrame:
    """Pooled correlations of named pairs of variables, with the evidence behind each.

    Parameters
    ----------
    stage1 : TSSEM1Result
        A :func:`masem.tssem1` result.
    pairs : mapping of str to (str, str)
        A name for each pair and its two variables, in any order, e.g.
        ``{"JS": ("PE", "JS")}``.

    Returns
    -------
    pandas.DataFrame
        Indexed by the pair names (``relation``), columns ``var1``, ``var2`` (as given), ``k`` and
        ``N`` (studies and participants reporting the pair), ``r``, ``r_ci_lower``, ``r_ci_upper``
        (pooled
        correlation and 95% Wald interval).

    Raises
    ------
    ModelError
        If ``pairs`` is empty or malformed or names a variable that stage 1 did not pool.

    References
    ----------
    Cheung, M. W.-L. (2015). *Meta-analysis: A structural equation modeling approach*. Wiley.

    Examples
    --------
    >>> import masem
    >>> ex = masem.example_data("Hunter83")
    >>> s1 = masem.tssem1(ex.matrices, ex.n, method="FEM")
    >>> table = pooled_correlations(s1, {"knowledge": ("Ability", "Job_knowledge")})
    >>> table[["k", "r"]].round(3)  # doctest: +NORMALIZE_WHITESPACE
                k     r
    relation
    knowledge  11  0.51
    """
    variables, cells = _cells(stage1)
    return _correlation_rows(variables, cells, _check_relations(pairs, "pairs"))


def _population_values(population: object, effects: list[str], causes: list[str]) -> list[float]:
    """Population path of each (effect, cause): its value, 0 if absent, NaN if not a construct."""
    if not hasattr(population, "model") or not hasattr(population, "variables"):
        raise ModelError(
            f"population must be a masem.read_population() result, got {type(population).__name__}"
        )
    model = population.model
    regressions = model[model["op"] == "~"]
    values = pd.to_numeric(regressions["value"], errors="coerce")
    known = dict(zip(zip(regressions["lhs"], regressions["rhs"]), values))
    constructs = set(population.variables)
    return [
        known.get((effect, cause), 0.0) if {effect, cause} <= constructs else np.nan
        for effect, cause in zip(effects, causes)
    ]


def structural_paths(stage2: TSSEM2Result, population=None) -> pd.DataFrame:
    """The regression paths of a stage-2 fit as a tidy table, optionally next to the population's.

    Parameters
    ----------
    stage2 : TSSEM2Result
        A :func:`masem.tssem2` result.
    population : Population, optional
        The population model a simulated database was drawn from (:func:`masem.read_population`).
        Adds a column ``population``: the population's path, 0 where the population has no such
        path between two of its constructs, NaN where a variable is not one of them (e.g. a
        latent factor of the fitted model). Population paths relate true scores; estimates from
        observed (unreliable) scores are expected to be somewhat closer to zero.

    Returns
    -------
    pandas.DataFrame
        One row per path ``effect ~ cause`` in the order of the model, loadings (``indicator ~
        factor``) included: ``effect``, ``cause``, ``label``, ``estimate`` (standardized), ``se``,
        ``p_value``, ``ci_lower``, ``ci_upper`` (95%, of the kind the fit used) and ``interval``
        (``"wald"`` or ``"profile"``), then ``population`` if requested.

    Raises
    ------
    ModelError
        If ``stage2`` is not a :func:`masem.tssem2` result or ``population`` is not a population
        model.

    References
    ----------
    Cheung, M. W.-L., & Chan, W. (2005). Meta-analytic structural equation modeling: A two-stage
    approach. *Psychological Methods*, 10(1), 40-64.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> import numpy as np, pandas as pd
    >>> import masem
    >>> R = np.array([[1.0, 0.5, 0.3], [0.5, 1.0, 0.4], [0.3, 0.4, 1.0]])
    >>> names = ["x", "m", "y"]
    >>> s1 = SimpleNamespace(pooled=pd.DataFrame(R, names, names), variables=names, total_n=500,
    ...                      vcov=masem.olkin_siotani(R, 500), method="FEM")
    >>> fit = masem.tssem2(s1, "m ~ a*x\\ny ~ b*m + x\\nx ~~ 1*x")
    >>> structural_paths(fit)[["effect", "cause", "label", "estimate"]].round(3)
      effect cause label  estimate
    0      m     x     a     0.500
    1      y     m     b     0.333
    2      y     x  yonx     0.133
    """
    _check_stage2(stage2)
    table = stage2.inspect()
    paths = table[table["op"] == "~"]
    out = pd.DataFrame(
        {
            "effect": paths["lval"].to_numpy(),
            "cause": paths["rval"].to_numpy(),
            "label": paths["label"].to_numpy(),
            "estimate": paths["Estimate"].to_numpy(),
            "se": paths["Std. Err"].to_numpy(),
            "p_value": paths["p-value"].to_numpy(),
            "ci_lower": paths["ci.lower"].to_numpy(),
            "ci_upper": paths["ci.upper"].to_numpy(),
            "interval": stage2.intervals,
        },
        columns=_PATH_COLUMNS,
    )
    if population is not None:
        out["population"] = _population_values(population, list(out["effect"]), list(out["cause"]))
    return out


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
        and participants reporting the pair), ``r``, ``r_ci_lower``, ``r_ci_upper`` (pooled
        correlation,
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
    >>> ex = masem.example_data("Hunter83")
    >>> s1 = masem.tssem1(ex.matrices, ex.n, method="FEM")
    >>> s2 = masem.tssem2(s1, "Job_knowledge ~ Ability\\nSupervisor ~ Job_knowledge")
    >>> relations = {"knowledge -> rating": ("Job_knowledge", "Supervisor")}
    >>> table = path_summary(s2, s1, relations, "jobs")
    >>> table[["relation", "level", "k", "r", "estimate"]].round(3)
                  relation level   k      r  estimate
    0  knowledge -> rating  jobs  11  0.285     0.291
    """
    _check_stage2(stage2)
    variables, cells = _cells(stage1)
    relations = _check_relations(paths, "paths")
    if not isinstance(level, str) or not level:
        raise ModelError(f"level must be a non-empty name such as 'team', got {level!r}")
    correlations = _correlation_rows(variables, cells, relations)
    regressions = structural_paths(stage2).set_index(["effect", "cause"])
    rows = []
    for relation, (cause, effect) in relations.items():
        if (effect, cause) not in regressions.index:
            available = [f"{c} -> {e}" for e, c in regressions.index]
            raise ModelError(
                f"relation {relation!r}: the model has no path {effect} ~ {cause}; its paths are "
                f"{available}"
            )
        cell, path = correlations.loc[relation], regressions.loc[(effect, cause)]
        rows.append(
            (
                relation,
                level,
                f"{cause} -> {effect}",
                int(cell["k"]),
                int(cell["N"]),
                float(cell["r"]),
                float(cell["r_ci_lower"]),
                float(cell["r_ci_upper"]),
                float(path["estimate"]),
                float(path["se"]),
                float(path["ci_lower"]),
                float(path["ci_upper"]),
                float(path["p_value"]),
                stage2.intervals,
            )
        )
    out = pd.DataFrame(rows, columns=_COLUMNS)
    return out.astype({"k": np.int64, "N": np.int64})


def level_comparison(
    levels: Mapping[str, tuple[TSSEM2Result, object]],
    relations: Mapping[str, tuple[tuple[str, str], ...]],
) -> pd.DataFrame:
    """:func:`path_summary` of the same relations at several levels, stacked level after level.

    Parameters
    ----------
    levels : mapping of str to (TSSEM2Result, TSSEM1Result)
        Each level's name and its stage-2 fit with the stage-1 result it was fitted to, e.g.
        ``{"individual": (fit, stage1), "team": (team_fit, team_stage1)}``.
    relations : mapping of str to tuple of (cause, effect)
        A name for each relation and, for every level in the order of ``levels``, the pair of that
        level's variables, e.g. ``{"leadership -> empowerment": (("LEAD", "PE"), ("T_LEAD",
        "T_EMP"))}``.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`path_summary`; the rows of the first level, then of the next.

    Raises
    ------
    ModelError
        If ``levels`` is empty or malformed, a relation does not give one pair per level, or
        :func:`path_summary` refuses a level.

    Examples
    --------
    >>> import masem
    >>> ex = masem.example_data("Hunter83")
    >>> model = "Job_knowledge ~ Ability\\nSupervisor ~ Job_knowledge"
    >>> levels = {}
    >>> for name, studies in (("first", slice(0, 7)), ("second", slice(7, 14))):
    ...     s1 = masem.tssem1(list(ex.matrices.values())[studies], ex.n[studies], method="FEM")
    ...     levels[name] = (masem.tssem2(s1, model), s1)
    >>> pair = ("Ability", "Job_knowledge")
    >>> relation = {"ability -> knowledge": (pair, pair)}
    >>> level_comparison(levels, relation)[["level", "k", "r", "estimate"]].round(3)
        level  k      r  estimate
    0   first  7  0.520     0.522
    1  second  4  0.482     0.505
    """
    if not isinstance(levels, Mapping) or not levels:
        raise ModelError(
            f"levels must be a non-empty mapping {{level name: (tssem2 fit, tssem1 result)}}, got "
            f"{levels!r}"
        )
    for name, pair in levels.items():
        if isinstance(pair, str) or not hasattr(pair, "__len__") or len(pair) != 2:
            raise ModelError(f"level {name!r}: give (tssem2 fit, tssem1 result), got {pair!r}")
    if not isinstance(relations, Mapping) or not relations:
        raise ModelError(
            "relations must be a non-empty mapping {relation name: one (cause, effect) per level}, "
            f"got {relations!r}"
        )
    for relation, pairs in relations.items():
        if isinstance(pairs, str) or not hasattr(pairs, "__len__") or len(pairs) != len(levels):
            raise ModelError(
                f"relation {relation!r}: give one (cause, effect) pair for each of the "
                f"{len(levels)} "
                f"levels {list(levels)}, got {pairs!r}"
            )
    frames = [
        path_summary(
            stage2, stage1, {relation: pairs[i] for relation, pairs in relations.items()}, str(name)
        )
        for i, (name, (stage2, stage1)) in enumerate(levels.items())
    ]
    return pd.concat(frames, ignore_index=True)
