"""Prioritization as service operations: strategy, priority suggestions, a ranked view, sprint proposals.

The model estimates inputs; scores and ranks are computed in `pipelines.prioritization`. A priority reaches a
backlog item only when a person accepts its suggestion, and a priority a person set by hand is never
overwritten by accepting a suggestion made before it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import as_completed
from typing import Any, NamedTuple

from pydantic import ValidationError
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from pipelines.llm import LLM, StructuredResult, describe_validation_error
from pipelines.prioritization import (
    LEVELS,
    Framework,
    InputEdits,
    PriorityInputs,
    TeamPriorities,
    dependency_evidence,
    estimate_inputs,
    nearest_level,
    plan_sprint,
    priority_level,
    rank,
    score,
)
from pipelines.words import item_words
from service import duplicates
from service.backlog.service import dependencies_edited_here, get_item, items_by_key, select_items
from service.core.enums import (
    PRIORITY_LEVELS,
    ItemAction,
    RankPlace,
    SuggestionAction,
    SuggestionKind,
    SuggestionStatus,
)
from service.core.errors import Conflict, InvalidInput, NotFound
from service.core.learned import learned
from service.core.runtime import ContextThreadPool, Runtime
from service.core.suggestions import Proposal, claim, create_suggestion, record_event
from service.core.tables import BacklogItem, ItemEvent, Strategy, Suggestion, utcnow

MAX_ITEMS = 50
COMPARABLES = 3  # the most similar items whose priority the team already set, shown on each priority suggestion

log = logging.getLogger(__name__)


def current_strategy(session: Session) -> Strategy | None:
    return session.scalars(select(Strategy).order_by(Strategy.id.desc()).limit(1)).first()


def set_strategy(runtime: Runtime, text: str, actor: str | None) -> Strategy:
    text = text.strip()
    if not text:
        raise InvalidInput("the strategy is empty: give the product goals or OKRs as text")
    with runtime.db.session() as session:
        strategy = Strategy(text=text, set_by=actor)
        session.add(strategy)
        session.flush()
        return strategy


def label_for(rank_index: int, total: int) -> str:
    """Jira-style priority from the position in the ranking (fifths, best first)."""
    return PRIORITY_LEVELS[min(len(PRIORITY_LEVELS) - 1, rank_index * len(PRIORITY_LEVELS) // max(1, total))]


def prioritize(
    runtime: Runtime,
    framework: Framework,
    item_ids: list[int] | None = None,
    actor: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    before_each: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    """One LLM call per item for its inputs, then scores and a rank over all of them; one pending `priority`
    suggestion per item. Returns the ranked view. `before_each` runs before each estimate: what it raises (a
    cancelled job) stops the run, and the estimates not started never start."""
    with runtime.db.session() as session:
        items = select_items(session, item_ids, MAX_ITEMS, "prioritize")
        strategy = current_strategy(session)
    llm = runtime.llm()
    team = team_priorities(runtime, [item.id for item in items])

    def estimate(item: BacklogItem) -> StructuredResult[PriorityInputs]:
        if before_each:
            before_each()
        return estimate_item(llm, item, items, strategy, team)

    # The estimates are independent: the model server decodes several at once (batched), one slot stays free for
    # people drafting meanwhile.
    finished: dict[int, StructuredResult[PriorityInputs]] = {}
    with ContextThreadPool(max_workers=llm.background_parallelism) as pool:
        futures = {pool.submit(estimate, item): item.id for item in items}
        try:
            for done, future in enumerate(as_completed(futures), 1):
                finished[futures[future]] = future.result()
                if progress:
                    progress(done, len(items))
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise
    return propose_ranking(runtime, framework, items, strategy, finished, actor)


def estimate_item(
    llm: LLM,
    item: BacklogItem,
    items: list[BacklogItem],
    strategy: Strategy | None,
    team: TeamPriorities | None = None,
) -> StructuredResult[PriorityInputs]:
    """One item's inputs, among `items` (the others it may depend on), under the strategy; the urgency blended with
    the team's own priorities when it has decided enough of them (`team_priorities`)."""
    others = [(i.id, i.title, i.external_id) for i in items if i.id != item.id]
    strategy_text = strategy.text if strategy else ""
    return estimate_inputs(
        llm, item.title, item.item_type, item.description, item.evidence, strategy_text, others, team, item.story_points
    )


