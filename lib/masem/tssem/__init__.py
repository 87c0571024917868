"""Two-stage structural equation modelling (TSSEM; Cheung & Chan, 2005).

- :mod:`masem.tssem.stage1`: pool the studies' correlation matrices (REM, FEM, univariate r);
- :mod:`masem.tssem.stage2`: fit a lavaan model to the pooled matrix by WLS; :func:`refit`;
  the engine and the results' base class (:class:`Stage2Result`) are in the private
  :mod:`masem.tssem._wls`, which the multi-group fit shares;
- :mod:`masem.tssem.multigroup`: stage 1 per subgroup and one joint stage-2 model;
- :mod:`masem.tssem.indirect`: parametric-bootstrap intervals of parameters and ``:=`` effects;
- :mod:`masem.tssem.loadings`, :mod:`masem.tssem.residuals`: reading a fitted model;
- :mod:`masem.tssem.decomposition`: total, direct and specific indirect effects with intervals.
"""

from masem.tssem._wls import Stage2Result
from masem.tssem.decomposition import EffectDecomposition, decompose_effects
from masem.tssem.indirect import BootstrapResult, indirect, interval_table
from masem.tssem.loadings import loading_table
from masem.tssem.multigroup import (
    MultigroupTSSEM2Result,
    SubgroupTSSEM1Result,
    equality_tests,
    subgroup_tssem,
    tssem2_multigroup,
)
from masem.tssem.residuals import ResidualCheck, residual_check, residual_covariance, residual_table
from masem.tssem.stage1 import GLSTerms, TSSEM1Result, UniRResult, gls_terms, tssem1, uni_r
from masem.tssem.stage2 import RefitResult, TSSEM2Result, refit, tssem2

__all__ = [
    "BootstrapResult",
    "EffectDecomposition",
    "GLSTerms",
    "MultigroupTSSEM2Result",
    "RefitResult",
    "ResidualCheck",
    "Stage2Result",
    "SubgroupTSSEM1Result",
    "TSSEM1Result",
    "TSSEM2Result",
    "UniRResult",
    "decompose_effects",
    "equality_tests",
    "gls_terms",
    "indirect",
    "interval_table",
    "loading_table",
    "refit",
    "residual_check",
    "residual_covariance",
    "residual_table",
    "subgroup_tssem",
    "tssem1",
    "tssem2",
    "tssem2_multigroup",
    "uni_r",
]
