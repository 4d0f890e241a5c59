"""Moved to ``harness.crash`` (the table-driven crash parser); kept so old imports keep working."""

from harness.crash.parser import parse as scan
from harness.crash.report import Finding
from harness.crash.watch import ConsoleMark

__all__ = ["ConsoleMark", "Finding", "scan"]
