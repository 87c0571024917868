"""``python -m masem``: the same command as ``masem`` (see :mod:`masem.cli`)."""

import sys

from masem.cli import main

# Guarded so that importing the module (pytest --doctest-modules does) runs nothing.
if __name__ == "__main__":
    sys.exit(main())
