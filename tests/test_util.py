"""The shared helpers of masem._util: one progress bar, one option check, one read-only array.

- test_choose_returns_the_canonical_spelling / test_choose_raises_the_error_asked_for: options are
  matched case-insensitively and a bad one names the argument, the options and the value;
- test_frozen_copies_and_locks: results never share a writable array with their caller;
- test_progress_bar_without_ipywidgets_is_the_text_bar: no tqdm.auto warning in a kernel without
  ipywidgets (the two bars of earlier versions had drifted apart on this).
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from masem._util import check_jobs, choose, frozen, progress_bar
from masem.errors import DataError, ModelError


def test_choose_returns_the_canonical_spelling() -> None:
    assert choose("rem", ("REM", "FEM"), "method") == "REM"


def test_choose_raises_the_error_asked_for() -> None:
    with pytest.raises(ModelError, match=r"method must be one of 'REM', 'FEM'; got 'X'\."):
        choose("X", ("REM", "FEM"), "method")
    with pytest.raises(DataError, match="side must be one of"):
        choose(3, ("left", "right"), "side", DataError)


def test_frozen_copies_and_locks() -> None:
    source = np.arange(3)
    out = frozen(source)
    assert out.dtype == float and not out.flags.writeable
    source[0] = 7
    assert out[0] == 0.0
    assert frozen(source, dtype=None).dtype == source.dtype
    assert frozen(None) is None


def test_check_jobs_refuses_what_joblib_cannot_use() -> None:
    check_jobs(-1, True)
    for bad in (0, 1.5, True):
        with pytest.raises(DataError, match="n_jobs"):
            check_jobs(bad, False)
    with pytest.raises(DataError, match="progress"):
        check_jobs(1, "yes")


def test_progress_bar_without_ipywidgets_is_the_text_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import ipywidgets raises ImportError
    bar = progress_bar(2, "test", unit="step")
    try:
        assert type(bar).__module__ == "tqdm.std"
    finally:
        bar.close()
