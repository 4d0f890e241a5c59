"""The golden corpus: real console logs, each headed by the report the parser must find first.

Files ``testcases/unit/data/crash/NNN`` (syzkaller's pkg/report/testdata layout): ``TITLE:``,
``TYPE:`` and optionally ``CORRUPTED: Y`` lines, a blank line, then the raw console log. A file
without ``TITLE:`` is a log with no report in it. Captured from real guests with
``scripts/capture_crash_corpus.py`` (CI kernel, LKDTM) and from Popcorn 5.2 test runs.
"""

from pathlib import Path

import pytest

from harness.crash.parser import parse

CORPUS = Path(__file__).parent / "data" / "crash"


def read_case(path: Path) -> tuple[dict[str, str], str]:
    """(header fields, console log) of one corpus file: header lines up to the first blank line."""
    lines = path.read_text().split("\n")
    blank = lines.index("")
    fields = dict(line.split(": ", 1) for line in lines[:blank])
    return fields, "\n".join(lines[blank + 1:])


@pytest.mark.parametrize("path", sorted(CORPUS.iterdir()), ids=lambda p: p.name)
def test_corpus_case(path):
    fields, log = read_case(path)
    findings = parse(log)
    if "TITLE" not in fields:
        assert findings == [], [f.title for f in findings]
        return
    assert findings, "no report found"
    first = findings[0]
    assert (first.title, first.type, first.corrupted) == (fields["TITLE"], fields["TYPE"],
                                                          fields.get("CORRUPTED") == "Y")


def test_corpus_is_there():
    assert len(list(CORPUS.iterdir())) >= 10
