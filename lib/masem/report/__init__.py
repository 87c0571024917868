"""The report layer: APA tables of results and the single-page HTML report of a notebook collection.

- :mod:`masem.report.tables`: APA-style tables, formatted numbers, export to CSV, Markdown, LaTeX
  and HTML (re-exported here);
- :mod:`masem.report.html`: execute numbered notebooks in memory and join them into one page
  (``python -m masem.report``); imported only when used, since it loads nbconvert.
"""

from masem.report.tables import (
    APATable,
    apa_correlations,
    apa_fit,
    apa_meta,
    apa_parameters,
    apa_stage1,
    apa_table,
    export_table,
    format_ci,
    format_number,
    format_p,
    latex_escape,
)

__all__ = [
    "APATable",
    "apa_correlations",
    "apa_fit",
    "apa_meta",
    "apa_parameters",
    "apa_stage1",
    "apa_table",
    "export_table",
    "format_ci",
    "format_number",
    "format_p",
    "latex_escape",
]
