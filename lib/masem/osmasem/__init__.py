"""One-stage MASEM with moderators of the structural parameters (Jak & Cheung, 2020).

:func:`osmasem` fits a structural model to all studies at once, the paths (or covariances) a
linear function of study characteristics; :func:`osmasem_r2` says how much of each correlation's
heterogeneity the moderators explain and :func:`osmasem_srmr` how well a model without moderators
reproduces the pooled correlations. The data come from :func:`masem.cor_data` (the data layer).
The fits take part in :func:`masem.compare` (likelihood-ratio tests of nested models).
"""

from masem.osmasem.fit import osmasem
from masem.osmasem.results import OSMASEMResult
from masem.osmasem.stats import osmasem_r2, osmasem_srmr

__all__ = ["OSMASEMResult", "osmasem", "osmasem_r2", "osmasem_srmr"]
