# Expected stage-2 fits under the model's own constraints (==, <, >), for
# tests/test_stage2_constraints.py.
#
# metaSEM 1.5.5 fits stage 2 by weighted least squares in OpenMx (its wls(): the fit function
# t(vechs(R - Sigma)) %*% solve(acov) %*% vechs(R - Sigma), with the RAM from lavaan2RAM() and the
# model's constraints added as mxConstraint()s, as lavaan2RAM() returns them in $mxalgebras).
# metaSEM is not installed on the machine that produced the file, so this script builds the same
# OpenMx model directly: the RAM matrices of lavaan's parameter table (helpers.R), the implied
# matrix F (I - A)^-1 S (I - A)^-T F', and diag((I - A)^-1 S (I - A)^-T) = 1 as an mxConstraint on
# every variable whose variance is free - metaSEM's tssem2(..., diag.constraints = TRUE). It is
# fitted to metaSEM's own stage-1 results (constrained_inputs.R) and reports OpenMx's estimates,
# standard errors, minimum of the fit function, and the values of the definitions.
# Inequalities appear only where they do not bind (H4): where one binds, SLSQP stopped at a point
# that violates it by about 0.01 (e.g. e = 0.2897 under 'e > 0.3') and CSOLNP stopped with an
# internal error, so OpenMx gives no reference there; tests/test_stage2_constraints.py checks
# that case against the same model with the bound written as an equality.
#
# Usage (from this folder): Rscript constrained_fits.R > constrained_fits.json
# Needs R (>= 4.2), lavaan 0.6-14 and OpenMx 2.21.1.

suppressMessages({library(lavaan); library(OpenMx)})
mxOption(key = "Number of Threads", value = 1)
mxOption(key = "Default optimizer", value = "SLSQP")
source("helpers.R")
source("constrained_inputs.R")

