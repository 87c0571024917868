"""One-stage MASEM with moderators of the structural parameters (Jak & Cheung, 2020): not yet here.

The next estimator lands in this subpackage, on the same footing as :mod:`masem.tssem`: it may
use :mod:`masem.data`, :mod:`masem.effects` and :mod:`masem.model`, and its fit results take part
in :func:`masem.compare` through :class:`masem.lrt.Nested` (see docs/architecture.md).
"""
