"""The study layer: checks and comparisons built from whole analyses (stage 1 + stage 2).

- :mod:`masem.study.robustness`: leave one study out, analysis variants side by side;
- :mod:`masem.study.variants`: the analysis variants, the univariate-r approach as a stage-2 input;
- :mod:`masem.study.recovery`: parameter recovery by simulation (bias, RMSE, coverage);
- :mod:`masem.study.prediction`: prediction intervals of paths (stage-1 heterogeneity carried
  into stage 2);
- :mod:`masem.study.compare_levels`: the same relations at several levels of analysis;
- :mod:`masem.study.cross_level`: the paths of one model tested for equality across levels;
- :mod:`masem.study.importance`: relative weights, dominance analysis, incremental validity;
- :mod:`masem.study.bias_adjusted`: the MASEM refitted to a matrix adjusted for small-study effects.
"""

from masem.study.bias_adjusted import BiasAdjustedMASEM, bias_adjusted_masem
from masem.study.compare_levels import path_summary
from masem.study.cross_level import CrossLevelTest, cross_level_test, level_input
from masem.study.importance import RelativeImportance, incremental_validity, relative_importance
from masem.study.prediction import PredictionResult, prediction_intervals
from masem.study.recovery import (
    RecoveryResult,
    RecoveryTruth,
    default_approaches,
    expected_matrix,
    parameter_recovery,
    recovery_truth,
    without_moderators,
)
from masem.study.robustness import (
    LeaveOneOutResult,
    VariantComparison,
    compare_variants,
    leave_one_out,
)
from masem.study.variants import PooledMatrix, Variant, default_variants, uni_r_pooled

__all__ = [
    "BiasAdjustedMASEM",
    "CrossLevelTest",
    "LeaveOneOutResult",
    "PooledMatrix",
    "RelativeImportance",
    "PredictionResult",
    "RecoveryResult",
    "RecoveryTruth",
    "Variant",
    "VariantComparison",
    "bias_adjusted_masem",
    "compare_variants",
    "cross_level_test",
    "default_approaches",
    "default_variants",
    "expected_matrix",
    "incremental_validity",
    "leave_one_out",
    "level_input",
    "parameter_recovery",
    "path_summary",
    "prediction_intervals",
    "recovery_truth",
    "relative_importance",
    "uni_r_pooled",
    "without_moderators",
]
