"""masem: meta-analytic structural equation modelling for the masem-empowerment notebooks.

The public API is re-exported flat here (``masem.read_database``, ``masem.tssem1``, ...). The flow
of data: CSV files -> :func:`read_database` -> per-study matrices -> :func:`tssem1` (pooled matrix)
-> :func:`tssem2` (structural model) -> tables and figures.
"""

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

__version__ = "0.1.0"

__all__ = [
    "BootstrapResult",    "ConvergenceWarning",
    "DataError",
    "ModelError",
    "PairCounts",
    "RAMModel",
    "RefitResult",
    "Population",
    "StudyDatabase",
    "StudyDesign",
    "StudyMatrices",
    "TSSEM1Result",
    "TSSEM2Result",
    "UniRResult",
    "attenuate",
    "collect_notes",
    "compare",
    "default_design",
    "disattenuate",
    "indirect",
    "lavaan_to_ram",
    "olkin_siotani",
    "r_to_z",
    "read_database",
    "read_population",
    "refit",
    "simulate_database",
    "tssem1",
    "tssem2",
    "uni_r",
    "vechs",
    "vechs_labels",
    "write_database",
    "write_population",
    "z_to_r",
]
