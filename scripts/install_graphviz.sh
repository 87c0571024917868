#!/usr/bin/env bash
# Install the graphviz `dot` program (path diagrams) from the system package manager when possible;
# otherwise stop with instructions. Called by `make setup` only when `dot` is missing.
set -euo pipefail
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then as_root=(sudo -n); else as_root=(none); fi
fi
if [ "${as_root[0]:-}" != none ]; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "Installing graphviz with apt-get (the 'dot' program draws the path diagrams)..."
    "${as_root[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq graphviz >/dev/null
  elif command -v dnf >/dev/null 2>&1; then "${as_root[@]}" dnf install -y graphviz
  elif command -v brew >/dev/null 2>&1; then brew install graphviz
  fi
fi
if ! command -v dot >/dev/null 2>&1; then
  cat >&2 <<'MSG'
The graphviz 'dot' program is missing and could not be installed automatically.
Install it, then run the command again:
  Debian/Ubuntu:  sudo apt-get install graphviz
  Fedora:         sudo dnf install graphviz
  macOS:          brew install graphviz
  conda:          conda install -c conda-forge graphviz   (or use environment.yml, see README)
MSG
  exit 1
fi
