"""What every figure function shares: saving reproducibly, creating axes, checking table columns.

Private to :mod:`masem.plots` except :func:`save_figure`, which the package re-exports.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import graphviz
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from masem.errors import DataError

# Metadata that would change the bytes of a file from one run to the next, per format.
_VOLATILE = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}


def save_figure(fig: Figure, path: str | Path, dpi: int = 300, formats: Sequence[str] = ()) -> Path:
    """Save a figure for print, creating the folder; PNG at 300 dpi by default.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or pathlib.Path
        The file; its suffix picks the format (``.png``, ``.svg``, ``.pdf``, ...).
    dpi : int, default 300
        Resolution of raster formats (journals ask for at least 300 dpi).
    formats : sequence of str, optional
        Further formats to write next to ``path`` under the same name, e.g. ``("svg", "pdf")``.

    Returns
    -------
    pathlib.Path
        ``path``. Dates and software versions are left out of the files, so a rerun gives the
        same PNG bytes.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save_figure(fig, Path(folder) / "f.png", formats=("svg", "pdf"))
    ...     sorted(p.name for p in path.parent.iterdir())
    ['f.pdf', 'f.png', 'f.svg']
    >>> plt.close(fig)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for target in [path, *(path.with_suffix(f".{fmt.lstrip('.')}") for fmt in formats)]:
        kind = target.suffix.lstrip(".").lower()
        fig.savefig(target, dpi=dpi, bbox_inches="tight", metadata=_VOLATILE.get(kind))
    return path


def save_diagram(
    diagram: graphviz.Digraph, path: str | Path, dpi: int = 300, formats: Sequence[str] = ()
) -> Path:
    """Render a graphviz diagram (:func:`masem.plots.path_diagram`, ...) for print.

    Parameters
    ----------
    diagram : graphviz.Digraph
    path : str or pathlib.Path
        The PNG file; folders are created.
    dpi : int, default 300
        Resolution of the PNG: its size in pixels and its resolution tag (journals ask for at
        least 300 dpi).
    formats : sequence of str, optional
        Further files next to ``path`` under the same name: ``"svg"``, ``"pdf"`` (vector
        formats, any size) or ``"gv"`` (the Graphviz source).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    graphviz.ExecutableNotFound
        When graphviz's ``dot`` program is not installed (the ``gv`` source needs no program).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import masem
    >>> from masem.plots import path_diagram
    >>> ex = masem.example_data("Becker92")
    >>> fit = masem.tssem2(masem.tssem1(ex.matrices, ex.n), "Math ~ Spatial + Verbal")
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     png = save_diagram(path_diagram(fit), Path(folder) / "becker.png", formats=("svg",))
    ...     sorted(p.name for p in png.parent.iterdir())
    ['becker.png', 'becker.svg']
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    printed = diagram.copy()
    printed.attr(dpi=str(dpi))
    path.write_bytes(_with_resolution(printed.pipe(format="png"), dpi))
    for fmt in formats:
        target = path.with_suffix(f".{fmt.lstrip('.')}")
        if target.suffix == ".gv":
            target.write_text(diagram.source, encoding="utf-8")
        else:
            target.write_bytes(diagram.pipe(format=target.suffix[1:]))
    return path


def _with_resolution(png: bytes, dpi: int) -> bytes:
    """The PNG with a pHYs chunk saying ``dpi`` (dot draws at that resolution but does not say
    so): pixels per metre, after the header chunk (PNG specification, sec. 11.3.5.3).
    """
    header_end = 8 + 25  # signature, then IHDR: length 4, type 4, data 13, CRC 4
    found = png.find(b"pHYs")
    if found > 0:  # a renderer that tags its PNGs: replace its chunk (length 4 before the type)
        png = png[: found - 4] + png[found + 4 + 9 + 4 :]
    per_metre = round(dpi / 0.0254)
    body = b"pHYs" + struct.pack(">IIB", per_metre, per_metre, 1)
    chunk = struct.pack(">I", 9) + body + struct.pack(">I", zlib.crc32(body))
    return png[:header_end] + chunk + png[header_end:]


def _require_columns(table: pd.DataFrame, columns: set[str], what: str) -> None:
    """Raise a DataError naming the columns a plotting function needs but ``table`` lacks."""
    missing = columns - set(table.columns)
    if missing:
        raise DataError(f"{what} lacks the column(s) {sorted(missing)}")


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=figsize)
    return ax


def _plain_log_axis(ax: Axes) -> None:
    """Log-scaled x axis labelled with plain counts at 1, 2 and 5 times the powers of ten (10, 20,
    50, ...).

    Matplotlib's default labels minor ticks as 2x10^1, 3x10^1, ..., which collide on a short axis.
    """
    ax.set_xscale("log")
    axis = ax.xaxis
    axis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(ticker.FuncFormatter(lambda x, _: f"{x:,.0f}"))
    axis.set_minor_formatter(ticker.NullFormatter())
