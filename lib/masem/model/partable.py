"""The parameter table of a model: what the user wrote plus what lavaan adds when the syntax is
silent.

metaSEM's ``lavaan2RAM`` (1.5.5) reads a model with lavaan's
``lavaanify(model, fixed.x = FALSE, auto.var = TRUE, std.lv = TRUE)`` (lavaan 0.6-14). These are
the rules that call applies, each with its source; :func:`lavaanify` implements them in this order.

======================================================  ===========================================
Rule                                                    Source
======================================================  ===========================================
Latent variables are the left sides of ``=~``;          lavaan ``lav_partable_vnames``
observed ones all other names. Exogenous observed
variables are the right sides of ``~`` that are no
latent variable, indicator or outcome, and appear in
no ``~~`` statement.
A covariance ``a ~~ b`` is stored with the variable     lavaan ``lav_partable_covariance_reorder``
listed first (latent, then observed, in the order
above) on the left; this sets its automatic name.
Every observed variable that is not exogenous gets a    ``auto.var = TRUE`` (``?lavOptions``)
free (residual) variance, then every latent variable
gets a variance, unless the syntax gives one.
Every latent variable's variance is fixed at 1, also    ``std.lv = TRUE`` (``?lavOptions``;
when written (``f ~~ f``); ``f ~~ NA*f`` frees it.      ``?lavaan2RAM``)
Exogenous observed variables get free variances and     ``fixed.x = FALSE`` (``?lavOptions``)
free covariances among themselves (column by column).
No covariance is added among latent variables, among    ``auto.cov.lv.x = FALSE``, ``auto.cov.y =
dependent variables, or between the two.                FALSE``, lavaanify's defaults
No loading is fixed; a latent variable is scaled by     ``auto.fix.first = FALSE``, ``std.lv =
its unit variance.                                      TRUE``
Modifiers apply after the defaults: a number fixes,     ``?model.syntax``; lavaan 0.6-14 executed
``NA`` frees, ``start()`` sets the value (also of a
fixed parameter), a label names.
Parameters that share a label are one parameter; if     lavaan 0.6-14 executed (warns when the
one of them is fixed, all are fixed at the first        values differ)
fixed value.
======================================================  ===========================================

:mod:`masem.model.ram` turns the table into RAM matrices with ``lavaan2RAM``'s start values and
names. Every row added or fixed by a rule above carries the rule in :attr:`Row.default`, which
``RAMModel.describe()`` and ``TSSEM2Result.inspect()`` show.

References
----------
Rosseel, Y. (2012). lavaan: An R package for structural equation modeling. *Journal of
Statistical Software*, 48(2), 1-36.
Cheung, M. W.-L. (2015). metaSEM: An R package for meta-analysis using structural equation
modeling. *Frontiers in Psychology*, 5, 1521.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from masem.model.rexpr import NA
from masem.model.syntax import Element, Parsed

EXOGENOUS_RULE = "exogenous observed variables are free to vary and covary (fixed.x = FALSE)"
VARIANCE_RULE = "free (residual) variance of an observed variable (auto.var = TRUE)"
LATENT_RULE = "the variance of a latent variable is fixed at 1 (std.lv = TRUE)"


@dataclass(frozen=True)
class Row:
    """One row of lavaan's parameter table (``lhs op rhs``), after the defaults and modifiers."""

    lhs: str
    op: str
    rhs: str
    line: int  # 0 for a row the defaults added
    free: bool
    value: float | None  # the fixed value; for a free row its start() value or None
    label: str  # "" when unlabelled
    default: str  # "" when the user wrote the row as it stands; else the rule behind it

    @property
    def added(self) -> bool:
        """Whether a default rule added the row (the user did not write it)."""
        return self.line == 0


@dataclass(frozen=True)
class Roles:
    """lavaan's classification of the variables (``lav_partable_vnames``)."""

    latent: tuple[str, ...]
    observed: tuple[str, ...]  # lavaan's ``ov`` order
    exogenous: tuple[str, ...]  # ``ov.x``: free variances and covariances added


def roles(elements: list[Element]) -> Roles:
    """Latent, observed (in lavaan's order) and exogenous observed variables of the user's rows."""

    def unique(names):
        return list(dict.fromkeys(names))

    latent = unique(e.lhs for e in elements if e.op == "=~")
    indicators = [v for v in unique(e.rhs for e in elements if e.op == "=~") if v not in latent]
    outcomes = [
        v for v in unique(e.lhs for e in elements if e.op == "~") if v not in latent + indicators
    ]
    predictors = [
        v
        for v in unique(e.rhs for e in elements if e.op == "~")
        if v not in latent + indicators + outcomes
    ]
    covariances = [e for e in elements if e.op == "~~"]
    in_covariances = [e.lhs for e in covariances] + [e.rhs for e in covariances]
    observed = unique(indicators + outcomes + predictors + in_covariances)
    observed = [v for v in observed if v not in latent]
    exogenous = [v for v in predictors if v not in in_covariances]
    return Roles(tuple(latent), tuple(observed), tuple(exogenous))


