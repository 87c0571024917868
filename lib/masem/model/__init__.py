"""The model layer: lavaan syntax -> RAM matrices, the documented defaults, ``:=`` definitions.

One parse gives one :class:`RAMModel`; the estimators (:mod:`masem.tssem`, and next
:mod:`masem.osmasem`) compute implied correlations and their Jacobian from it with
:class:`Evaluator`. Nothing here fits a model.
"""

from masem.model.implied import Evaluator
from masem.model.ram import RAMModel, did_you_mean, lavaan_to_ram, model_variables

__all__ = ["Evaluator", "RAMModel", "did_you_mean", "lavaan_to_ram", "model_variables"]
