"""Known defects of the Popcorn 5.2 tree: test name -> the defect, precisely, with its source location.

Applied by ``conftest.py`` as ``xfail(strict=True)``: the case stays as written and keeps running, and
an unexpected pass (the defect fixed) fails the run so this table gets updated.
"""

KNOWN_DEFECTS: dict[str, str] = {
}
