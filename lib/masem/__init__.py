"""masem: meta-analytic structural equation modelling for the masem-empowerment notebooks.

The public API is re-exported flat here (``masem.read_database``, ``masem.tssem1``, ...). The flow
of data: CSV files -> :func:`read_database` -> per-study matrices -> :func:`tssem1` (pooled matrix)
-> :func:`tssem2` (structural model) -> tables and figures.
"""

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
from masem.indirect import BootstrapResult, indirect
from masem.model import RAMModel, lavaan_to_ram
from masem.psychometric import HunterSchmidtResult, hunter_schmidt
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
from masem.univariate import (
    MetaRegressionResult,
    MetaResult,
    SubgroupResult,
    escalc,
    meta,
    meta_regression,
    subgroup,
)

__version__ = "0.1.0"

__all__ = [
    "attenuate",
    "bias_table",
    "bivariate_table",
    "BootstrapResult",    "ConvergenceWarning",
    "collect_notes",
    "compare",
    "DataError",
    "default_design",
    "disattenuate",
    "effect_sizes",
    "egger",
    "EggerResult",
    "escalc",
    "failsafe_n",
    "FailsafeResult",
    "funnel_data",
    "hunter_schmidt",
    "HunterSchmidtResult",
    "indirect",
    "lavaan_to_ram",
    "meta",
    "meta_regression",
    "MetaRegressionResult",
    "MetaResult",
    "ModelError",
    "olkin_siotani",
    "PairCounts",
    "pet_peese",
    "PetPeeseResult",
    "Population",
    "r_to_z",
    "RAMModel",
    "read_database",
    "read_population",
    "refit",
    "RefitResult",
    "simulate_database",
    "StudyDatabase",
    "StudyDesign",
    "StudyMatrices",
    "subgroup",
    "SubgroupResult",
    "trim_and_fill",
    "TrimFillResult",
    "tssem1",
    "TSSEM1Result",
    "tssem2",
    "TSSEM2Result",
    "uni_r",
    "UniRResult",
    "vechs",
    "vechs_labels",
    "write_database",
    "write_population",
    "z_to_r",
]
