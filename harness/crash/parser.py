"""Turn console text into findings, driven by the table in ``harness.crash.patterns``.

A report starts at a header line and runs to its ``---[ end trace``/``---[ end Kernel panic`` line, or
to the next header more than a few lines further on (the first lines of one report stack several
headers: ``BUG: ...``, ``#PF: ...``, ``Oops: ...``), or ``MAX_REPORT_LINES``. Its culprit is searched
only inside it. A report that repeats an earlier one (the same RCU stall printed again) joins the
earlier finding's excerpt instead of becoming a finding of its own.
"""

from __future__ import annotations

import re
from functools import lru_cache

from harness.crash.patterns import (ANY_HEADER, CALL_TRACE, COMPILED, FRAME, GENERIC_SKIP, LINE_PREFIX, LOCK_AT,
                                    MAX_LINE, MAYBE_HEADER, REPORT_END, RIP, STRIP_PREFIXES, Oops)
from harness.crash.finding import Finding

MAX_REPORT_LINES = 200
#: Headers within this many lines of a report's first line belong to it.
HEADER_WINDOW = 12
#: Lines of context kept before a report's header in its excerpt.
CONTEXT_BEFORE = 2
_TIMESTAMPED = re.compile(r"^(?:<\d>)?\s*\[\s*\d+\.\d+\]")


def parse(text: str, node: str = "", test: str = "", symbols=None, booted: bool = False) -> list[Finding]:
    """Every kernel report in ``text``, in order, as findings for ``node`` during ``test``.

    ``symbols`` (a ``harness.crash.symbolize.SymbolTable``) turns raw addresses into ``func+0xoff``
    first, so raw-address reports still get a culprit. ``booted`` says the text continues a console
    that already showed kernel output (a boot banner in it is then an unexpected reboot)."""
    if not MAYBE_HEADER.search(text):
        return []
    raw = [_bounded(line) for line in text.splitlines()]
    shown = [symbols.symbolize_line(line) for line in raw] if symbols else raw
    lines = [LINE_PREFIX.sub("", line, count=1).rstrip() for line in shown]
    findings: list[Finding] = []
    #: (row, event) -> the finding that first reported it: a repeat is added to its excerpt.
    events: dict[tuple[Oops, str], Finding] = {}
    seen_kernel = booted
    i = 0
    while i < len(lines):
        hit = header(lines[i])
        if hit is None or (hit[0].follows and findings) or (hit[0].after_kernel_output and not seen_kernel):
            seen_kernel = seen_kernel or bool(_TIMESTAMPED.match(raw[i]))
            i += 1
            continue
        row, match = hit
        end = report_end(lines, i)
        title, corrupted = make_title(row, match, lines[i:end + 1])
        start = max(0, i - CONTEXT_BEFORE)
        excerpt = "\n".join(raw[start:end + 1])
        symbolized = "\n".join(shown[start:end + 1])
        event = repeated_event(row, lines[i:end + 1])
        if event is not None and event in events:
            events[event].excerpt += "\n" + excerpt
        else:
            finding = Finding(title=title, type=row.type, node=node, test=test, excerpt=excerpt,
                              symbolized=symbolized if symbolized != excerpt else "", corrupted=corrupted)
            findings.append(finding)
            if event is not None:
                events[event] = finding
        seen_kernel = True
        i = end + 1
    return findings


def _bounded(line: str) -> str:
    """``line`` cut to ``MAX_LINE`` characters (no kernel line is longer), saying how much was cut."""
    return line if len(line) <= MAX_LINE else f"{line[:MAX_LINE]} [{len(line) - MAX_LINE} more characters cut]"


def header(line: str) -> tuple[Oops, re.Match] | None:
    """The first table row whose header matches ``line`` (prefix already removed), with its match."""
    if not ANY_HEADER.match(line):
        return None
    for row, pattern in COMPILED:
        match = pattern.match(line)
        if match:
            return row, match
    return None


def repeated_event(row: Oops, report: list[str]) -> tuple[Oops, str] | None:
    """The event a report of ``row`` is about, for rows whose reports repeat (``Oops.repeats_by``)."""
    if not row.repeats_by:
        return None
    pattern = _compiled(row.repeats_by)
    return next(((row, found.group(1)) for found in map(pattern.search, report) if found), None)


def report_end(lines: list[str], start: int) -> int:
    """Index of the last line of the report that starts at ``start``."""
    limit = min(len(lines), start + MAX_REPORT_LINES)
    for j in range(start + 1, limit):
        if REPORT_END.search(lines[j]):
            return j
        if j - start > HEADER_WINDOW and header(lines[j]) is not None:
            return j - 1
    return limit - 1


def make_title(row: Oops, match: re.Match, report: list[str]) -> tuple[str, bool]:
    """The row's title for this report, and whether it is corrupted (culprit needed, none found)."""
    fields = {key: (value or "").strip() for key, value in match.groupdict().items()}
    func = culprit(row, match, report)
    fields["func"] = func or "corrupted"
    return row.title.format(**fields), func is None and "{func}" in row.title


def culprit(row: Oops, match: re.Match, report: list[str]) -> str | None:
    """The culprit function of a report: the row's sources tried in order, generic frames skipped."""
    skip = _skip_pattern(row.skip)
    for source in row.culprit:
        for func in _CANDIDATES[source](match, report):
            if not skip.search(func):
                return next((func[len(p):] for p in STRIP_PREFIXES if func.startswith(p)), func)
    return None


def _from_header(match: re.Match, report: list[str]):
    if "func" in match.groupdict() and match.group("func"):
        yield match.group("func")


def _searching(pattern: re.Pattern):
    """A culprit source: the ``func`` of every report line where ``pattern`` is found."""
    def candidates(match: re.Match, report: list[str]):
        for line in report:
            found = pattern.search(line)
            if found:
                yield found.group("func")
    return candidates


def _from_trace(match: re.Match, report: list[str]):
    in_trace = False
    for line in report:
        if CALL_TRACE.search(line):
            in_trace = True
        elif line == "</TASK>":
            in_trace = False
        elif in_trace:
            frame = FRAME.match(line)
            if frame and not (frame.group("unreliable") or frame.group("unreliable2")):
                yield frame.group("func")


_CANDIDATES = {"header": _from_header, "rip": _searching(RIP), "trace": _from_trace, "at": _searching(LOCK_AT)}


@lru_cache(maxsize=None)
def _compiled(pattern: str) -> re.Pattern:
    return re.compile(pattern)


@lru_cache(maxsize=None)
def _skip_pattern(extra: tuple[str, ...]) -> re.Pattern:
    return re.compile("|".join(f"(?:{p})" for p in GENERIC_SKIP + extra))
