"""The model layer: lavaan syntax -> RAM matrices, as metaSEM's ``lavaan2RAM`` reads it.

One parse gives one :class:`RAMModel`; the estimators (:mod:`masem.tssem`, and next
:mod:`masem.osmasem`) compute implied correlations, constraints and definitions, with their
Jacobians, from it with :class:`Evaluator`. Nothing here fits a model.

metaSEM 1.5.5's ``lavaan2RAM`` reads a model with lavaan 0.6-14's
``lavaanify(model, fixed.x = FALSE, auto.var = TRUE, std.lv = TRUE)``. Where the syntax is
silent, these defaults apply (the detailed rules, each with its source, are in
:mod:`masem.model.syntax`, :mod:`masem.model.partable` and :mod:`masem.model.ram`):

==============================================================  ===================================
Default                                                         Source
==============================================================  ===================================
Exogenous observed variables (right of ``~``, in no ``~~``      ``fixed.x = FALSE`` (lavaan
statement) get free variances and free covariances.             ``?lavOptions``)
Other observed variables get a free (residual) variance.        ``auto.var = TRUE``
Latent variances are fixed at 1, also when written; ``NA*``     ``std.lv = TRUE`` (``?lavaan2RAM``)
frees them. No loading is fixed.
No covariance is added among latent variables, among           ``auto.cov.lv.x = FALSE``,
dependent variables, or between them.                           ``auto.cov.y = FALSE``
Paths and loadings start at 0.1, variances at 0.5,              ``lavaan2RAM(A.start = 0.1,
covariances at 0.                                               S.start = 0.5)``
Unlabelled parameters are named ``XonY`` / ``XwithY``           ``lavaan2RAM(A.notation,
(``A_notation="ON", S_notation="WITH"`` give metaSEM's          S.notation)``
default ``XONY`` / ``XWITHY``).
==============================================================  ===================================

:meth:`RAMModel.describe` (also ``print(ram)``) lists every element with the rule that added or
fixed it; ``TSSEM2Result.inspect()`` marks such parameters in its ``default`` column.
"""

from masem.model.implied import Evaluator
from masem.model.ram import RAMModel, did_you_mean, lavaan_to_ram, model_variables

__all__ = ["Evaluator", "RAMModel", "did_you_mean", "lavaan_to_ram", "model_variables"]
