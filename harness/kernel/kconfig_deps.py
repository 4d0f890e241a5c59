"""Why Kconfig dropped an option: read the tree's Kconfig files and evaluate them against the final config.

A small reader of the Kconfig language, enough to explain a dropped option: it follows ``source``
from the top-level ``Kconfig`` (for one architecture), records for every symbol its ``depends on``
conditions (including enclosing ``if``, ``menu`` and ``choice`` blocks), whether it has a prompt, and
who ``select``s it, and evaluates dependency expressions against the final ``.config``. The answer is a
reason such as ``depends on !TRANSPARENT_HUGEPAGE (TRANSPARENT_HUGEPAGE=y)``.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

from harness.kernel.config import DroppedOption

#: Keywords that start a new Kconfig item and so end the current one.
ITEM_KEYWORDS = ("config", "menuconfig", "choice", "endchoice", "comment", "menu", "endmenu", "if", "endif",
                 "source", "rsource", "osource", "orsource", "mainmenu")

#: Type keywords: ``bool "prompt"`` gives the symbol a prompt; ``def_bool`` gives it a default only.
TYPE_KEYWORDS = ("bool", "boolean", "tristate", "string", "int", "hex")

_TOKEN = re.compile(r'\s*(&&|\|\||!=|<=|>=|[!()=<>]|"(?:[^"\\]|\\.)*"|\'[^\']*\'|[A-Za-z0-9_.$-]+)')
_TRISTATE = {"n": 0, "m": 1, "y": 2}


@dataclass
class Entry:
    """One definition of a Kconfig symbol."""

    name: str
    where: str
    depends: list[str] = field(default_factory=list)
    has_prompt: bool = False
    in_choice: bool = False


@dataclass
class KconfigIndex:
    """Every symbol's definitions, and for every symbol who selects it (``(selector, condition)``)."""

    entries: dict[str, list[Entry]] = field(default_factory=dict)
    selected_by: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


# --- reading Kconfig ------------------------------------------------------------------------------


def read_kconfig(srctree: Path, srcarch: str = "x86") -> KconfigIndex:
    """Index the Kconfig tree under ``srctree`` for ``srcarch``, following ``source`` from the top."""
    return _read_cached(str(srctree.resolve()), srcarch)


@functools.lru_cache(maxsize=4)
def _read_cached(srctree: str, srcarch: str) -> KconfigIndex:
    reader = _Reader(Path(srctree), srcarch)
    reader.read_file(Path(srctree) / "Kconfig", optional=False)
    return reader.index


