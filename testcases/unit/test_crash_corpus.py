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


def test_the_one_regex_prefilters_agree_with_the_table_on_every_corpus_line():
    """``ANY_HEADER`` matches a line exactly when a row of the table does, and ``MAYBE_HEADER`` is found in
    every line a row matches (so the parser's shortcuts never lose a report)."""
    from harness.crash.parser import header
    from harness.crash.patterns import ANY_HEADER, COMPILED, LINE_PREFIX, MAYBE_HEADER

    matched = 0
    for path in sorted(CORPUS.iterdir()):
        for raw in read_case(path)[1].splitlines():
            line = LINE_PREFIX.sub("", raw, count=1).rstrip()
            rows = any(pattern.match(line) for _, pattern in COMPILED)
            assert bool(ANY_HEADER.match(line)) == rows, (path.name, line)
            assert not rows or MAYBE_HEADER.search(raw), (path.name, raw)
            matched += rows and header(line) is not None
    assert matched >= 30


@pytest.mark.timeout(120)  # a bound, not a measurement: 4 M lines took 42 s to parse without the prefilters
def test_a_report_inside_a_flood_of_short_lines_is_found_and_the_flood_alone_holds_none():
    """A flooding guest (``yes`` on its console) prints millions of lines: they are passed over at regex
    speed, and a report among them is still found."""
    flood = "y\n" * (2 << 20)
    assert parse(flood) == []
    report = read_case(CORPUS / "001")[1]
    assert [f.title for f in parse(flood + report + flood)] == ["kernel BUG in lkdtm_BUG"]
