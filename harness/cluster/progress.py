"""A rich progress display for long steps (booting nodes), used by the CLI."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn


class RichReporter:
    """A cluster ``Reporter`` that shows one spinner line per node on stderr. Use as a context manager."""

    def __init__(self, title: str = "booting", console: Console | None = None):
        self.console = console or Console(stderr=True)
        self._progress = Progress(
            SpinnerColumn(), TextColumn("[bold]{task.fields[node]:>7}"), TextColumn("{task.description}"),
            TimeElapsedColumn(), console=self.console, transient=False,
        )
        self._tasks: dict[str, int] = {}
        self.title = title

    def __enter__(self) -> "RichReporter":
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        for task in self._tasks.values():
            self._progress.stop_task(task)
        self._progress.stop()

    def phase(self, node: str, text: str) -> None:
        """Show ``node``'s current phase (plain text: brackets in it are not markup)."""
        if node not in self._tasks:
            self._tasks[node] = self._progress.add_task(escape(text), node=escape(node), total=None)
        else:
            self._progress.update(self._tasks[node], description=escape(text))

    def info(self, text: str) -> None:
        """Print a message above the progress lines."""
        self._progress.console.print(text, markup=False, highlight=False, soft_wrap=True)
