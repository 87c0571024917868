"""The layout of a path diagram: which variables share a column, and in which order.

graphviz places a left-to-right diagram by itself: every variable in the column of its longest
chain of predecessors, the order within a column chosen to reduce crossings. With many direct
paths that bypass a mediator the result can still let arrows cross and set an estimate between
two arrows, where a reader cannot tell which one it belongs to. :func:`arrange_columns` fixes the
columns and their order from top to bottom, as the author of a model would draw it, and ties each
label to its arrow.
"""

from __future__ import annotations

from collections.abc import Sequence

import graphviz

from masem.errors import DataError

__all__ = ["arrange_columns"]


def arrange_columns(
    diagram: graphviz.Digraph, columns: Sequence[Sequence[str]]
) -> graphviz.Digraph:
    """Put a diagram's variables into given columns, each in the given order from the top, and tie
    every arrow's label to its arrow.

    Each column becomes a graphviz rank (``rank=same``); invisible edges between neighbours keep
    the order within it. A node named again inside the column keeps the attributes it was drawn
    with. Every label is *decorated*: a short line under the label leads to the
    point of the arrow it belongs to, so no label can be read as another arrow's (graphviz's
    ``decorate`` edge attribute). The diagram given is left as it is; the arranged one is a copy.

    Parameters
    ----------
    diagram : graphviz.Digraph
        A left-to-right diagram, e.g. from :func:`masem.plots.path_diagram`.
    columns : sequence of sequences of str
        The columns from left to right, each a list of the variables (node names) it holds, from
        top to bottom. Variables not listed keep the place graphviz gives them.

    Returns
    -------
    graphviz.Digraph
        A copy of ``diagram`` with the columns fixed.

    Raises
    ------
    DataError
        If ``diagram`` is not a ``graphviz.Digraph``, ``columns`` is not a list of lists of node
        names, a name is not a node of the diagram, or a name is listed twice.

    Examples
    --------
    >>> import masem
    >>> from masem import plots
    >>> ex = masem.example_data("Becker92")
    >>> fit = masem.tssem2(masem.tssem1(ex.matrices, ex.n), "Math ~ Spatial + Verbal")
    >>> diagram = plots.arrange_columns(plots.path_diagram(fit), [["Verbal", "Spatial"], ["Math"]])
    >>> "rank=same" in diagram.source
    True
    """
    if not isinstance(diagram, graphviz.Digraph):
        raise DataError(
            f"arrange_columns needs a graphviz.Digraph (e.g. masem.plots.path_diagram), got "
            f"{type(diagram).__name__}"
        )
    if (
        isinstance(columns, str)
        or not isinstance(columns, Sequence)
        or not all(
            isinstance(column, Sequence) and not isinstance(column, str) for column in columns
        )
    ):
        raise DataError(
            f"columns must be a list of columns, each a list of variable names, got {columns!r}"
        )
    names = [str(name) for column in columns for name in column]
    nodes = _nodes(diagram)
    unknown = [name for name in names if name not in nodes]
    if unknown:
        raise DataError(
            f"{unknown} are not variables of the diagram; its variables are {sorted(nodes)}"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise DataError(f"{repeated} are listed in more than one place; list each variable once")
    diagram = diagram.copy()
    for column in columns:
        with diagram.subgraph() as same:
            same.attr(rank="same")
            for name in column:
                same.node(str(name))  # a reference: the node keeps the attributes it has
            for upper, lower in zip(column, column[1:]):
                same.edge(str(upper), str(lower), style="invis")
    diagram.edge_attr["decorate"] = "true"
    return diagram


def _nodes(diagram: graphviz.Digraph) -> set[str]:
    """The names of the nodes a diagram declares (``name [attributes]`` lines of its body)."""
    nodes = set()
    for line in diagram.body:
        text = line.strip()
        keyword = text.startswith(("graph", "node", "edge", "{", "}", "rank", "label"))
        if text and "->" not in text and not keyword:
            nodes.add(text.split(" ", 1)[0].strip('"'))
    return nodes