def lavaanify(parsed: Parsed) -> list[Row]:
    """The parameter table of a parsed model (the rules of the module docstring, in order).

    Notes on what lavaan does with the user's modifiers are appended to ``parsed.notes``.
    """
    found = roles(parsed.elements)
    rank = {v: i for i, v in enumerate(found.latent + found.observed)}
    rows = []
    for e in parsed.elements:
        lhs, rhs = e.lhs, e.rhs
        if e.op == "~~" and rank[lhs] > rank[rhs]:
            lhs, rhs = rhs, lhs
        rows.append(_user_row(replace(e, lhs=lhs, rhs=rhs), found, parsed.notes))
    written = {(r.lhs, r.op, r.rhs) for r in rows}
    exogenous = set(found.exogenous)
    for v in [v for v in found.observed if v not in exogenous] + list(found.latent):
        if (v, "~~", v) not in written:
            latent = v in found.latent
            rows.append(
                Row(
                    v,
                    "~~",
                    v,
                    0,
                    not latent,
                    1.0 if latent else None,
                    "",
                    LATENT_RULE if latent else VARIANCE_RULE,
                )
            )
    for i, a in enumerate(found.exogenous):
        for b in found.exogenous[i:]:
            rows.append(Row(a, "~~", b, 0, True, None, "", EXOGENOUS_RULE))
    return _equal_labels(rows, parsed.notes)


def _user_row(e: Element, found: Roles, notes: list[str]) -> Row:
    """A written row: std.lv first, then the modifiers (lavaan's order)."""
    where = f"line {e.line}: '{e.statement}'"
    element = f"{e.lhs} {e.op} {e.rhs}"
    std_lv = e.op == "~~" and e.lhs == e.rhs and e.lhs in found.latent
    free, value, default = (False, 1.0, LATENT_RULE) if std_lv else (True, None, "")
    if e.fixed is NA:
        free, value, default = True, None, ""
    elif e.fixed is not None:
        free, value, default = False, float(e.fixed), ""
    if e.start is not None:
        if not free and e.fixed is not None:
            notes.append(
                f"{where}: start({e.start:g}) replaces the fixed value {e.fixed:g} of {element} "
                f"(lavaan): it is fixed at {e.start:g}; give one of the two"
            )
        elif not free:
            notes.append(
                f"{where}: std.lv = TRUE (metaSEM's default) fixes the variance of the latent "
                f"{e.lhs} at 1, and start({e.start:g}) replaces that value: it is FIXED at "
                f"{e.start:g}; write '{e.lhs} ~~ NA*{e.lhs} + start({e.start:g})*{e.lhs}' to "
                "estimate it"
            )
        value = e.start
    if std_lv and not free and e.label is not None and e.fixed is None:
        notes.append(
            f"{where}: std.lv = TRUE (metaSEM's default) fixes the variance of the latent {e.lhs} "
            f"at {value:g}, so the label '{e.label}' names no free parameter; write "
            f"'{e.lhs} ~~ NA*{e.lhs} + {e.label}*{e.lhs}' to estimate it"
        )
    if e.equal is not None:
        notes.append(
            f'{where}: equal("{e.equal}") does not make {element} equal to {e.equal} in '
            "metaSEM: lavaan turns it into an internal constraint that lavaan2RAM drops, so both "
            "are estimated separately; to make them equal give both the same label, e.g. "
            "'f =~ x1 + a*x2 + a*x3'"
        )
    return Row(e.lhs, e.op, e.rhs, e.line, free, value, e.label or "", default)


def _equal_labels(rows: list[Row], notes: list[str]) -> list[Row]:
    """Rows sharing a label are one parameter; a fixed member fixes them all (lavaan)."""
    out = list(rows)
    labels = dict.fromkeys(r.label for r in rows if r.label)
    for label in labels:
        members = [k for k, r in enumerate(rows) if r.label == label]
        fixed = [k for k in members if not rows[k].free]
        if not fixed or len(members) == 1:
            continue
        value = rows[fixed[0]].value
        first = rows[fixed[0]]
        others = {rows[k].value for k in fixed} - {value}
        if others:
            notes.append(
                f"line {first.line}: the label '{label}' is shared by parameters fixed at "
                f"different values ({', '.join(f'{v:g}' for v in sorted({value} | others))}); "
                "lavaan fixes "
                f"them all at the first, {value:g}"
            )
        for k in members:
            r = rows[k]
            if r.free:
                notes.append(
                    f"line {r.line}: {r.lhs} {r.op} {r.rhs} shares the label '{label}' with "
                    f"{first.lhs} {first.op} {first.rhs}, which is fixed at {value:g} (line "
                    f"{first.line}), so lavaan fixes it at {value:g} too; give it its own label "
                    "to estimate it"
                )
            out[k] = replace(r, free=False, value=value)
    return out