class _Reader:
    def __init__(self, srctree: Path, srcarch: str) -> None:
        self.srctree = srctree
        self.srcarch = srcarch
        self.index = KconfigIndex()
        self.blocks: list[list] = []  # [kind, condition or None]
        self.current: Entry | list | None = None

    def read_file(self, path: Path, optional: bool) -> None:
        if not path.is_file():
            return
        lines = _logical_lines(path.read_text(errors="replace"))
        help_indent: int | None = None
        in_help = False
        for number, raw in lines:
            if in_help:
                stripped = raw.strip()
                width = len(raw.expandtabs()) - len(raw.expandtabs().lstrip())
                if not stripped:
                    continue
                if help_indent is None:
                    help_indent = width
                if width >= help_indent:
                    continue
                in_help = False
            line = _strip_comment(raw).strip()
            if not line:
                continue
            word, _, rest = line.partition(" ")
            rest = rest.strip()
            if word in ("help", "---help---"):
                in_help, help_indent = True, None
                continue
            if word in ITEM_KEYWORDS:
                self.current = None
                self.item(word, rest, path, number)
            else:
                self.attribute(word, rest)

    def item(self, word: str, rest: str, path: Path, number: int) -> None:
        if word in ("config", "menuconfig"):
            entry = Entry(name=rest.split()[0], where=f"{path.relative_to(self.srctree)}:{number}",
                          depends=[cond for _, cond in self.blocks if cond],
                          in_choice=any(kind == "choice" for kind, _ in self.blocks))
            self.index.entries.setdefault(entry.name, []).append(entry)
            self.current = entry
        elif word in ("if", "menu", "choice"):
            block = [word, rest if word == "if" else None]
            self.blocks.append(block)
            self.current = block if word != "if" else None
        elif word in ("endif", "endmenu", "endchoice"):
            opener = word[3:]
            for position in range(len(self.blocks) - 1, -1, -1):
                if self.blocks[position][0] == opener:
                    del self.blocks[position]
                    break
        elif word in ("source", "rsource", "osource", "orsource"):
            target = _unquote(rest).replace("$(SRCARCH)", self.srcarch).replace("$SRCARCH", self.srcarch)
            base = path.parent if word.startswith(("r", "or")) else self.srctree
            matches = sorted(base.glob(target)) if any(c in target for c in "*?[") else [base / target]
            for match in matches:
                self.read_file(match, optional=word.startswith("o"))

    def attribute(self, word: str, rest: str) -> None:
        current = self.current
        if isinstance(current, list):  # a menu's or choice's own "depends on"
            if word == "depends" and rest.startswith("on "):
                condition = " ".join(rest[3:].split())
                current[1] = f"({current[1]}) && ({condition})" if current[1] else condition
            return
        if current is None:
            return
        if word == "depends" and rest.startswith("on "):
            current.depends.append(" ".join(rest[3:].split()))
        elif word in TYPE_KEYWORDS and rest.startswith(('"', "'")):
            current.has_prompt = True
        elif word == "prompt":
            current.has_prompt = True
        elif word in ("select", "imply") and word == "select":
            target, _, cond = rest.partition(" if ")
            self.index.selected_by.setdefault(target.strip(), []).append((current.name, cond.strip()))


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Join backslash-continued lines; return ``(first line number, text)``."""
    out, pending, start = [], "", 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        out.append((start, pending + line))
        pending = ""
    return out


def _strip_comment(line: str) -> str:
    quote = None
    for index, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "#":
            return line[:index]
    return line


def _unquote(text: str) -> str:
    text = text.strip()
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'" else text


# --- evaluating expressions ---------------------------------------------------------------------


def tokenize(expr: str) -> list[str]:
    """Split a Kconfig expression into tokens."""
    tokens, position = [], 0
    while position < len(expr):
        match = _TOKEN.match(expr, position)
        if not match:
            if expr[position:].strip():
                raise ValueError(f"cannot read Kconfig expression {expr!r}")
            break
        tokens.append(match.group(1))
        position = match.end()
    return tokens


def symbol_value(name: str, final: dict[str, str]) -> str:
    """A symbol's value in the final config (``n`` when absent); constants stand for themselves."""
    if name in _TRISTATE:
        if name == "m" and final.get("CONFIG_MODULES") != "y":
            return "n"
        return name
    if name.startswith(("'", '"')):
        return _unquote(name)
    if re.fullmatch(r"-?(0x[0-9a-fA-F]+|[0-9]+)", name):
        return name
    return final.get(f"CONFIG_{name}", "n").strip('"')


def evaluate(expr: str, final: dict[str, str]) -> int:
    """Evaluate a Kconfig expression to a tristate (0 = n, 1 = m, 2 = y) against the final config."""
    tokens = tokenize(expr)
    value, position = _or(tokens, 0, final)
    if position != len(tokens):
        raise ValueError(f"trailing tokens in {expr!r}")
    return value


def _chain(tokens, position, final, operator, operand, combine):
    """Parse ``operand (operator operand)*`` and fold the values with ``combine``."""
    value, position = operand(tokens, position, final)
    while position < len(tokens) and tokens[position] == operator:
        right, position = operand(tokens, position + 1, final)
        value = combine(value, right)
    return value, position


def _or(tokens, position, final):
    return _chain(tokens, position, final, "||", _and, max)


def _and(tokens, position, final):
    return _chain(tokens, position, final, "&&", _not, min)


def _not(tokens, position, final):
    if tokens[position] == "!":
        value, position = _not(tokens, position + 1, final)
        return 2 - value, position
    return _atom(tokens, position, final)


def _atom(tokens, position, final):
    if tokens[position] == "(":
        value, position = _or(tokens, position + 1, final)
        return value, position + 1  # skip ")"
    left = symbol_value(tokens[position], final)
    position += 1
    if position < len(tokens) and tokens[position] in ("=", "!=", "<", ">", "<=", ">="):
        op, right = tokens[position], symbol_value(tokens[position + 1], final)
        return (2 if _compare(left, op, right) else 0), position + 2
    return _TRISTATE.get(left, 0), position


