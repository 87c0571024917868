"""What a meta-regression of simulated studies should find: the truth on the analysis's scale.

A population model states its moderators as shifts of structural paths on true scores (e.g. the
path from empowerment to service performance rises by .05 per 0.1 of customer contact). A
meta-regression of the simulated studies, however, regresses the *observed* correlations of
fallible scales, as Fisher's z, on the moderator. :func:`moderator_truth` translates the one
into the other, so that an estimate can be held against its truth:

1. the true-score correlation of the pair at each moderator value (the others at their centres)
   is the population's implied correlation (:meth:`masem.Population.implied`);
2. each simulated study adds a random effect tau e, e ~ N(0, 1), to its Fisher z
   (:func:`masem.simulate_database`);
3. unreliability multiplies each study's correlation by sqrt(rxx ryy) (Spearman, 1904), whose
   expectation for independently drawn reliabilities is E[sqrt(rxx)]^2.

The expected observed z is E[atanh(A tanh(atanh(rho) + tau e))] with A = E[sqrt(rxx)]^2, by
Gauss-Hermite quadrature, and the expected observed r is A E[tanh(atanh(rho) + tau e)] (as
:func:`masem.expected_matrix`). Second-order effects are left out (the spread of sqrt(rxx ryy)
around A, the small-sample bias of r); they are below .005 for the bundled design.

References
----------
Spearman, C. (1904). The proof and measurement of association between two things. *American
Journal of Psychology*, 15, 72-101.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from masem.data.simulate import Population, StudyDesign
from masem.errors import DataError
from masem.study.recovery import _HERMITE_NODES, _check_design, mean_sqrt_reliability

__all__ = ["moderator_truth"]


def _check_arguments(population: object, pair: tuple[str, str], moderator: object) -> None:
    if not isinstance(population, Population):
        raise DataError(
            "population must be a masem.Population (read_population), got "
            f"{type(population).__name__}."
        )
    unknown = [v for v in pair if v not in population.variables]
    if unknown or pair[0] == pair[1]:
        raise DataError(
            f"var1 and var2 must be two distinct constructs of the population; got {list(pair)}, "
            f"the population has {population.variables}."
        )
    rows = population.moderators
    continuous = rows.loc[rows["center"].notna(), "moderator"]  # categorical rows have no centre
    if moderator not in set(continuous):
        raise DataError(
            f"{moderator!r} is not a continuous moderator of the population; its continuous "
            f"moderators are {sorted(set(continuous))} (moderators.csv)."
        )


def moderator_truth(
    population: Population,
    var1: str,
    var2: str,
    moderator: str,
    values: Sequence[float],
    design: StudyDesign | None = None,
) -> pd.DataFrame:
    """The true and the expected observed correlation of a pair at given values of a moderator.

    Parameters
    ----------
    population : Population
        The population model (:func:`masem.read_population`), with its moderators.
    var1, var2 : str
        The pair of constructs.
    moderator : str
        A continuous moderator of ``population`` (a study column such as ``"customer_contact"``);
        every other continuous moderator stays at its centre.
    values : sequence of float
        The moderator values.
    design : StudyDesign, optional
        Supplies the between-study SD ``tau`` of Fisher's z and the reliability distribution;
        default the population level's documented design (:func:`masem.default_design`).

    Returns
    -------
    DataFrame
        One row per value: the moderator column, ``rho`` (true-score correlation), ``r`` (expected
        mean observed correlation of the simulated studies) and ``z`` (expected mean observed
        Fisher z: what a random-effects meta-regression on Fisher's z estimates at that value).

    Raises
    ------
    DataError
        An unknown pair, a moderator that is not continuous in the population, non-finite
        values, or a design that is not a StudyDesign.

    References
    ----------
    Spearman, C. (1904). The proof and measurement of association between two things.
    *American Journal of Psychology*, 15, 72-101.

    Examples
    --------
    The example population's path M -> Y, made to rise by .05 per 0.1 of customer contact:

    >>> import masem
    >>> import pandas as pd
    >>> from masem.study.moderator_truth import moderator_truth
    >>> contact = pd.DataFrame({"level": ["team"], "moderator": ["customer_contact"],
    ...                         "category": [""], "center": [0.5], "per": [0.1], "lhs": ["Y"],
    ...                         "op": ["~"], "rhs": ["M"], "shift": [0.05], "note": [""]})
    >>> pop = masem.example_population().with_moderators(contact)
    >>> moderator_truth(pop, "M", "Y", "customer_contact", [0.3, 0.7]).round(3)
       customer_contact  rho      r      z
    0               0.3  0.2  0.169  0.171
    1               0.7  0.4  0.338  0.353
    """
    _check_arguments(population, (var1, var2), moderator)
    design = _check_design(design, population)
    x = np.asarray(values, dtype=float).ravel()
    if x.size == 0 or not np.all(np.isfinite(x)):
        raise DataError(f"values must be finite numbers, got {values!r}.")
    rho = np.array([population.implied({moderator: v}).loc[var1, var2] for v in x])
    nodes, weights = np.polynomial.hermite_e.hermegauss(_HERMITE_NODES)
    weights = weights / weights.sum()
    true_r = np.tanh(np.arctanh(rho)[:, None] + design.tau * nodes[None, :])
    attenuation = mean_sqrt_reliability(design) ** 2
    return pd.DataFrame(
        {
            moderator: x,
            "rho": rho,
            "r": attenuation * true_r @ weights,
            "z": np.arctanh(attenuation * true_r) @ weights,
        }
    )
