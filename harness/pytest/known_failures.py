"""Known failures as data: what each one looks like (its symptom), and the evidence it was seen.

A known kernel defect is not a free pass for a test: the test is an expected failure only while it fails
*in the known way*. A failure is reduced to *signs*, short strings that name what went wrong:

=====================  ==========================================================================
``check:NAME``         a guest program's check NAME printed ok false (``check:watchdog``: the
                       program's own watchdog ended it)
``missing:NAME``       a planned check never printed (also ``duplicate:``, ``unexpected:``,
                       ``malformed``, ``no-plan``)
``exit:N``             a guest program exited N instead of the expected code
``expect:NAME``        a test's own named expectation failed (``FailedExpectation``)
``timeout:NODE``       a command on NODE did not finish in time
``infra:NODE``         the harness lost NODE otherwise (SSH connection lost)
``finding:NODE:TITLE`` the crash parser's finding on NODE's console (``lost connection to node``...)
``hang:NODE:TITLE``    the hang watchdog's verdict (NODE empty when every node still answers)
``stuck:NODE:WCHAN``   a guest program thread on NODE sits in ``D`` in the kernel function WCHAN
                       without progress (after the test failed, or as the watchdog saw it)
``error:TYPE``         any other exception: never part of a known symptom
=====================  ==========================================================================

A ``Symptom`` is two lists of regular expressions over signs: every ``required`` pattern must match a
sign, and every sign must match a ``required`` or an ``allowed`` pattern. Anything else (another check, a
crash title, an SSH error, a setup error) is a new failure. ``stuck:`` signs only say where a hang
waits: an entry that names one requires it (the hang is that one), one that does not ignores them (a
thread left waiting after another failure is not a failure of its own). The mechanism is kernel-agnostic;
the Popcorn table lives with the Popcorn suite.

The same defect can look different on another build of the same tree: with the kernel's own detectors
on, a deadlock that is silence on the default build is ``INFO: task hung in ...``. An entry may name the
build it is for (``build``, one of :data:`BUILD_KINDS`, told apart by the kernel's ``.config``); a test's
entry for the build under test wins over its entry for any build (``""``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.errors import CommandTimeout, InfraError

#: Builds whose symptoms differ, by the options that make them so (all ``=y`` in the kernel's ``.config``):
#: ``detectors`` is kernel-patches/configs/debug.config + detectors.config (hung-task and soft-lockup
#: detectors, lockdep, list debugging), what ``popcorn-harness run --detectors`` builds.
BUILD_KINDS: dict[str, tuple[str, ...]] = {
    "detectors": ("CONFIG_DETECT_HUNG_TASK", "CONFIG_SOFTLOCKUP_DETECTOR", "CONFIG_PROVE_LOCKING", "CONFIG_DEBUG_LIST"),
}


def build_kind(config: dict[str, str]) -> str:
    """The :data:`BUILD_KINDS` name whose options are all on in ``config`` (options -> values), else ``""``."""
    return next((kind for kind, options in BUILD_KINDS.items() if all(config.get(o) == "y" for o in options)), "")


class FailedExpectation(AssertionError):
    """A test's own expectation, named so that a known failure can be matched by it (``expect:NAME``)."""

    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.signs = [f"expect:{name}"]


def expect(condition: object, name: str, message: str) -> None:
    """Fail the test with the sign ``expect:NAME`` and ``message`` unless ``condition`` holds."""
    if not condition:
        raise FailedExpectation(name, message)


def exception_signs(exc: BaseException) -> list[str]:
    """The signs of the exception that ended a test's body."""
    signs = getattr(exc, "signs", None)
    if signs is not None:
        return list(signs)
    node = getattr(exc, "node", "") or ""
    if isinstance(exc, CommandTimeout):
        return [f"timeout:{node}"]
    if isinstance(exc, InfraError) and node:
        return [f"infra:{node}"]
    return [f"error:{type(exc).__name__}"]


def finding_sign(kind: str, finding) -> str:
    """``finding:NODE:TITLE`` or ``hang:NODE:TITLE`` for a crash finding or a watchdog verdict."""
    return f"{kind}:{finding.node}:{finding.title}"


