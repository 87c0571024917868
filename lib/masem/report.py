"""Report tables and the HTML report of the whole study (every notebook executed afresh, one page).

``make report`` runs ``python -m masem.report --notebooks notebooks --out reports/report.html``. The
notebooks are executed in memory (their committed copies are never written), converted with
nbconvert's ``lab`` template, and joined behind a title page and a table of contents; figures are
embedded as data URIs, so the page can be mailed or archived as one file.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import html
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pandas as pd
from nbclient import NotebookClient
from nbconvert import HTMLExporter
from tqdm import tqdm

NOTEBOOK_PATTERN = "[0-9][0-9]_*.ipynb"

_REPORT_CSS = """
body { max-width: 1100px; margin: 0 auto; }
.masem-title { padding: 3em 1em 2em; border-bottom: 2px solid #444; }
.masem-title h1 { font-size: 2.2em; margin-bottom: .2em; }
.masem-notice { background: #fff4d6; border-left: 4px solid #e0a000; padding: .6em 1em; }
.masem-toc { padding: 1em; border-bottom: 1px solid #bbb; }
.masem-toc ol { line-height: 1.6; }
.masem-notebook { border-bottom: 2px solid #444; padding-bottom: 2em; }
.masem-closing { padding: 2em 1em; }
"""


def interval_table(
    wald=None, profile=None, bootstrap=None, parameters: list[str] | None = None
) -> pd.DataFrame:
    """Estimates and 95% intervals of stage-2 parameters from up to three methods, in long format.

    Parameters
    ----------
    wald, profile : TSSEM2Result, optional
        Fits with ``intervals="wald"`` (delta-method / Wald intervals) and ``intervals="profile"``
        (likelihood-based intervals).
    bootstrap : BootstrapResult, optional
        A parametric bootstrap (:func:`masem.indirect`); its percentile intervals are used.
    parameters : list of str, optional
        Labels to keep (default: the ``:=`` defined parameters of the first fit given).

    Returns
    -------
    DataFrame
        Columns ``parameter``, ``method``, ``estimate``, ``lower``, ``upper``, ready for
        :func:`masem.plots.interval_plot`.
    """
    frames = []
    for method, fit in (("Wald (delta method)", wald), ("profile likelihood", profile)):
        if fit is None:
            continue
        table = fit.inspect()
        if parameters is None:
            parameters = list(table.loc[table["op"] == ":=", "label"])
        table = table[table["label"].isin(parameters)].drop_duplicates("label")
        frames.append(pd.DataFrame({
            "parameter": table["label"], "method": method, "estimate": table["Estimate"],
            "lower": table["ci.lower"], "upper": table["ci.upper"],
        }))
    if bootstrap is not None:
        table = bootstrap.summary()
        if parameters is None:
            parameters = list(table.loc[table["type"] == "defined", "parameter"])
        table = table[table["parameter"].isin(parameters)]
        frames.append(pd.DataFrame({
            "parameter": table["parameter"], "method": "parametric bootstrap", "estimate": table["Estimate"],
            "lower": table["ci.lower"], "upper": table["ci.upper"],
        }))
    if not frames:
        raise ValueError("interval_table needs at least one of wald=, profile= or bootstrap=")
    return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class RenderedNotebook:
    """One executed notebook: its file name, title, section headings and HTML body."""

    name: str
    title: str
    headings: tuple[str, ...]
    body: str
    head_styles: str


def find_notebooks(folder: str | Path) -> list[Path]:
    """Notebooks of the collection (``00_*.ipynb`` ... ``99_*.ipynb``) in order.

    Raises
    ------
    FileNotFoundError
        When the folder does not exist or holds no numbered notebook.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"notebook folder {folder} does not exist")
    paths = sorted(folder.glob(NOTEBOOK_PATTERN))
    if not paths:
        raise FileNotFoundError(f"no notebooks matching {NOTEBOOK_PATTERN} in {folder}")
    return paths


def execute_notebook(path: str | Path, timeout: int = 900) -> nbformat.NotebookNode:
    """Execute a notebook in memory, in its own folder, and return the executed copy.

    The file on disk is not modified. A cell that raises stops the run with nbclient's
    ``CellExecutionError``, which names the notebook cell and shows the traceback.
    """
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,
    )
    client.execute()
    return nb


def _headings(nb: nbformat.NotebookNode) -> tuple[str, tuple[str, ...]]:
    """The notebook's title (first level-1 heading) and its level-2 headings."""
    title, sections = "", []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            if line.startswith("# ") and not title:
                title = line[2:].strip()
            elif line.startswith("## "):
                sections.append(line[3:].strip())
    return title, tuple(sections)


def render_notebook(path: str | Path, nb: nbformat.NotebookNode) -> RenderedNotebook:
    """Convert an executed notebook to an HTML fragment (figures embedded)."""
    path = Path(path)
    exporter = HTMLExporter(template_name="lab", embed_images=True)
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    page, _ = exporter.from_notebook_node(nb, resources={"metadata": {"path": str(path.parent)}})
    head = re.search(r"<head>(.*?)</head>", page, flags=re.S)
    body = re.search(r"<body[^>]*>(.*?)</body>", page, flags=re.S)
    styles = "".join(re.findall(r"<style[^>]*>.*?</style>", head.group(1) if head else "", flags=re.S))
    title, sections = _headings(nb)
    return RenderedNotebook(
        name=path.name,
        title=title or path.stem,
        headings=sections,
        body=body.group(1) if body else page,
        head_styles=styles,
    )


def _anchor(name: str) -> str:
    return "nb-" + re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")


def assemble_report(notebooks: list[RenderedNotebook], title: str, subtitle: str) -> str:
    """Join rendered notebooks into one HTML page with a title page and a table of contents."""
    toc_items = []
    for nb in notebooks:
        subs = "".join(f"<li>{html.escape(h)}</li>" for h in nb.headings)
        toc_items.append(
            f'<li><a href="#{_anchor(nb.name)}">{html.escape(nb.title)}</a>'
            f" <small>({html.escape(nb.name)})</small><ul>{subs}</ul></li>"
        )
    sections = "".join(
        f'<section class="masem-notebook" id="{_anchor(nb.name)}">{nb.body}</section>' for nb in notebooks
    )
    styles = notebooks[0].head_styles if notebooks else ""
    today = _dt.date.today().isoformat()
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
{styles}<style>{_REPORT_CSS}</style></head>
<body class="jp-Notebook" data-jp-theme-light="true">
<header class="masem-title"><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p>
<p class="masem-notice"><strong>All study data in this report are simulated</strong> from a documented
population model (see data/README.md); they are not the primary studies of Seibert, Wang &amp;
Courtright (2011), and no number here is a published finding.</p>
<p>Built {today} by <code>make report</code>: every notebook was executed afresh.</p></header>
<nav class="masem-toc"><h2>Contents</h2><ol>{"".join(toc_items)}</ol></nav>
{sections}
<footer class="masem-closing"><h2>End of report</h2><p>{len(notebooks)} notebooks executed.
Reproduce with <code>make report</code>; check with <code>make test</code>.</p></footer>
</body></html>
"""


def build_report(
    notebook_dir: str | Path,
    out: str | Path,
    title: str = "Psychological empowerment: a meta-analytic SEM replication",
    subtitle: str = "In the spirit of Seibert, Wang & Courtright (2011), on a simulated study database",
    timeout: int = 900,
) -> Path:
    """Execute every notebook of the collection and write the single-page HTML report.

    Parameters
    ----------
    notebook_dir : str or Path
        Folder with the numbered notebooks (``00_overview.ipynb``, ...).
    out : str or Path
        The HTML file to write; its folder is created when needed.
    title, subtitle : str
        Shown on the title page.
    timeout : int
        Seconds one cell may run before execution stops.

    Returns
    -------
    Path
        The written report.
    """
    paths = find_notebooks(notebook_dir)
    rendered = []
    for path in tqdm(paths, desc="executing notebooks", unit="notebook"):
        rendered.append(render_notebook(path, execute_notebook(path, timeout=timeout)))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(assemble_report(rendered, title, subtitle), encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m masem.report",
        description="Execute every notebook (in memory) and write one self-contained HTML report.",
    )
    parser.add_argument("--notebooks", default="notebooks", help="folder of numbered notebooks")
    parser.add_argument("--out", default="reports/report.html", help="HTML file to write")
    parser.add_argument("--timeout", type=int, default=900, help="seconds a cell may run")
    args = parser.parse_args(argv)
    path = build_report(args.notebooks, args.out, timeout=args.timeout)
    print(f"report written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