def team_priorities(runtime: Runtime, excluded: list[int]) -> TeamPriorities | None:
    """A classifier of the words of the items whose priority the team already set (accepted, by hand, or imported),
    excluding the items being estimated; None while there are fewer than `TEAM_MIN_ITEMS` (README: blending it
    into the model's urgency raised the agreement with Hadoop's triagers on dev)."""
    return learned(
        runtime,
        BacklogItem.priority,
        excluded,
        lambda rows: TeamPriorities.fit([item_words(t, d) for t, d, _ in rows], [priority_level(p) for *_, p in rows]),
    )


def propose_ranking(
    runtime: Runtime,
    framework: Framework,
    items: list[BacklogItem],
    strategy: Strategy | None,
    finished: dict[int, StructuredResult[PriorityInputs]],
    actor: str | None,
    job_id: int | None = None,
) -> list[dict[str, Any]]:
    """Scores and a rank over the estimates (by item id): one pending `priority` suggestion per item, a failed one
    per failed estimate (its input names the job that made it, if any). Returns the ranked view."""
    made_by = {"job_id": job_id} if job_id is not None else {}
    results = {item.id: finished[item.id] for item in items}
    valid = {i: r.value for i, r in results.items() if r.value is not None}
    scored = {i: score(framework, inputs) for i, inputs in valid.items()}
    by_id = {i.id: i for i in items}
    similar = decided_comparables(runtime, [by_id[i] for i in valid])
    team = team_priorities(runtime, [item.id for item in items])  # the one the estimates used (kept)
    # dependencies the model names now, plus those a person confirmed by accepting an earlier priority
    depends = {i: sorted(set(v.depends_on) | set(by_id[i].depends_on or [])) for i, v in valid.items()}
    order = rank({i: s[0] for i, s in scored.items()}, depends)
    view = []
    with runtime.db.session() as session:
        for position, item_id in enumerate(order):
            inputs = valid[item_id]
            payload = {
                "backlog_item_id": item_id,
                "title": by_id[item_id].title,
                "framework": framework,
                "inputs": inputs.model_dump(mode="json"),
                "score": round(scored[item_id][0], 4),
                "score_text": scored[item_id][1],
                "proposed_rank": position + 1,
                "proposed_priority": label_for(position, len(order)),
                "reach_source": "evidence" if (by_id[item_id].evidence or {}).get("ticket_count") else "estimate",
                "dependencies": _dependencies(session, by_id[item_id], inputs.depends_on, by_id),
                "goal": inputs.goal,
            }
            inputs = {"backlog_item_id": item_id, "strategy_id": strategy.id if strategy else None, **made_by}
            rationale = {k: v for k, v in payload["inputs"].items() if k.endswith("_rationale")}
            proposal = Proposal.of(results[item_id]).with_payload(payload)
            evidence = {"rationale": rationale, "comparables": similar.get(item_id, [])}
            if team is not None:
                evidence["team"] = team_evidence(team, by_id[item_id])
            suggestion = create_suggestion(session, SuggestionKind.priority, proposal, inputs, evidence, actor)
            view.append({**payload, "suggestion_id": suggestion.id})
        for item_id, result in results.items():
            if result.value is None:  # a failed estimate is a failed suggestion, never silent
                inputs = {"backlog_item_id": item_id, "framework": framework, **made_by}
                create_suggestion(session, SuggestionKind.priority, Proposal.of(result), inputs, None, actor)
    return view


