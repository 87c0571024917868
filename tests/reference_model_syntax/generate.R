# Expected lavaan -> RAM translations for tests/test_model_syntax_reference.py.
#
# For every case of cases.R this script runs lavaan's own parser,
#   lavaan::lavaanify(model, fixed.x = FALSE, auto.var = TRUE, std.lv = TRUE)
# (the call metaSEM 1.5.5's lavaan2RAM() makes), keeps its parameter table, and turns the table into
# RAM matrices following lavaan2RAM's documented conversion (metaSEM manual, ?lavaan2RAM; Cheung,
# 2015): start values 0.1 for paths and loadings, 0.5 for free variances, 0 for free covariances;
# variables ordered as they first appear in the table's lhs then rhs column, latent variables last;
# unlabelled parameters named lhs + "ON" + rhs (rhs + "ON" + lhs for =~) and lhs + "WITH" + rhs;
# a fixed cell written as its value, a free one as "start*label"; constraint and definition rows
# (group 0) other than lavaan's internal ".p" equality rows listed in order.
# metaSEM itself is not installed on the machine that produced the file; the conversion is written
# from its documentation and checked against the RAM printed in Cheung's MASEM workshop material
# (case T09) and against metaSEM's reference runs in tests/reference (Becker92, Digman97, Hunter83).
#
# Usage (from this folder): Rscript generate.R > expected.json
# Needs R (>= 4.2) and lavaan 0.6-14 only; no other package.

suppressMessages(library(lavaan))
source("cases.R")  # defines `cases`: a list of list(id, source, model, args)

source("helpers.R")

run_case <- function(case) {
  args <- case$args
  notes <- character(0)
  out <- list(id = case$id, source = case$source, model = case$model,
              obs_variables = if (is.null(args$obs.variables)) NULL else as.list(args$obs.variables),
              A_notation = if (is.null(args$A.notation)) "ON" else args$A.notation,
              S_notation = if (is.null(args$S.notation)) "WITH" else args$S.notation,
              std_lv = if (is.null(args$std.lv)) TRUE else args$std.lv,
              ngroups = if (is.null(args$ngroups)) 1 else args$ngroups)
  result <- tryCatch(withCallingHandlers({
      pt <- lavaanify(case$model, fixed.x = FALSE, auto.var = TRUE, std.lv = out$std_lv,
                      ngroups = out$ngroups)
      table <- lapply(seq_len(nrow(pt)), function(k) list(
        lhs = pt$lhs[k], op = pt$op[k], rhs = pt$rhs[k], user = pt$user[k], group = pt$group[k],
        free = pt$free[k], ustart = pt$ustart[k], label = pt$label[k], plabel = pt$plabel[k]))
      ram <- if (out$ngroups == 1) ram_of(pt, args$obs.variables, out$A_notation, out$S_notation) else NULL
      list(partable = table, ram = ram)
    }, warning = function(w) {
      notes <<- c(notes, gsub("\\s+", " ", conditionMessage(w)))
      invokeRestart("muffleWarning")
    }), error = function(e) list(error = gsub("\\s+", " ", conditionMessage(e))))
  c(out, list(lavaan_warnings = as.list(notes)), result)
}

info <- list(
  generated_by = "tests/reference_model_syntax/generate.R",
  date = format(Sys.Date()),
  R = R.version.string,
  lavaan = as.character(packageVersion("lavaan")),
  call = "lavaanify(model, fixed.x = FALSE, auto.var = TRUE, std.lv = TRUE, ngroups = 1)",
  ram = "metaSEM 1.5.5 lavaan2RAM() conversion as documented (see the header of generate.R)"
)
cat("{\"info\": ", to_json(info), ",\n\"cases\": [\n", sep = "")
results <- vapply(cases, function(case) to_json(run_case(case)), "")
cat(paste(results, collapse = ",\n"), "\n]}\n", sep = "")