def _compare(left: str, op: str, right: str) -> bool:
    try:
        a, b = int(left, 0), int(right, 0)
    except ValueError:
        a, b = left, right
    return {"=": a == b, "!=": a != b, "<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]


def conjuncts(expr: str) -> list[str]:
    """Split an expression at its top-level ``&&`` (parentheses respected)."""
    parts, depth, current = [], 0, []
    for token in tokenize(expr):
        depth += {"(": 1, ")": -1}.get(token, 0)
        if token == "&&" and depth == 0:
            parts.append(" ".join(current))
            current = []
        else:
            current.append(token)
    parts.append(" ".join(current))
    return [p.replace("( ", "(").replace(" )", ")").replace("! ", "!") for p in parts if p]


def symbols_in(expr: str) -> list[str]:
    """The symbol names an expression mentions (constants left out), in order, once each."""
    seen: list[str] = []
    for token in tokenize(expr):
        if re.fullmatch(r"[A-Za-z0-9_]+", token) and token not in _TRISTATE and not token.isdigit() and token not in seen:
            seen.append(token)
    return seen


# --- explaining ------------------------------------------------------------------------------------


def unmet_dependencies(entry: Entry, final: dict[str, str], needed: int = 2) -> list[str]:
    """The ``depends on`` terms of ``entry`` that keep it below ``needed``, each with its symbols' values."""
    unmet = []
    for expr in entry.depends:
        for term in conjuncts(expr):
            try:
                value = evaluate(term, final)
            except (ValueError, IndexError):
                continue
            if value < needed:
                values = ", ".join(f"{s}={symbol_value(s, final)}" for s in symbols_in(term))
                limit = "" if value == 0 else " (limits it to m)"
                unmet.append(f"depends on {term} [{values}]{limit}")
    return unmet


def active_selectors(name: str, index: KconfigIndex, final: dict[str, str]) -> list[str]:
    """The enabled symbols whose ``select`` forces ``name`` on."""
    active = []
    for selector, cond in index.selected_by.get(name, []):
        if symbol_value(selector, final) in ("y", "m") and (not cond or _safe_evaluate(cond, final) > 0):
            active.append(f"{selector}={symbol_value(selector, final)}")
    return active


def _safe_evaluate(expr: str, final: dict[str, str]) -> int:
    try:
        return evaluate(expr, final)
    except (ValueError, IndexError):
        return 0


def explain(name: str, asked: str, final: dict[str, str], index: KconfigIndex) -> str:
    """Why ``CONFIG_<name>`` is not ``asked`` in ``final``: the best reason the Kconfig files give."""
    entries = index.entries.get(name)
    if not entries:
        return "no such option in this kernel's Kconfig"
    if asked == "n":
        selectors = active_selectors(name, index, final)
        if selectors:
            return "forced on by select from " + ", ".join(selectors)
        if not any(e.has_prompt for e in entries):
            return "has no prompt: its default sets it and a fragment cannot switch it off"
        if any(e.in_choice for e in entries):
            return "member of a choice: ask for another member of the choice instead"
        return "Kconfig's defaults and rules keep it on"
    needed = 1 if asked == "m" else 2
    unmet = [reason for e in entries for reason in unmet_dependencies(e, final, needed)]
    if unmet:
        return "; ".join(dict.fromkeys(unmet))
    if asked in ("y", "m") and not any(e.has_prompt for e in entries):
        who = [s for s, _ in index.selected_by.get(name, [])][:4]
        hint = f" (selected by {', '.join(who)})" if who else ""
        return f"has no prompt: only a select from another option can set it{hint}"
    if asked == "m":
        selectors = active_selectors(name, index, final)
        if selectors:
            return "forced to y by select from " + ", ".join(selectors)
    if any(e.in_choice for e in entries):
        return "member of a choice: another member won (unset the others in the fragment)"
    return "dependencies are met; Kconfig's range, choice or select rules changed the value"


def with_reason(srctree: Path, final: dict[str, str], dropped: DroppedOption, srcarch: str = "x86") -> DroppedOption:
    """``dropped`` with its reason filled in from the Kconfig files of ``srctree``."""
    name = dropped.option.removeprefix("CONFIG_")
    return dataclasses.replace(dropped, reason=explain(name, dropped.asked, final, read_kconfig(srctree, srcarch)))
