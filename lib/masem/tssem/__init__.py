"""Two-stage structural equation modelling (TSSEM; Cheung & Chan, 2005).

- :mod:`masem.tssem.stage1`: pool the studies' correlation matrices (REM, FEM, univariate r);
- :mod:`masem.tssem.stage2`: fit a lavaan model to the pooled matrix by WLS; :func:`refit`;
- :mod:`masem.tssem.multigroup`: stage 1 per subgroup and one joint stage-2 model;
- :mod:`masem.tssem.indirect`: parametric-bootstrap intervals of parameters and ``:=`` effects;
- :mod:`masem.tssem.loadings`, :mod:`masem.tssem.residuals`: reading a fitted model.
"""

from masem.tssem.indirect import BootstrapResult, indirect, interval_table
from masem.tssem.loadings import loading_table
from masem.tssem.multigroup import (
    MultigroupTSSEM2Result,
    SubgroupTSSEM1Result,
    equality_tests,
    subgroup_tssem,
    tssem2_multigroup,
)
from masem.tssem.residuals import residual_table
from masem.tssem.stage1 import TSSEM1Result, UniRResult, tssem1, uni_r
from masem.tssem.stage2 import RefitResult, TSSEM2Result, compare, refit, tssem2

__all__ = [
    "BootstrapResult",
    "MultigroupTSSEM2Result",
    "RefitResult",
    "SubgroupTSSEM1Result",
    "TSSEM1Result",
    "TSSEM2Result",
    "UniRResult",
    "compare",
    "equality_tests",
    "indirect",
    "interval_table",
    "loading_table",
    "refit",
    "residual_table",
    "subgroup_tssem",
    "tssem1",
    "tssem2",
    "tssem2_multigroup",
    "uni_r",
]
