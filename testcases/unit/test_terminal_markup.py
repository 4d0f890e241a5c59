"""Text that is not the harness's own (guest strings, paths, test ids) reaches the terminal as text: rich
would read "[/x]" as a closing tag and raise, and "[red]" as a style."""

import io

from rich.console import Console

from harness.cluster.progress import RichReporter


def test_progress_phases_show_brackets_as_they_are():
    reporter = RichReporter(console=Console(file=io.StringIO(), force_terminal=False, width=200))
    with reporter:
        reporter.phase("node[/x]", "guest said [/x] and [red]not red[/red]")
        reporter.phase("node[/x]", "then [/b]")
    shown = reporter.console.file.getvalue()
    assert "then [/b]" in shown and "node[/x]" in shown
