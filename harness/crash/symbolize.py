"""Turn raw kernel text addresses in console lines into ``func+0xoff/0xsize``, from System.map.

Kernels without KALLSYMS (or reports printed before it is ready) show bare addresses: old-style
``[<ffffffff8123abcd>]`` frames with no name after them, ``RIP: 0010:0xffffffff8123abcd`` and
``? 0xffffffff8123abcd`` frames. Lines that already carry a symbol are left as they are. Only
addresses inside the kernel's text (between its first and last text symbol) are translated; with
KASLR the map does not match the running kernel, and the harness boots without it.
"""

from __future__ import annotations

import bisect
import re
from functools import cached_property
from pathlib import Path

_TEXT_TYPES = frozenset("tTwW")
#: The text sections the kernel's ``in_sched_functions`` skips when it names where a task waits (wchan):
#: the scheduler's (``__sched`` functions) and the locks' (``__lockfunc``), by their bounding symbols.
_SCHEDULER_SECTIONS = (("__sched_text_start", "__sched_text_end"), ("__lock_text_start", "__lock_text_end"))
_ADDR = r"(?P<addr>ffffffff[0-9a-f]{8})"
#: Where a raw address stands for a function: (pattern, replacement template using {sym}).
_SITES: tuple[tuple[re.Pattern, str], ...] = (
    # [<ffffffff81234567>] not followed by a name
    (re.compile(r"\[<" + _ADDR + r">\](?!\s+[A-Za-z_][\w.]*\+0x)"), r"[<\g<addr>>] {sym}"),
    # RIP: 0010:0xffffffff81234567 (and IP:)
    (re.compile(r"(?P<lead>\bR?IP: (?:[0-9a-f]{4}:)?)0x" + _ADDR + r"\b"), r"\g<lead>{sym}"),
    # a frame that is only an address, reliable or not: "  0xffffffff81234567", "  ? 0xffffffff81234567"
    (re.compile(r"(?P<lead>^(?:<\d>)?(?:\[[^\]]*\]\s?){0,2}\s+(?:\?\s+)?)0x" + _ADDR + r"\s*$"), r"\g<lead>{sym}"),
)


class SymbolTable:
    """The text symbols of one kernel build, for address lookups."""

    def __init__(self, symbols: list[tuple[int, str]]):
        self.symbols = sorted(symbols)
        self.addresses = [address for address, _ in self.symbols]

    @classmethod
    def from_system_map(cls, path: Path | str) -> "SymbolTable":
        """Read ``System.map`` (``address type name`` lines); keep text symbols."""
        symbols = []
        for line in Path(path).read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[1] in _TEXT_TYPES:
                symbols.append((int(parts[0], 16), parts[2]))
        return cls(symbols)

    @classmethod
    def for_kernel(cls, kernel_path: Path | str | None) -> "SymbolTable | None":
        """The table of a kernel artifact dir or of the System.map beside a bzImage; None if none."""
        if not kernel_path:
            return None
        path = Path(kernel_path)
        candidate = (path if path.is_dir() else path.parent) / "System.map"
        return cls.from_system_map(candidate) if candidate.is_file() else None

    def lookup(self, address: int) -> str | None:
        """``func+0xoff/0xsize`` for a text address, or None outside the kernel's text."""
        index = bisect.bisect_right(self.addresses, address) - 1
        if index < 0 or index + 1 >= len(self.symbols):
            return None
        start, name = self.symbols[index]
        size = self.symbols[index + 1][0] - start
        return f"{name}+{address - start:#x}/{size:#x}"

    @cached_property
    def _addresses_by_name(self) -> dict[str, list[int]]:
        by_name: dict[str, list[int]] = {}
        for address, name in self.symbols:
            by_name.setdefault(name, []).append(address)
        return by_name

    def in_scheduler(self, function: str) -> bool | None:
        """Whether ``function`` lies in the scheduler's or the locks' text, as the kernel's
        ``in_sched_functions`` asks (what ``/proc/PID/wchan`` skips); a function the map does not hold (a
        module's) does not. None when the map has no section bounds to tell."""
        bounds = self._scheduler_bounds
        if not bounds:
            return None
        return any(start <= address < end for start, end in bounds
                   for address in self._addresses_by_name.get(function, ()))

    @cached_property
    def _scheduler_bounds(self) -> list[tuple[int, int]]:
        by_name = self._addresses_by_name
        return [(by_name[a][0], by_name[b][0]) for a, b in _SCHEDULER_SECTIONS if a in by_name and b in by_name]

    def symbolize_line(self, line: str) -> str:
        """``line`` with each raw text address at a function site replaced by its symbol."""
        for pattern, template in _SITES:
            line = pattern.sub(lambda m: self._replace(m, template), line)
        return line

    def symbolize(self, text: str) -> str:
        """``text`` with every line symbolized."""
        return "\n".join(self.symbolize_line(line) for line in text.split("\n"))

    def _replace(self, match: re.Match, template: str) -> str:
        symbol = self.lookup(int(match.group("addr"), 16))
        return match.expand(template.replace("{sym}", symbol)) if symbol else match.group(0)
