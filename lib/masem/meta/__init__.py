"""Univariate meta-analysis: one relation at a time.

- :mod:`masem.meta.univariate`: effect sizes, fixed/random effects, meta-regression, subgroups
  (metafor's conventions; the numerical core is the private :mod:`masem.meta._rma`);
- :mod:`masem.meta.psychometric`: Hunter-Schmidt meta-analysis with corrections for unreliability;
- :mod:`masem.meta.bias`: funnel data, Egger's test, trim-and-fill, fail-safe N, PET-PEESE;
- :mod:`masem.meta.bivariate`: the bivariate table of a study database (one row per relation).

The function :func:`masem.meta` has the name of this package: import its modules with
``from masem.meta.univariate import ...``, not through the attribute ``masem.meta``.
"""

from masem.meta.bias import (
    EggerResult,
    FailsafeResult,
    PetPeeseResult,
    TrimFillResult,
    egger,
    failsafe_n,
    funnel_data,
    pet_peese,
    trim_and_fill,
)
from masem.meta.bivariate import bias_table, bivariate_table, effect_sizes
from masem.meta.psychometric import HunterSchmidtResult, hunter_schmidt
from masem.meta.univariate import (
    MetaRegressionResult,
    MetaResult,
    SubgroupResult,
    escalc,
    meta,
    meta_regression,
    subgroup,
)

__all__ = [
    "EggerResult",
    "FailsafeResult",
    "HunterSchmidtResult",
    "MetaRegressionResult",
    "MetaResult",
    "PetPeeseResult",
    "SubgroupResult",
    "TrimFillResult",
    "bias_table",
    "bivariate_table",
    "effect_sizes",
    "egger",
    "escalc",
    "failsafe_n",
    "funnel_data",
    "hunter_schmidt",
    "meta",
    "meta_regression",
    "pet_peese",
    "subgroup",
    "trim_and_fill",
]