def decided_comparables(runtime: Runtime, items: list[BacklogItem]) -> dict[int, list[dict[str, Any]]]:
    """Per item, the most similar other items whose priority the team already set (a reviewer accepting a
    suggestion, by hand, or the tracker it was imported from), with that priority and, where a suggestion set it,
    its time criticality: the team's own decisions beside the model's estimate. Shown, not blended in: on the
    prioritization eval's dev sample the priorities of a Hadoop report's 5 to 50 most similar reports agreed with
    its own only weakly (Spearman 0.02-0.17) and blending them did not raise the urgency kappa (README)."""
    prioritized = (BacklogItem.priority.is_not(None), BacklogItem.merged_into_id.is_(None))
    with runtime.db.session() as session:
        if not items or session.scalar(select(BacklogItem.id).where(*prioritized).limit(1)) is None:
            return {}
    try:
        found = duplicates.items_duplicates(runtime, items, min(100, 5 * COMPARABLES))
    except Exception:  # the estimates stand without comparables (e.g. the vector store is down)
        log.exception("comparables for priority suggestions failed")
        return {}
    near_ids = {c["item_id"] for candidates in found for c in candidates if c["kind"] == "backlog_item"}
    with runtime.db.session() as session:  # only the candidates' rows, not every prioritized item of the backlog
        query = select(BacklogItem).where(BacklogItem.id.in_(near_ids), *prioritized)
        decided = {i.id: i for i in session.scalars(query)}
    comparables = {}
    for item, candidates in zip(items, found, strict=True):
        near = [c for c in candidates if c["kind"] == "backlog_item" and c["item_id"] in decided][:COMPARABLES]
        comparables[item.id] = [_comparable(decided[c["item_id"]], c["score"]) for c in near]
    return comparables


def team_evidence(team: TeamPriorities, item: BacklogItem) -> dict[str, Any]:
    """What the team's decided priorities suggest for the item's words, as shown beside the estimate."""
    level = team.level(item_words(item.title, item.description or ""))
    return {"items": team.size, "level": LEVELS[nearest_level(level)], "value": round(level, 2)}


def _comparable(item: BacklogItem, score: float) -> dict[str, Any]:
    detail = item.priority_detail or {}
    return {
        "item_id": item.id,
        "title": item.title,
        "priority": item.priority,
        "time_criticality": (detail.get("inputs") or {}).get("time_criticality"),
        "set_by": item.priority_set_by or "imported",
        "score": round(score, 3),
    }


def _dependencies(
    session: Session, item: BacklogItem, proposed: list[int], by_id: dict[int, BacklogItem]
) -> list[dict[str, Any]]:
    """Each dependency with its evidence: the words of the item that name the other, or a link the tracker has (one
    imported, and not changed by a person here since: "linked in the tracker (SHOP-3)") or a person made (here, or by
    accepting a priority)."""
    text = f"{item.title}\n{item.description}"
    theirs = set((item.imported or {}).get("depends_on_keys") or [])
    tracker = {} if not theirs or dependencies_edited_here(session, item) else items_by_key(session, theirs)
    keys = {found: key for key, found in tracker.items()}
    linked = [
        {"item_id": d, "evidence": f"linked in the tracker ({keys[d].split(':', 1)[-1]})", "source": "tracker"}
        if d in keys
        else {"item_id": d, "evidence": "linked by a person", "source": "person"}
        for d in item.depends_on or []
    ]
    named = [
        {"item_id": d, "evidence": dependency_evidence(text, d, by_id[d].title, by_id[d].external_id), "source": "text"}
        for d in proposed
        if d in by_id and d not in (item.depends_on or [])
    ]
    return [
        {**entry, "title": by_id[entry["item_id"]].title if entry["item_id"] in by_id else None}
        for entry in linked + named
    ]


def accept_priority(
    session: Session, suggestion: Suggestion, edits: InputEdits | None, actor: str | None
) -> BacklogItem:
    """Write the (possibly edited, then re-scored) priority to the item, unless a person set the item's priority
    after this suggestion was made."""
    try:
        return _accept_priority(session, suggestion, edits, actor)
    except ValidationError as exc:
        raise InvalidInput(f"the edited inputs are not valid: {describe_validation_error(exc)}") from exc


def later_run(session: Session, suggestion: Suggestion) -> int | None:
    """The id of a priority suggestion a later prioritize run made for the same item, pending or accepted, if any:
    the ranks of two runs do not mix, so the later one stands."""
    item_id = suggestion.payload["backlog_item_id"]
    later = select(Suggestion).where(
        Suggestion.kind == SuggestionKind.priority,
        Suggestion.id > suggestion.id,
        Suggestion.status.in_([SuggestionStatus.pending, SuggestionStatus.accepted]),
    )
    for other in session.scalars(later.order_by(Suggestion.id.desc())):
        if other.payload and "framework" in other.payload and other.payload.get("backlog_item_id") == item_id:
            return other.id
    return None


