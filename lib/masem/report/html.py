"""The HTML report of a notebook collection: every notebook executed afresh, joined on one page.

The numbered notebooks of a folder are executed in memory (their committed copies are never
written), converted with nbconvert's ``lab`` template, and joined behind a title page and a table
of contents; figures are embedded as data URIs, so the page can be mailed or archived as one
file. A :class:`ClosingSection` (a study's key results, say) may close the page. The builder knows
no study: the empowerment study calls it from ``notebooks/study.py``, with its title and its key
results; ``python -m masem.report`` is the same builder on the command line.
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
from nbclient import NotebookClient
from nbconvert import HTMLExporter

from masem._util import tracked

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
    styles = "".join(
        re.findall(r"<style[^>]*>.*?</style>", head.group(1) if head else "", flags=re.S)
    )
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


@dataclass(frozen=True)
class ClosingSection:
    """A section that closes the report after the notebooks, e.g. a study's key results.

    Attributes
    ----------
    title : str
        Its entry in the table of contents.
    anchor : str
        The ``id`` of its ``<section>``, which the entry links to.
    html : str
        The HTML fragment, a ``<section id="...">`` that carries its own styles.
    note : str
        Small text beside the entry (may be empty).

    Examples
    --------
    >>> section = ClosingSection.from_html(
    ...     '<section id="key" data-contents-note="computed afresh"><h2>Key results</h2></section>')
    >>> section.title, section.anchor, section.note
    ('Key results', 'key', 'computed afresh')
    """

    title: str
    anchor: str
    html: str
    note: str = ""

    @classmethod
    def from_html(cls, fragment: str) -> ClosingSection:
        """Read a fragment: the anchor from its first ``id``, the title from its first ``<h2>``, the
        note from a ``data-contents-note`` attribute.

        Parameters
        ----------
        fragment : str
            The section's HTML, e.g. as a study's script writes it to a file.

        Returns
        -------
        ClosingSection

        Raises
        ------
        ValueError
            When the fragment has no ``id`` or no ``<h2>`` heading.
        """
        anchor = re.search(r'\bid="([^"]+)"', fragment)
        title = re.search(r"<h2[^>]*>(.*?)</h2>", fragment, flags=re.S)
        if anchor is None or title is None:
            raise ValueError(
                "a closing section needs an id (the target of its contents entry) and an <h2> "
                "heading "
                '(the entry), e.g. <section id="key-results"><h2>Key results</h2>...</section>'
            )
        note = re.search(r'data-contents-note="([^"]*)"', fragment)
        text = html.unescape(re.sub(r"<[^>]+>", "", title.group(1))).strip()
        return cls(
            title=text,
            anchor=anchor.group(1),
            html=fragment,
            note=html.unescape(note.group(1)) if note else "",
        )


def assemble_report(
    notebooks: list[RenderedNotebook],
    title: str,
    subtitle: str,
    closing: ClosingSection | None = None,
    notice: str = "",
) -> str:
    """Join rendered notebooks into one HTML page: title page, table of contents, notebooks, closing
    section.

    ``notice`` is an HTML paragraph shown on the title page (e.g. that the data are simulated).
    """
    toc_items = []
    for nb in notebooks:
        subs = "".join(f"<li>{html.escape(h)}</li>" for h in nb.headings)
        toc_items.append(
            f'<li><a href="#{_anchor(nb.name)}">{html.escape(nb.title)}</a>'
            f" <small>({html.escape(nb.name)})</small><ul>{subs}</ul></li>"
        )
    sections = "".join(
        f'<section class="masem-notebook" id="{_anchor(nb.name)}">{nb.body}</section>'
        for nb in notebooks
    )
    if closing is not None:
        note = f" <small>({html.escape(closing.note)})</small>" if closing.note else ""
        toc_items.append(
            f'<li><a href="#{html.escape(closing.anchor)}">'
            f"{html.escape(closing.title)}</a>{note}</li>"
        )
        sections += closing.html
    styles = notebooks[0].head_styles if notebooks else ""
    notice = f'\n<p class="masem-notice">{notice}</p>' if notice else ""
    today = _dt.date.today().isoformat()
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
{styles}<style>{_REPORT_CSS}</style></head>
<body class="jp-Notebook" data-jp-theme-light="true">
<header class="masem-title"><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p>{notice}
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
    title: str = "Notebook report",
    subtitle: str = "",
    timeout: int = 900,
    closing: ClosingSection | None = None,
    notice: str = "",
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
    closing : ClosingSection, optional
        A section that closes the page after the notebooks (a study's key results), with its
        entry in the table of contents.
    notice : str
        An HTML paragraph for the title page (e.g. that the data are simulated).

    Returns
    -------
    Path
        The written report.
    """
    paths = find_notebooks(notebook_dir)
    rendered = [
        render_notebook(path, execute_notebook(path, timeout=timeout))
        for path in tracked(paths, len(paths), "executing notebooks", unit="notebook")
    ]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(assemble_report(rendered, title, subtitle, closing, notice), encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m masem.report``: the builder on the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m masem.report",
        description="Execute every notebook (in memory) and write one self-contained HTML report.",
    )
    parser.add_argument("--notebooks", default="notebooks", help="folder of numbered notebooks")
    parser.add_argument("--out", default="reports/report.html", help="HTML file to write")
    parser.add_argument("--timeout", type=int, default=900, help="seconds a cell may run")
    parser.add_argument("--title", default="Notebook report", help="title of the page")
    parser.add_argument("--subtitle", default="", help="subtitle of the page")
    parser.add_argument("--notice", default="", help="an HTML paragraph for the title page")
    parser.add_argument(
        "--closing",
        metavar="FILE",
        default=None,
        help="an HTML fragment (<section id=...><h2>...</h2>...) that closes the page",
    )
    args = parser.parse_args(argv)
    closing = None
    if args.closing:
        closing = ClosingSection.from_html(Path(args.closing).read_text(encoding="utf-8"))
    path = build_report(
        args.notebooks,
        args.out,
        title=args.title,
        subtitle=args.subtitle,
        timeout=args.timeout,
        closing=closing,
        notice=args.notice,
    )
    print(f"report written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
