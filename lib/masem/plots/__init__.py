"""Figures: evidence maps, forest and funnel plots, path diagrams, robustness plots.

The top layer of the package, imported only when asked for (``from masem import plots``):
``import masem`` never loads matplotlib, seaborn or graphviz, and no estimator draws. Every
function is re-exported here from its room:

- :mod:`masem.plots.overview`: evidence maps and many intervals side by side;
- :mod:`masem.plots.meta`: forest and funnel plots, observed vs corrected correlations;
- :mod:`masem.plots.moderators`: a study characteristic by group, a meta-regression's bubble plot;
- :mod:`masem.plots.structure`: path diagrams, loadings, paths by group and by level;
- :mod:`masem.plots.layout`: the columns of a path diagram;
- :mod:`masem.plots.robustness`: leave-one-out influence and parameter recovery;
- :mod:`masem.plots.osmasem`: a moderated path of a one-stage MASEM against its moderator.
"""

from masem.plots._base import save_diagram, save_figure
from masem.plots.layout import arrange_columns
from masem.plots.meta import correction_plot, forest_plot, funnel_plot
from masem.plots.moderators import bubble_plot, characteristic_histogram
from masem.plots.osmasem import moderated_path
from masem.plots.overview import interval_plot, pair_heatmap, precision_by_k, sample_size_histogram
from masem.plots.robustness import influence_plot, recovery_plot
from masem.plots.structure import (
    SIGNIFICANCE,
    conceptual_model,
    factor_diagram,
    level_plot,
    loading_plot,
    path_diagram,
    paths_by_group,
)

__all__ = [
    "SIGNIFICANCE",
    "arrange_columns",
    "bubble_plot",
    "characteristic_histogram",
    "conceptual_model",
    "correction_plot",
    "factor_diagram",
    "forest_plot",
    "funnel_plot",
    "influence_plot",
    "interval_plot",
    "level_plot",
    "loading_plot",
    "moderated_path",
    "pair_heatmap",
    "path_diagram",
    "paths_by_group",
    "precision_by_k",
    "recovery_plot",
    "sample_size_histogram",
    "save_diagram",
    "save_figure",
]