def _accept_priority_signal(
    session: Session, suggestion: Suggestion, item: BacklogItem, actor: str | None
) -> BacklogItem:
    """The item takes the proposed priority; its detail keeps the rationale and the lines it rests on."""
    claim(session, suggestion, SuggestionStatus.accepted, actor, None)
    before = {"priority": item.priority}
    item.priority = suggestion.payload["proposed_priority"]
    item.priority_detail = {k: suggestion.payload.get(k) for k in ("rationale", "quotes", "conversation_id")}
    item.priority_set_by = actor or "reviewer"
    item.priority_set_at = utcnow()
    suggestion.backlog_item_id = item.id
    record_event(session, suggestion.id, SuggestionAction.accepted, actor, before, {"priority": item.priority})
    return item


def _accept_priority(
    session: Session, suggestion: Suggestion, edits: InputEdits | None, actor: str | None
) -> BacklogItem:
    item = session.get(BacklogItem, suggestion.payload["backlog_item_id"])
    if item is None:
        raise NotFound(f"backlog item {suggestion.payload['backlog_item_id']} no longer exists")
    if item.priority_set_at and item.priority_set_at > suggestion.created_at and item.priority_set_by:
        raise Conflict(
            f"{item.priority_set_by} set this item's priority at {item.priority_set_at:%Y-%m-%d %H:%M} UTC, after "
            "this suggestion was made; run prioritize again to get a suggestion that accounts for it"
        )
    if "framework" not in suggestion.payload:  # a signal from a conversation: the proposed level, its quote
        if edits is not None:
            raise InvalidInput("a priority signal from a conversation has no estimated inputs to edit")
        return _accept_priority_signal(session, suggestion, item, actor)
    if (later := later_run(session, suggestion)) is not None:
        raise Conflict(
            f"suggestion {suggestion.id} is stale: a later prioritize run made suggestion {later} for this item, "
            "ranked among that run's items; decide that one"
        )
    payload = dict(suggestion.payload)
    if edits is not None:
        inputs = edits.apply(PriorityInputs.model_validate(payload["inputs"]))
        value, text = score(payload["framework"], inputs)
        payload |= {"inputs": inputs.model_dump(mode="json"), "score": round(value, 4), "score_text": text}
    claim(session, suggestion, SuggestionStatus.accepted, actor, None)
    inputs = PriorityInputs.model_validate(payload["inputs"])
    item.priority = payload["proposed_priority"]
    item.priority_score = payload["score"]
    item.priority_detail = {k: payload[k] for k in ("framework", "score_text", "goal", "reach_source", "inputs")}
    item.priority_set_by = actor or "reviewer"
    item.priority_set_at = utcnow()
    if item.story_points is None:  # the effort stands in for points the team has not given (a sprint plan fits them)
        item.story_points = inputs.effort
    # the dependencies the reviewer accepted join the item's own (a person's, its tracker's), never replace them
    item.depends_on = sorted(set(item.depends_on or []) | set(inputs.depends_on)) or None
    rerank_backlog(session, payload["framework"])
    if payload["score"] != suggestion.payload["score"]:  # the reviewer's edits moved it: label from its new place
        payload["proposed_priority"] = item.priority = _label_among_current(session, item, payload["framework"])
    action = SuggestionAction.accepted if payload == suggestion.payload else SuggestionAction.accepted_with_edits
    record_event(session, suggestion.id, action, actor, suggestion.payload, payload)
    suggestion.payload = payload
    suggestion.backlog_item_id = item.id
    return item


def _label_among_current(session: Session, item: BacklogItem, framework: str) -> str:
    """The label for the item's score among the accepted scores and the pending suggestions of a framework."""
    scores = {
        i.id: i.priority_score
        for i in session.scalars(select(BacklogItem).where(BacklogItem.priority_score.is_not(None)))
        if (i.priority_detail or {}).get("framework") == framework and i.merged_into_id is None
    }
    pending = session.scalars(
        select(Suggestion).where(
            Suggestion.kind == SuggestionKind.priority, Suggestion.status == SuggestionStatus.pending
        )
    )
    for other in pending:
        if other.payload.get("framework") == framework and other.payload["backlog_item_id"] not in scores:
            scores[other.payload["backlog_item_id"]] = other.payload["score"]
    order = sorted(scores, key=lambda i: (-scores[i], i))
    return label_for(order.index(item.id), len(order))


