"""What mailing unread inbox lines costs: the round `refinery serve` runs every 30 s (service.inbox.mail).

For each size N: a fresh SQLite database of 300 story drafts, 20 users with an address, and N inbox lines over them,
written straight in during the last day: half read, the other half mailed already, so a round finds nothing due.
Then, in this process:
- the baseline: the desk's unread badge of one person (`count_unread`, the query each open desk runs each minute);
- a round with nothing due (what almost every tick is);
- a round that mails 100 lines to the 20 people (20 messages) through a real SMTP server on loopback (aiosmtpd), the
  lines made due again before each call;
- a round with nothing due while every unread line waits for its person's daily message (all 20 people `daily`,
  mailed a moment ago, and the N/2 unread lines not mailed): the worst case of the waiting that `mail_every` adds.
Medians of 30 calls (10 for the mailing round) after a warm-up; ratios against the baseline at the same size.
Run: .venv/bin/python -m bench.bench_mail --items 10000 100000
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from bench import median_time, publish_by_size, served
from service.core import scope
from service.core.tables import Notification, Suggestion, User, utcnow
from service.inbox import mail
from service.inbox.service import count_unread
from tests.smtp_server import smtp_server

RESULTS = Path(__file__).parent / "results" / "bench_mail.md"
REQUESTS = 30
MAILINGS = 10
SUGGESTIONS = 300
PEOPLE = 20
DUE = 100


def measure(n: int) -> list[str]:
    drafts = [
        {"kind": "story_draft", "status": "pending", "project_id": 1, "input": {"text": f"idea {k}"},
         "payload": {"title": f"Idea {k}", "goal": f"idea {k}"}, "model": "bench", "provider": "fake",
         "prompt_version": "draft_story@bench", "usage": {}, "warnings": []}
        for k in range(SUGGESTIONS)
    ]  # fmt: skip
    users = [{"name": f"person{k}", "email": f"person{k}@example.com"} for k in range(PEOPLE)]
    now = utcnow()
    lines = [
        {"recipient": f"person{k % PEOPLE}", "reason": "mentioned", "suggestion_id": k % SUGGESTIONS + 1,
         "actor": "ana", "text": f"ana mentioned you on story draft #{k % SUGGESTIONS + 1}", "project_id": 1,
         "at": now - timedelta(hours=23) + timedelta(hours=22) * k / n,
         "read_at": None if k // PEOPLE % 2 else now, "mailed_at": now if k // PEOPLE % 2 else None}
        for k in range(n)
    ]  # fmt: skip
    with served({Suggestion: drafts, User: users, Notification: lines}) as (app, _), smtp_server() as (box, port):
        db = app.state.runtime.db
        settings = app.state.runtime.settings.model_copy(
            update={"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none"}
        )
        with db.session() as session:
            due = list(session.scalars(select(Notification.id).where(Notification.read_at.is_(None)).limit(DUE)))

        def badge(_: int) -> int:
            with db.session() as session, scope.in_project(1):
                return count_unread(session, "person1")

        def idle(_: int) -> None:
            assert mail.mail_due(db, settings).sent == 0

        def mailing(_: int) -> None:
            with db.session() as session:
                session.execute(update(Notification).where(Notification.id.in_(due)).values(mailed_at=None))
            assert mail.mail_due(db, settings) == mail.Round(DUE, None)

        floor = median_time(badge, REQUESTS)
        rows = [
            ("one person's unread badge (the baseline)", floor),
            ("a mail round, nothing due", median_time(idle, REQUESTS)),
            (f"a mail round, {DUE} lines to {PEOPLE} people", median_time(mailing, MAILINGS)),
        ]
        assert len(box.received) == PEOPLE * (MAILINGS + 1)  # one message a person a round, the warm-up's too
        with db.session() as session:
            session.execute(update(User).values(mail_every="daily", last_mailed_at=utcnow()))
            session.execute(update(Notification).where(Notification.read_at.is_(None)).values(mailed_at=None))
        rows.append(
            (f"a mail round, nothing due, {n // 2} unread lines waiting for daily", median_time(idle, REQUESTS))
        )
    return [f"| {n} | {name} | {1000 * t:.2f} | {t / floor:.2f} |" for name, t in rows]


def main() -> None:
    publish_by_size(
        "Mailing unread inbox lines: one round of `refinery serve`'s mailer",
        f"Median of {REQUESTS} calls ({MAILINGS} for the mailing round), in-process (SQLite; aiosmtpd on loopback); "
        f"N inbox lines over {PEOPLE} users in the last day, none due unless made so. Ratios against one person's "
        "unread badge at the same size, in the same process.",
        ["inbox lines", "what", "ms", "ratio"],
        measure,
        RESULTS,
    )


if __name__ == "__main__":
    main()
