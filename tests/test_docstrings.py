"""Every public name has a docstring a user can act on (numpydoc sections, an example that runs).

Functions in ``masem.__all__`` need a Parameters section (when they take any argument), a
Returns (or Yields) section and Examples; the examples run as doctests in ``make test``. Classes
need a docstring with Attributes or Examples: results are built by functions whose Examples
show them, so their docstring lists what they hold. Exceptions and warnings need a docstring.
"""

from __future__ import annotations

import inspect
import re

import pytest

import masem


def _sections(doc: str) -> set[str]:
    return set(re.findall(r"^(\w[\w ]*)\n-{3,}$", doc, re.M))


PUBLIC = [name for name in masem.__all__ if not inspect.ismodule(getattr(masem, name))]


@pytest.mark.parametrize("name", PUBLIC)
def test_public_name_is_documented(name):
    obj = getattr(masem, name)
    doc = inspect.getdoc(obj) or ""
    assert doc.strip(), f"masem.{name} has no docstring"
    sections = _sections(doc)
    if inspect.isclass(obj):
        if issubclass(obj, (Exception, Warning)):
            return
        assert sections & {"Attributes", "Examples"}, f"masem.{name}: no Attributes or Examples"
        return
    assert callable(obj), f"masem.{name} is neither a class nor a function"
    missing = []
    if inspect.signature(obj).parameters and "Parameters" not in sections:
        missing.append("Parameters")
    if not sections & {"Returns", "Yields"}:
        missing.append("Returns")
    if "Examples" not in sections:
        missing.append("Examples")
    assert not missing, f"masem.{name} lacks {', '.join(missing)}"


def test_every_public_name_is_covered():
    assert len(PUBLIC) > 80
