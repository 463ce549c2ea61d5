"""What every `refinery` command shares: the consoles, the runtime, and how a command fails."""

from __future__ import annotations

import typer
from rich.console import Console

from service.core.settings import get_settings

console = Console()
errors = Console(stderr=True)


def open_runtime():  # noqa: ANN201 - imported lazily so `refinery --help` stays fast
    from service.core.runtime import Runtime

    return Runtime(get_settings())


def fail(message: str) -> typer.Exit:
    """Print the error and return the exit (code 2) for the caller to raise."""
    errors.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=2)
