"""TSSEM stage 1: pooling per-study correlation matrices (random or fixed effects).

:mod:`masem.tssem.stage1.pooling` holds the public functions and results; the estimators are
:mod:`~masem.tssem.stage1.rem` (multivariate random-effects model) and
:mod:`~masem.tssem.stage1.fem` (multi-group ML), on the input checks of :mod:`masem.data.matrices`
and the Newton optimiser of :mod:`masem._linalg`.
"""

from masem.tssem.stage1.pooling import TSSEM1Result, UniRResult, tssem1, uni_r
from masem.tssem.stage1.rem import GLSTerms, gls_terms

__all__ = ["GLSTerms", "TSSEM1Result", "UniRResult", "gls_terms", "tssem1", "uni_r"]