class Placed(NamedTuple):
    """What ordering the backlog reads of an item (not the whole row: a backlog of 10,000 is read at each move)."""

    id: int
    rank: int | None
    by_hand: bool
    score: float | None = None
    framework: str | None = None
    depends_on: list[int] | None = None


def _in_rank_order(session: Session, scored: bool = False) -> list[Placed]:
    """The backlog's order, merged items left out: ranked items by rank, then the unranked by id; `scored`: with each
    one's accepted score, its framework and what it waits for."""
    columns = [BacklogItem.id, BacklogItem.priority_rank, BacklogItem.ranked_by.is_not(None)]
    if scored:
        columns += [BacklogItem.priority_score, BacklogItem.priority_detail, BacklogItem.depends_on]
    rows = session.execute(select(*columns).where(BacklogItem.merged_into_id.is_(None))).all()
    placed = [Placed(*row[:4], (row[4] or {}).get("framework"), row[5]) if scored else Placed(*row) for row in rows]
    return sorted(placed, key=lambda p: (p.rank is None, p.rank or 0, p.id))


def _write_ranks(session: Session, was: list[Placed], now: list[Placed | None]) -> None:
    """Write the ranks that changed (`now[k]` is at place k + 1; None: unranked) in one statement, and give the items
    already loaded theirs."""
    ranks = {p.id: k + 1 for k, p in enumerate(now) if p}
    changed = [{"item": p.id, "rank": ranks[p.id]} for p in was if p.id in ranks and ranks[p.id] != p.rank]
    if changed:
        table = BacklogItem.__table__
        statement = update(table).where(table.c.id == bindparam("item")).values(priority_rank=bindparam("rank"))
        session.execute(statement, changed)
        for row in list(session.identity_map.values()):  # as if read again (they may be returned after the session)
            if isinstance(row, BacklogItem) and row.id in ranks:
                set_committed_value(row, "priority_rank", ranks[row.id])


def rerank_backlog(session: Session, framework: str) -> None:
    """Order the backlog by accepted scores of `framework`, dependencies first. An item a person put in its place by
    hand (`ranked_by`) keeps its place; the others fill the places left: the scored ones of `framework` by score,
    then the rest (scores of another framework, which do not compare, and items numbered only by a hand move) in their
    previous order."""
    session.flush()
    current = [p for p in _in_rank_order(session, scored=True) if p.rank is not None or p.score is not None]
    same = {p.id: p for p in current if not p.by_hand and p.score is not None and p.framework == framework}
    order = rank({i: p.score for i, p in same.items()}, {i: p.depends_on or [] for i, p in same.items()})
    rest = iter([same[i] for i in order] + [p for p in current if p.id not in same and not p.by_hand])
    _write_ranks(session, current, [p if p.by_hand else next(rest) for p in current])


MOST_RANKED_AT_ONCE = 500


