"""`refinery strategy set|show`, `refinery prioritize` and `refinery rank`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from service.core.cli import console, errors, fail, open_runtime, refusals

strategy_app = typer.Typer(help="Product goals / OKRs that priorities align with.", no_args_is_help=True)


@strategy_app.command("set")
def strategy_set(
    file: Annotated[Path, typer.Argument(help="A text or Markdown file with the goals, one per line.")],
) -> None:
    """Store the strategy (earlier versions are kept)."""
    from service.prioritization import service

    if not file.is_file():
        raise fail(f"{file} is not a file")
    with refusals():
        strategy = service.set_strategy(open_runtime(), file.read_text(encoding="utf-8"), None)
    console.print(f"Strategy {strategy.id} stored ({len(strategy.text.splitlines())} lines).")


@strategy_app.command("show")
def strategy_show() -> None:
    from service.prioritization import service

    with open_runtime().db.session() as session:
        strategy = service.current_strategy(session)
        console.print(strategy.text if strategy else "No strategy set: refinery strategy set FILE")


def prioritize(
    framework: Annotated[str, typer.Option(help="rice, wsjf, moscow or value_effort.")] = "rice",
    item: Annotated[list[int] | None, typer.Option("--item", help="Only these backlog item ids.")] = None,
) -> None:
    """Suggest priorities (one LLM call per item for the inputs; scores computed) and print the ranked table."""
    from pipelines.llm import LLMUnavailable
    from pipelines.prioritization import FRAMEWORKS
    from service.core.errors import DomainError
    from service.prioritization import service

    if framework not in FRAMEWORKS:
        raise fail(f"unknown framework {framework!r}; use one of {', '.join(FRAMEWORKS)}")
    runtime = open_runtime()
    asked: list[int] = []  # how many items the run estimates, as its progress says
    try:
        with Progress(console=errors) as progress:
            task = progress.add_task(f"Estimating inputs ({framework})", total=None)

            def step(done: int, total: int) -> None:
                asked[:] = [total]
                progress.update(task, completed=done, total=total)

            view = service.prioritize(runtime, framework, item, None, step)
    except (DomainError, LLMUnavailable) as exc:
        raise fail(str(exc)) from exc
    console.print(ranking_table(framework, view))
    failed = (asked[0] if asked else len(view)) - len(view)
    if failed:
        missing = sorted(set(item or []) - {row["backlog_item_id"] for row in view})
        which = f" (items {', '.join(map(str, missing))})" if missing else ""
        console.print(
            f"[red]{failed} estimate(s) failed{which} and are not ranked[/]: why is on each failed suggestion "
            "(refinery review list --kind priority --status failed); run again with --item for those items."
        )
    console.print(
        "How each score was made, and why: refinery review show SUGGESTION. Accept or edit each: refinery review "
        "accept SUGGESTION, refinery review edit SUGGESTION (the inputs, scored again)."
    )


def ranking_table(framework: str, view: list[dict]) -> Table:
    """The ranked view, narrow enough for a terminal: the goal column only when a strategy gave goals, where the
    reach came from (tickets' evidence or the model's estimate) only for RICE, the only framework that reads it."""
    goals = any(row["goal"] for row in view)
    columns = ["rank", "item", "title", "priority", "score", "after"]
    columns += ["goal"] * goals + ["reach"] * (framework == "rice") + ["suggestion"]
    table = Table(*columns, title=f"Suggested ranking ({framework}): pending review")
    for row in view:
        cells = [
            str(row["proposed_rank"]), str(row["backlog_item_id"]), row["title"], row["proposed_priority"],
            f"{row['score']:.4g}", ", ".join(str(d["item_id"]) for d in row["dependencies"]) or "-",
        ]  # fmt: skip
        cells += [row["goal"] or "-"] * goals + [row["reach_source"]] * (framework == "rice")
        table.add_row(*cells, str(row["suggestion_id"]))
    return table


def rank(
    items: Annotated[
        list[str], typer.Argument(help="The items to move, in this order: ids or tracker keys (SHOP-12).")
    ],
    before: Annotated[str | None, typer.Option("--before", help="Just above this item (id or key).")] = None,
    after: Annotated[str | None, typer.Option("--after", help="Just below this item (id or key).")] = None,
    top: Annotated[bool, typer.Option("--top", help="At the top of the backlog.")] = False,
    bottom: Annotated[bool, typer.Option("--bottom", help="At the bottom of the backlog.")] = False,
    by_score: Annotated[
        bool, typer.Option("--by-score", help="No longer placed by hand: back to their scores.")
    ] = False,
    person: Annotated[str | None, typer.Option("--as", help="Who moves them (default: your login name).")] = None,
) -> None:
    """Move backlog items in the order (the backlog's, the sprint plan's, exports'); placed by hand, they keep their
    place when accepted priorities reorder the rest."""
    import getpass

    from service.backlog.service import find_item
    from service.core.enums import RankPlace
    from service.prioritization import service

    chosen = [
        place
        for place, given in ((RankPlace.top, top), (RankPlace.bottom, bottom), (RankPlace.score, by_score))
        if given
    ]
    if len(chosen) + (before is not None) + (after is not None) != 1:
        raise fail("say where: --before ITEM, --after ITEM, --top, --bottom or --by-score (one of them)")
    with refusals(), open_runtime().db.session() as session:
        anchor = find_item(session, before or after).id if before or after else None
        moved = service.move_in_rank(
            session,
            [find_item(session, given).id for given in items],
            person or getpass.getuser(),
            anchor if before else None,
            anchor if after else None,
            chosen[0] if chosen else None,
        )
        said = ", ".join(f"#{item.id} to {item.priority_rank or 'unranked'}" for item in moved)
    console.print(f"Ranked {said}.", markup=False, highlight=False)