@dataclass(frozen=True)
class Symptom:
    """What a known failure looks like: patterns (full-match regexes) over signs."""

    required: tuple[str, ...]
    allowed: tuple[str, ...] = ()

    def absent(self, signs: list[str]) -> list[str]:
        """The required patterns no sign of ``signs`` matches."""
        return [p for p in self.required if not any(re.fullmatch(p, s) for s in signs)]

    def requires(self, sign: str) -> bool:
        """Whether a required pattern matches ``sign``."""
        return any(re.fullmatch(p, sign) for p in self.required)

    def names(self, kind: str, node: str) -> bool:
        """Whether a required pattern is a sign of ``kind`` on ``node`` (starts ``KIND:NODE:``)."""
        return any(p.startswith(f"{kind}:{node}:") for p in self.required)

    def seen_while_running(self) -> bool:
        """Whether every required sign can be seen while the test still runs (a console finding, a node
        that stopped answering, a stuck thread: ``finding:``, ``timeout:``, ``(timeout|infra):``,
        ``stuck:``): then a test hung at this symptom can be ended when it shows."""
        return all(p.startswith(("finding:", "timeout:", "(timeout|infra):", "stuck:")) for p in self.required)

    def mismatches(self, signs: list[str]) -> list[str]:
        """Why ``signs`` are not this symptom (empty: they are). A ``stuck:`` sign is never unexpected."""
        problems = [f"no sign matches {p!r}" for p in self.absent(signs)]
        patterns = self.required + self.allowed
        problems += [f"unexpected sign {s!r}" for s in signs
                     if not s.startswith("stuck:") and not any(re.fullmatch(p, s) for p in patterns)]
        return problems

    def describe(self) -> str:
        """'check:x + finding:node0:... (may also show: ...)'."""
        text = " + ".join(self.required)
        return text + (f" (may also show: {', '.join(self.allowed)})" if self.allowed else "")


@dataclass(frozen=True)
class Evidence:
    """Runs that showed the symptom: ``seen`` of ``tried`` runs, on the kernel artifact ``kernel`` (its
    manifest key), and when or where (``note``)."""

    seen: int
    tried: int
    kernel: str
    note: str = ""


@dataclass(frozen=True)
class Defect:
    """A kernel defect: a short id, a one-line title, and the precise description with source locations."""

    id: str
    title: str
    detail: str


@dataclass(frozen=True)
class KnownFailure:
    """One test that fails by a known defect, with the symptom it shows and the evidence for it.

    ``racy``: the defect shows in some runs only; a pass is reported (xpassed) but does not fail the
    run, a failure must still show the symptom. ``build``: the kind of build (:data:`BUILD_KINDS`) this
    entry is for; ``""``: any build without an entry of its own. ``alternatives``: other symptoms the same
    defect has shown in this test (a racy defect that, in some runs, leaves the program running with one
    thread lost instead of silencing the node); a failure is the known one when it shows any of them. Only
    ``symptom`` is watched for while the test runs (the hang watchdog's early end)."""

    test: str
    defect: Defect
    symptom: Symptom
    evidence: tuple[Evidence, ...] = field(default=())
    racy: bool = False
    build: str = ""
    alternatives: tuple[Symptom, ...] = ()

    def symptoms(self) -> tuple[Symptom, ...]:
        """Every symptom this failure may show: ``symptom`` first, then the ``alternatives``."""
        return (self.symptom, *self.alternatives)

    def describe(self) -> str:
        """The symptoms as a report shows them: 'A', or 'A, or else B'."""
        return ", or else ".join(s.describe() for s in self.symptoms())

    def reason(self) -> str:
        """'P03 remote mremap is a stub: ...' (the xfail reason a report shows)."""
        return f"{self.defect.id} {self.defect.title}"

    def verdict(self, passed: bool, signs: list[str]) -> tuple[str, str]:
        """(outcome, explanation) for a test run: ``xfailed`` (the symptom), ``xpassed`` (a racy defect
        did not show), ``xpass-strict`` (passed: fixed?), or ``mismatch`` (failed some other way)."""
        if passed:
            if self.racy:
                return "xpassed", f"{self.reason()}: did not show this run (racy)"
            return "xpass-strict", (f"{self.reason()}: the test passed, but this known defect was expected to "
                                    f"fail it with {self.describe()}; fixed? update the table")
        problems = [symptom.mismatches(signs) for symptom in self.symptoms()]
        if not all(problems):
            return "xfailed", self.reason()
        differences = "\n                    or else: ".join("; ".join(p) for p in problems)
        return "mismatch", (f"the test failed, but not with the symptom of known defect {self.reason()}\n"
                            f"  expected symptom: {self.describe()}\n"
                            f"  actual symptom:   {' + '.join(signs) or '(none)'}\n"
                            f"  differences:      {differences}")


def table_by_test(failures: list[KnownFailure], build: str = "") -> dict[str, KnownFailure]:
    """Index a table by test name for a ``build`` kind: a test's entry for that build, else its entry for
    any build (a test stands once per build; an unknown build kind is a ``ValueError``)."""
    seen: set[tuple[str, str]] = set()
    index: dict[str, KnownFailure] = {}
    for failure in failures:
        if failure.build and failure.build not in BUILD_KINDS:
            raise ValueError(f"known failure of {failure.test}: unknown build kind {failure.build!r}")
        if (failure.test, failure.build) in seen:
            raise ValueError(f"known failure of {failure.test} listed twice{' for ' + failure.build if failure.build else ''}")
        seen.add((failure.test, failure.build))
        if failure.build == build or (not failure.build and failure.test not in index):
            index[failure.test] = failure
    return index
