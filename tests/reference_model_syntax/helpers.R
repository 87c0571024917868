# Shared by generate.R and constrained_fits.R: a small JSON writer (no package needed) and the
# conversion of lavaan's parameter table into RAM matrices as metaSEM 1.5.5's lavaan2RAM()
# documents it (see the header of generate.R).

json_string <- function(s) {
  s <- gsub("\\", "\\\\", s, fixed = TRUE)
  s <- gsub("\"", "\\\"", s, fixed = TRUE)
  s <- gsub("\n", "\\n", s, fixed = TRUE)
  s <- gsub("\r", "\\r", s, fixed = TRUE)
  s <- gsub("\t", "\\t", s, fixed = TRUE)
  paste0("\"", s, "\"")
}

to_json <- function(x) {
  if (is.null(x)) return("null")
  if (is.list(x)) {
    if (!is.null(names(x)) && all(nzchar(names(x)))) {
      body <- vapply(names(x), function(k) paste0(json_string(k), ": ", to_json(x[[k]])), "")
      return(paste0("{", paste(body, collapse = ", "), "}"))
    }
    return(paste0("[", paste(vapply(x, to_json, ""), collapse = ", "), "]"))
  }
  if (length(x) != 1) return(to_json(as.list(x)))
  if (is.na(x)) return("null")
  if (is.logical(x)) return(if (x) "true" else "false")
  if (is.numeric(x)) {
    if (!is.finite(x)) return(json_string(as.character(x)))
    return(sprintf("%.17g", x))
  }
  json_string(as.character(x))
}

# The text lavaan2RAM writes into a cell: R's as.character() of a number (15 significant digits).
cell_text <- function(value) as.character(value)

ram_of <- function(pt, obs.variables, A.notation, S.notation) {
  rows <- pt[pt$group == 1, ]
  free_rows <- is.na(rows$ustart)
  rows$ustart[free_rows & rows$op %in% c("=~", "~")] <- 0.1
  rows$ustart[free_rows & rows$op == "~~" & rows$lhs == rows$rhs] <- 0.5
  rows$ustart[free_rows & rows$op == "~~" & rows$lhs != rows$rhs] <- 0
  rows$ustart[free_rows & rows$op == "~1"] <- 0
  everything <- unique(c(rows$lhs, rows$rhs))
  latent <- unique(rows$lhs[rows$op == "=~"])
  observed <- setdiff(everything[everything != ""], latent)
  if (!is.null(obs.variables)) {
    if (!identical(sort(observed), sort(obs.variables)))
      stop("Names in \"obs.variables\" do not agree with those in model.")
    observed <- obs.variables
  }
  unnamed <- rows$label == ""
  auto <- ifelse(rows$op == "=~", paste0(rows$rhs, A.notation, rows$lhs),
          ifelse(rows$op == "~", paste0(rows$lhs, A.notation, rows$rhs),
          ifelse(rows$op == "~~", paste0(rows$lhs, S.notation, rows$rhs),
          ifelse(rows$op == "~1", paste0(rows$lhs, "mean"), ""))))
  rows$label[unnamed] <- auto[unnamed]
  cells <- list(A = list(), S = list(), M = list())
  put <- function(m, r, c, k) {
    # A cell of S is the same whichever way round a row names it.
    key <- if (m == "S") paste(sort(c(r, c)), collapse = "\r") else paste(r, c, sep = "\r")
    cells[[m]][[key]] <<- list(row = r, col = c, fixed = rows$free[k] == 0,
                                value = rows$ustart[k], label = rows$label[k],
                                text = if (rows$free[k] == 0) cell_text(rows$ustart[k])
                                       else paste0(cell_text(rows$ustart[k]), "*", rows$label[k]))
  }
  for (k in seq_len(nrow(rows))) {
    op <- rows$op[k]
    if (op == "=~") put("A", rows$rhs[k], rows$lhs[k], k)
    else if (op == "~") put("A", rows$lhs[k], rows$rhs[k], k)
    else if (op == "~~") put("S", rows$lhs[k], rows$rhs[k], k)
    else if (op == "~1") put("M", rows$lhs[k], "", k)
  }
  # Later rows overwrite earlier ones on the same cell; a fixed 0 is the same as no cell.
  strip <- function(m) unname(Filter(function(e) !(e$fixed && e$value == 0), cells[[m]]))
  extra <- pt[pt$group == 0 & !grepl("^\\.", pt$lhs), ]
  algebras <- list()
  k_con <- 0
  for (k in seq_len(nrow(extra))) {
    if (extra$op[k] == ":=") {
      algebras[[length(algebras) + 1]] <- list(name = extra$lhs[k], kind = "definition",
                                               lhs = extra$lhs[k], op = ":=", rhs = extra$rhs[k])
    } else if (extra$op[k] %in% c("==", "<", ">")) {
      k_con <- k_con + 1
      algebras[[length(algebras) + 1]] <- list(name = paste0("constraint", k_con), kind = "constraint",
                                               lhs = extra$lhs[k], op = extra$op[k], rhs = extra$rhs[k])
    }
  }
  list(observed = as.list(observed), latent = as.list(latent), A = strip("A"), S = strip("S"),
       M = strip("M"), mxalgebras = algebras)
}

