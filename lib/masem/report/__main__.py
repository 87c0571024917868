"""``python -m masem.report``: execute the notebooks and write the HTML report (see
:mod:`masem.report.html`).
"""

import sys

from masem.report.html import main

# Guarded so that importing the module (pytest --doctest-modules does) runs nothing.
if __name__ == "__main__":
    sys.exit(main())
