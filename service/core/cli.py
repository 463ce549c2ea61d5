"""What every `refinery` command shares: the consoles, the runtime, and how a command fails."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from service.core.settings import get_settings

console = Console()
errors = Console(stderr=True)
chosen: dict[str, str | None] = {"project": None}  # `refinery --project KEY`: the project every command acts on
opened: list[Any] = []  # the runtimes this command opened (the webhook events it made are sent as it ends)


def open_runtime(index: bool = False):  # noqa: ANN201 - imported lazily so `refinery --help` stays fast
    """The runtime, acting on the chosen project. `index`: the command writes to the duplicate index, so an embedded
    one that another process holds (`refinery serve`) ends it here, before anything is stored."""
    from pipelines.vectorstore import VectorStoreUnavailable, claim
    from service.core import scope
    from service.core.migrate import DatabaseVersionError
    from service.core.runtime import Runtime

    try:
        runtime = Runtime(get_settings())
    except DatabaseVersionError as exc:  # a database a newer Refinery upgraded: say so, not a traceback
        raise fail(str(exc)) from exc
    settings = runtime.settings
    if index and settings.duplicate_check and not settings.chroma_host:
        try:
            claim(settings.chroma_dir)
        except VectorStoreUnavailable as exc:
            raise fail(str(exc)) from exc
    with runtime.db.session() as session:
        project = scope.find_project(session, chosen["project"])
        if project is None:
            raise fail(f"there is no project {chosen['project']!r}: `refinery project list` shows them")
        scope.set_project(project.id)
    opened.append(runtime)
    return runtime


def fail(message: str) -> typer.Exit:
    """Print the error and return the exit (code 2) for the caller to raise."""
    errors.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=2)


@contextmanager
def refusals() -> Iterator[None]:
    """A request the domain refuses (service.core.errors.DomainError), or an embedding model or vector store that
    cannot serve it, ends the command with its message."""
    from pipelines.embeddings import EmbeddingsUnavailable
    from pipelines.vectorstore import VectorStoreUnavailable
    from service.core.errors import DomainError

    try:
        yield
    except (DomainError, EmbeddingsUnavailable, VectorStoreUnavailable) as exc:
        raise fail(str(exc)) from exc


def comment_text(text: str) -> str:
    """A comment as given on the command line ('-': read from standard input); refused when empty or too long."""
    import sys

    from service.core.schemas import MAX_COMMENT

    said = (sys.stdin.read() if text == "-" else text).strip()
    if not said:
        raise fail("the comment is empty: write what you want to say")
    if len(said) > MAX_COMMENT:
        raise fail(f"the comment has {len(said):,} characters; one takes at most {MAX_COMMENT:,}: shorten it")
    return said


def print_thread(thread: list[Any]) -> None:
    """A thread's comments (`CommentPublic`), oldest first, each with its id, author and time, as text (a comment's
    markup is not read)."""
    if thread:
        console.print(f"comments ({len(thread)}):")
    for said in thread:
        edited = f" (edited {said.edited_at:%Y-%m-%d %H:%M})" if said.edited_at else ""
        heading = f"  #{said.id} {said.author or 'someone'}, {said.at:%Y-%m-%d %H:%M}{edited}: "
        console.print(escape(heading), escape(said.text), sep="")


def comment_in(session: Any, thread: Any, where: str, text: str, author: str | None, edited: int | None) -> None:
    """Add `text` to the thread as `author` (default: the login name), or change their comment `edited` to it; say
    which was done `where` ("#3", "item #3")."""
    import getpass

    from service.core import comments

    author = author or getpass.getuser()
    if edited is None:
        comments.add_comment(session, thread, author, text)
        said = f"commented on {where} as {author}"
    else:
        comments.edit_comment(session, thread, edited, author, text, anyones=False)
        said = f"edited comment {edited} on {where}"
    console.print(said, markup=False, highlight=False)


def candidates_table(title: str, rows: list[dict[str, Any]]) -> Table:
    """Likely duplicates (the duplicate search's candidates), best first, with their verdicts."""
    table = Table("score", "verdict", "kind", "id", "title", title=title)
    colours = {"duplicate": "bold red", "related": "yellow", "distinct": "dim"}
    for row in rows:
        verdict = f"[{colours[row['verdict']]}]{row['verdict']}[/]"
        table.add_row(f"{row['score']:.3f}", verdict, row["kind"], str(row["item_id"]), escape(row["title"]))
    return table


def follow_job(
    runtime: Any, job_id: int, run: Callable[[Any, int], Any], read: Callable[[Any, int], Any], what: str
) -> Any:
    """Run a job in a thread of this process with a progress bar of its `processed` out of `total`; the finished
    job row. `run` and `read` are the feature's run_job and get_job."""
    import contextvars
    import threading

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    worker = threading.Thread(target=contextvars.copy_context().run, args=(run, runtime, job_id), daemon=True)
    worker.start()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=errors) as progress:
        task = progress.add_task(what, total=None)
        while worker.is_alive():
            worker.join(0.5)
            job = read(runtime, job_id)
            progress.update(task, completed=job.processed, total=job.total or None)
    return read(runtime, job_id)