def move_in_rank(
    session: Session,
    item_ids: list[int],
    actor: str | None,
    before: int | None = None,
    after: int | None = None,
    to: RankPlace | None = None,
) -> list[BacklogItem]:
    """Put items, in the order given, just before or after another item of the backlog's order, or at its top or
    bottom; each is then placed by hand (a rerank by scores keeps it there). `to=score` gives them back to the
    scores. Unranked items above the new place get their numbers too. Each moved item's history records it."""
    if [before, after, to].count(None) != 2:
        raise InvalidInput("say where: before an item, after an item, or to top, bottom or score (one of them)")
    moved = [get_item(session, i, merged=False) for i in dict.fromkeys(item_ids)]
    if not moved or len(moved) > MOST_RANKED_AT_ONCE:
        raise InvalidInput(f"give 1 to {MOST_RANKED_AT_ONCE} items to rank")
    was = {item.id: item.priority_rank for item in moved}
    if to == RankPlace.score:
        for item in moved:
            item.ranked_by = None
        framework = _latest_framework(session)
        if framework is not None:
            rerank_backlog(session, framework)
        _record_moves(session, moved, was, actor)
        return moved
    anchor_id = before if before is not None else after
    if anchor_id is not None and anchor_id in was:
        raise InvalidInput(f"item {anchor_id} is one of those moved: rank them before or after another item")
    if anchor_id is not None:
        get_item(session, anchor_id, merged=False)
    current = _in_rank_order(session)
    order = [p for p in current if p.id not in was]
    at = (
        {RankPlace.top: 0, RankPlace.bottom: len(order)}.get(to)
        if anchor_id is None
        else [p.id for p in order].index(anchor_id) + (after is not None)
    )
    order[at:at] = [Placed(item.id, item.priority_rank, True) for item in moved]
    last = at + len(moved)  # everything above here is ranked now
    _write_ranks(session, current, [p if k < last or p.rank is not None else None for k, p in enumerate(order)])
    for item in moved:
        item.ranked_by = actor or "a person"
    _record_moves(session, moved, was, actor)
    return moved


def _latest_framework(session: Session) -> str | None:
    """The framework of the priority accepted last, which the backlog's scores follow."""
    latest = session.scalars(
        select(BacklogItem)
        .where(BacklogItem.priority_score.is_not(None), BacklogItem.priority_set_at.is_not(None))
        .order_by(BacklogItem.priority_set_at.desc())
        .limit(1)
    ).first()
    return (latest.priority_detail or {}).get("framework") if latest else None


def _record_moves(session: Session, moved: list[BacklogItem], was: dict[int, int | None], actor: str | None) -> None:
    session.flush()
    for item in moved:
        before, after = {"rank": was[item.id]}, {"rank": item.priority_rank, "by_hand": item.ranked_by is not None}
        session.add(ItemEvent(item_id=item.id, action=ItemAction.ranked, actor=actor, before=before, after=after))


def set_priority_by_hand(session: Session, item_id: int, priority: str, actor: str | None) -> BacklogItem:
    item = get_item(session, item_id)
    item.priority, item.priority_set_by, item.priority_set_at = priority, actor or "a person", utcnow()
    item.priority_detail = {"set_by_hand": True}
    return item


def propose_sprint(runtime: Runtime, capacity: int, actor: str | None = None) -> Suggestion:
    """The highest-ranked prioritized items that fit `capacity` story points, dependencies first."""
    with runtime.db.session() as session:
        items = list(
            session.scalars(
                select(BacklogItem)
                .where(
                    BacklogItem.priority_rank.is_not(None),
                    BacklogItem.merged_into_id.is_(None),
                    BacklogItem.closed.is_(False),
                )
                .order_by(BacklogItem.priority_rank, BacklogItem.id)
            )
        )
        if not items:
            raise InvalidInput("no prioritized items: accept some priority suggestions first")
        order = [i.id for i in items]
        points = {i.id: i.story_points or 0 for i in items}
        chosen = plan_sprint(order, points, {i.id: i.depends_on or [] for i in items}, capacity)
        by_id = {i.id: i for i in items}
        payload = {
            "capacity_points": capacity,
            "points_used": sum(points[i] for i in chosen),
            "items": [
                {"backlog_item_id": i, "title": by_id[i].title, "points": points[i], "rank": by_id[i].priority_rank}
                for i in chosen
            ],
            "left_out": [i for i in order if i not in chosen][:50],
        }
        proposal = Proposal(payload, model="greedy-by-rank", provider="refinery", prompt_version="sprint-plan@1")
        inputs = {"capacity_points": capacity}
        return create_suggestion(session, SuggestionKind.sprint_plan, proposal, inputs, None, actor)


def accept_sprint_plan(session: Session, suggestion: Suggestion, edits: None, actor: str | None) -> None:
    """A sprint plan is a proposal to the team; accepting it records the decision and changes no item."""
    claim(session, suggestion, SuggestionStatus.accepted, actor, None)
    record_event(session, suggestion.id, SuggestionAction.accepted, actor, suggestion.payload, suggestion.payload)
