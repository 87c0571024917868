"""masem: meta-analytic structural equation modelling for the masem-empowerment notebooks.

The public API is re-exported flat here (``masem.read_database``, ``masem.tssem1``, ...). The flow
of data: CSV files -> :func:`read_database` -> per-study matrices -> :func:`tssem1` (pooled matrix)
-> :func:`tssem2` (structural model) -> tables and figures.
"""

from importlib import metadata as _metadata

from masem.bias import (
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
from masem.bivariate import bias_table, bivariate_table, effect_sizes
from masem.compare_levels import path_summary
from masem.data import PairCounts, StudyDatabase, StudyMatrices, read_database, write_database
from masem.effects import (
    attenuate,
    disattenuate,
    olkin_siotani,
    r_to_z,
    vechs,
    vechs_labels,
    z_to_r,
)
from masem.errors import ConvergenceWarning, DataError, ModelError, collect_notes
from masem.examples import ExampleData, example_data
from masem.indirect import BootstrapResult, indirect
from masem.loadings import loading_table
from masem.model import RAMModel, lavaan_to_ram, model_variables
from masem.multigroup import (
    MultigroupTSSEM2Result,
    SubgroupTSSEM1Result,
    equality_tests,
    subgroup_tssem,
    tssem2_multigroup,
)
from masem.psychometric import HunterSchmidtResult, hunter_schmidt
from masem.recovery import (
    RecoveryResult,
    RecoveryTruth,
    default_approaches,
    expected_matrix,
    parameter_recovery,
    recovery_truth,
    without_moderators,
)
from masem.residuals import residual_table
from masem.robustness import (
    LeaveOneOutResult,
    PooledMatrix,
    Variant,
    VariantComparison,
    compare_variants,
    default_variants,
    leave_one_out,
    uni_r_pooled,
)
from masem.simulate import (
    Population,
    StudyDesign,
    default_design,
    read_population,
    simulate_database,
    write_population,
)
from masem.stage1 import TSSEM1Result, UniRResult, tssem1, uni_r
from masem.stage2 import RefitResult, TSSEM2Result, compare, refit, tssem2
from masem.tables import (
    APATable,
    apa_correlations,
    apa_fit,
    apa_meta,
    apa_parameters,
    apa_stage1,
    apa_table,
    export_table,
)
from masem.univariate import (
    MetaRegressionResult,
    MetaResult,
    SubgroupResult,
    escalc,
    meta,
    meta_regression,
    subgroup,
)

# The version has one source, lib/pyproject.toml; the installed metadata carries it here.
__version__ = _metadata.version("masem")

__all__ = [
    "apa_correlations",
    "apa_fit",
    "apa_meta",
    "apa_parameters",
    "apa_stage1",
    "apa_table",
    "APATable",
    "attenuate",
    "bias_table",
    "bivariate_table",
    "BootstrapResult",
    "collect_notes",
    "compare",
    "compare_variants",
    "ConvergenceWarning",
    "DataError",
    "default_approaches",
    "default_design",
    "default_variants",
    "disattenuate",
    "effect_sizes",
    "egger",
    "EggerResult",
    "equality_tests",
    "escalc",
    "example_data",
    "ExampleData",
    "expected_matrix",
    "export_table",
    "failsafe_n",
    "FailsafeResult",
    "funnel_data",
    "hunter_schmidt",
    "HunterSchmidtResult",
    "indirect",
    "lavaan_to_ram",
    "leave_one_out",
    "LeaveOneOutResult",
    "loading_table",
    "meta",
    "meta_regression",
    "MetaRegressionResult",
    "MetaResult",
    "model_variables",
    "ModelError",
    "MultigroupTSSEM2Result",
    "olkin_siotani",
    "PairCounts",
    "parameter_recovery",
    "path_summary",
    "pet_peese",
    "PetPeeseResult",
    "PooledMatrix",
    "Population",
    "r_to_z",
    "RAMModel",
    "read_database",
    "read_population",
    "recovery_truth",
    "RecoveryResult",
    "RecoveryTruth",
    "refit",
    "RefitResult",
    "residual_table",
    "simulate_database",
    "StudyDatabase",
    "StudyDesign",
    "StudyMatrices",
    "subgroup",
    "subgroup_tssem",
    "SubgroupResult",
    "SubgroupTSSEM1Result",
    "trim_and_fill",
    "TrimFillResult",
    "tssem1",
    "TSSEM1Result",
    "tssem2",
    "tssem2_multigroup",
    "TSSEM2Result",
    "uni_r",
    "uni_r_pooled",
    "UniRResult",
    "Variant",
    "VariantComparison",
    "vechs",
    "vechs_labels",
    "without_moderators",
    "write_database",
    "write_population",
    "z_to_r",
]