models <- list(
  list(id = "H1", data = "Hunter83", what = "a nonlinear equality (c == a*b)", model = "
    Job_knowledge ~ a*Ability
    Work_sample ~ b*Job_knowledge + c*Ability
    Supervisor ~ d*Work_sample + e*Job_knowledge
    c == a*b"),
  list(id = "H2", data = "Hunter83", what = "a linear equality and a definition", model = "
    Job_knowledge ~ a*Ability
    Work_sample ~ b*Job_knowledge + c*Ability
    Supervisor ~ d*Work_sample + e*Job_knowledge
    d == e
    ind := a*e + a*b*d + c*d"),
  list(id = "H4", data = "Hunter83", what = "an inequality that does not bind", model = "
    Job_knowledge ~ a*Ability
    Work_sample ~ b*Job_knowledge + c*Ability
    Supervisor ~ d*Work_sample + e*Job_knowledge
    e > -0.5"),
  list(id = "H5", data = "Hunter83", what = "a constraint on a definition", model = "
    Job_knowledge ~ a*Ability
    Work_sample ~ b*Job_knowledge + c*Ability
    Supervisor ~ d*Work_sample + e*Job_knowledge
    direct := c
    indirect := a*b
    direct == 2*indirect"),
  list(id = "B1", data = "Becker92", what = "two paths equal", model = "
    Math ~ a*Spatial + b*Verbal
    Spatial ~~ Verbal
    a == b"),
  list(id = "B2", data = "Becker92", what = "a difference fixed (b - a == 0.1)", model = "
    Math ~ a*Spatial + b*Verbal
    Spatial ~~ Verbal
    b - a == 0.1")
)

as_mx <- function(cells, vars, name, type) {
  m <- length(vars)
  values <- matrix(0, m, m, dimnames = list(vars, vars))
  free <- matrix(FALSE, m, m, dimnames = list(vars, vars))
  labels <- matrix(NA_character_, m, m, dimnames = list(vars, vars))
  for (cell in cells) {
    for (rc in if (type == "Symm") list(c(cell$row, cell$col), c(cell$col, cell$row))
              else list(c(cell$row, cell$col))) {
      values[rc[1], rc[2]] <- cell$value
      free[rc[1], rc[2]] <- !cell$fixed
      if (!cell$fixed) labels[rc[1], rc[2]] <- cell$label
    }
  }
  mxMatrix(type = "Full", nrow = m, ncol = m, values = values, free = free, labels = labels,
           name = name)
}

fit_case <- function(case) {
  data <- inputs[[case$data]]
  pt <- lavaanify(case$model, fixed.x = FALSE, auto.var = TRUE, std.lv = TRUE)
  ram <- ram_of(pt, colnames(data$R), "ON", "WITH")
  obs <- unlist(ram$observed)
  vars <- c(obs, unlist(ram$latent))
  m <- length(vars)
  p <- length(obs)
  A <- as_mx(ram$A, vars, "A", "Full")
  S <- as_mx(ram$S, vars, "S", "Symm")
  Fm <- mxMatrix("Full", p, m, values = cbind(diag(p), matrix(0, p, m - p)), name = "Fm")
  Id <- mxMatrix("Iden", m, m, name = "Id")
  sampleS <- mxMatrix("Full", p, p, values = data$R[obs, obs], name = "sampleS")
  keep <- vechs(outer(colnames(data$R), colnames(data$R), function(a, b) a %in% obs & b %in% obs))
  invAcov <- mxMatrix("Full", values = solve(data$acov[keep, keep]), name = "invAcov")
  diag_free <- diag(S$free)
  select <- mxMatrix("Full", values = diag(m)[diag_free, , drop = FALSE], name = "select")
  One <- mxMatrix("Full", sum(diag_free), 1, values = 1, name = "One")
  parts <- list(A, S, Fm, Id, sampleS, invAcov, select, One,
    mxAlgebra((Fm %*% solve(Id - A)) %&% S, name = "impliedS"),
    mxAlgebra(vechs(sampleS - impliedS), name = "vecS"),
    mxAlgebra(t(vecS) %&% invAcov, name = "obj"),
    mxConstraint(select %*% diag2vec(solve(Id - A) %&% S) == One, name = "diag"),
    mxFitFunctionAlgebra("obj"))
  definitions <- character(0)
  for (k in seq_along(ram$mxalgebras)) {
    x <- ram$mxalgebras[[k]]
    if (x$kind == "definition") {
      parts[[length(parts) + 1]] <- eval(parse(text = sprintf("mxAlgebra(%s, name = '%s')", x$rhs, x$lhs)))
      definitions <- c(definitions, x$lhs)
    } else {
      parts[[length(parts) + 1]] <- eval(parse(text = sprintf("mxConstraint(%s %s %s, name = 'c%d')",
                                                               x$lhs, x$op, x$rhs, k)))
    }
  }
  fit <- mxRun(do.call(mxModel, c(list(paste0("wls_", case$id)), parts)), silent = TRUE,
               suppressWarnings = TRUE)
  # SLSQP often stops with status 6 under constraints; restart it from where it stopped until
  # the minimum no longer moves.
  for (again in 1:10) {
    before <- fit$output$minimum
    fit <- mxRun(fit, silent = TRUE, suppressWarnings = TRUE)
    if (abs(before - fit$output$minimum) < 1e-12) break
  }
  est <- summary(fit)$parameters
  # mxEval() takes an expression: the algebra's name as a symbol, not as a string.
  defined <- lapply(definitions, function(d) list(name = d, value = as.numeric(
    eval(substitute(mxEval(x, fit, compute = TRUE), list(x = as.name(d)))))))
  list(id = case$id, data = case$data, what = case$what, model = case$model,
       observed = as.list(obs), source = data$source, n = data$n,
       status = fit$output$status$code, minimum = fit$output$minimum,
       parameters = lapply(seq_len(nrow(est)), function(k) list(
         name = est$name[k], estimate = est$Estimate[k], se = est$Std.Error[k])),
       definitions = defined)
}

info <- list(generated_by = "tests/reference_model_syntax/constrained_fits.R", date = format(Sys.Date()),
             R = R.version.string, lavaan = as.character(packageVersion("lavaan")),
             OpenMx = as.character(packageVersion("OpenMx")), optimizer = "SLSQP, 1 thread")
cat("{\"info\": ", to_json(info), ",\n\"fits\": [\n", sep = "")
cat(paste(vapply(models, function(case) to_json(fit_case(case)), ""), collapse = ",\n"), "\n]}\n", sep = "")
