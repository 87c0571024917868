"""masem: meta-analytic structural equation modelling for the masem-empowerment notebooks.

The public API is re-exported flat here (``masem.tssem1``, ``masem.meta``, ...); see
``DESIGN`` notes in the project README for the flow of data.
"""

from masem.errors import ConvergenceWarning, DataError, ModelError
from masem.effects import (
    attenuate,
    disattenuate,
    olkin_siotani,
    r_to_z,
    vechs,
    vechs_labels,
    z_to_r,
)

__version__ = "0.1.0"

__all__ = [
    "ConvergenceWarning",
    "DataError",
    "ModelError",
    "attenuate",
    "disattenuate",
    "olkin_siotani",
    "r_to_z",
    "vechs",
    "vechs_labels",
    "z_to_r",
]
