"""The team's story-point model (`pipelines.points_model`): fitted in the background on the project's items with
points once `MIN_ITEMS` have them, kept on disk under the data folder, and fitted again once the number of items
with points has moved by a tenth. No estimate waits for a fit (minutes on a laptop: README); until the first one
ends, estimates are the rule's alone and say the model is being fitted.

One process fits a project's model at a time, also across machines sharing the data folder (compose.yaml): a lock
file names the fitting host and process, and the fit touches it as it goes. A lock is taken over when its process
has ended (same host) or it has not been touched for `STALE_S` (any host: a killed container, a lost machine).
A fit also keeps which items it learned from: their own estimates stand without it (it has seen their points)."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from pipelines.points_model import MIN_ITEMS, WEIGHTS, PointsModel
from pipelines.words import item_words
from service.core.errors import Conflict
from service.core.learned import decided_items
from service.core.runtime import Runtime
from service.core.scope import current_project
from service.core.tables import BacklogItem

log = logging.getLogger(__name__)
REFIT_SHARE = 0.1  # fit again once the items with points differ by this share from those of the last fit
LOCK = "fitting.lock"
ITEMS = "items.json"  # the ids of the items a fit learned from
HEARTBEAT_S = 10.0  # a fit writes its progress into its lock this often
STALE_S = 600.0  # a lock untouched this long is taken over, whichever host wrote it
_lock = threading.Lock()
_loaded: dict[Path, Fit] = {}
_fitting: dict[Path, threading.Thread] = {}
_failed: dict[Path, int] = {}  # a fit that failed is not tried again until the items with points change


@dataclass(frozen=True)
class Fit:
    """A project's fitted points model and the ids of the items it learned from."""

    model: PointsModel
    items: frozenset[int]

    @classmethod
    def load(cls, path: Path, embedding_model: str) -> Fit:
        model = PointsModel.load(path, embedding_model)
        return cls(model, frozenset(json.loads((path / ITEMS).read_text())))


def folder(runtime: Runtime) -> Path:
    """Where the current project's fits are kept: one folder per fit, named by how many items it learned from."""
    return runtime.settings.points_models_dir / f"project-{current_project()}"


def newest_fit(root: Path) -> Path | None:
    fits = [p for p in root.glob("[0-9]*") if (p / WEIGHTS).is_file()] if root.is_dir() else []
    return max(fits, key=lambda p: (p.stat().st_mtime, p.name), default=None)


def _keep(path: Path, fit: Fit) -> None:
    """Keep `fit` loaded as its project's, dropping that project's older fits from memory (call under _lock)."""
    for other in [p for p in _loaded if p.parent == path.parent and p != path]:
        del _loaded[other]
    _loaded[path] = fit


def _pointed(runtime: Runtime) -> list[tuple[int, str, str, float]]:
    with runtime.db.session() as session:
        rows = decided_items(session, BacklogItem.story_points)
    return [(item_id, t, d, float(p)) for item_id, t, d, p in rows if p > 0]


def _count(runtime: Runtime) -> int:
    where = (BacklogItem.story_points > 0, BacklogItem.merged_into_id.is_(None))
    with runtime.db.session() as session:
        return int(session.scalar(select(func.count()).where(*where)) or 0)


def _held(path: Path) -> bool:
    """Whether the lock at `path` is held by a fit that is still running, as far as can be told from here."""
    try:
        if time.time() - path.stat().st_mtime > STALE_S:
            return False  # not touched for long: its fit died, wherever it ran
        holder = json.loads(path.read_text() or "{}")
    except FileNotFoundError:
        return False
    except ValueError:
        return True  # being written: wait for it to go stale
    if not isinstance(holder, dict) or holder.get("host") != socket.gethostname():
        return True  # another machine's fit (or another version's lock), touched lately
    try:
        os.kill(int(holder.get("pid", 0)), 0)
    except ProcessLookupError:
        return False  # a process of this host that ended
    except (ValueError, OSError):
        return True  # alive, another user's (PermissionError), or unreadable
    return True


def _take_lock(root: Path) -> bool:
    """Whether this process may fit: no running fit holds the project's lock."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / LOCK
    for _ in range(2):
        try:
            handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            if _held(path):
                return False
            path.unlink(missing_ok=True)  # left by a fit that died
            continue
        with os.fdopen(handle, "w") as out:
            json.dump(_holder(started=time.time()), out)
        return True
    return False


def _holder(**progress: float) -> dict[str, Any]:
    """What a lock says: the fitting host and process, and how far the fit is."""
    return {"host": socket.gethostname(), "pid": os.getpid(), **progress}


def _heartbeat(path: Path) -> Callable[[int, int], None]:
    """A fit's progress callback: every `HEARTBEAT_S` it writes the steps done into the lock (replaced whole, so
    the lock never disappears), which also tells other processes that the fit is alive."""
    started, last = time.time(), [time.monotonic()]

    def beat(done: int, steps: int) -> None:
        if time.monotonic() - last[0] >= HEARTBEAT_S:
            last[0] = time.monotonic()
            staged = path.with_name(f".{path.name}-{os.getpid()}-{threading.get_ident()}")
            staged.write_text(json.dumps(_holder(started=started, done=done, steps=steps)))
            os.replace(staged, path)

    return beat


def _progress(path: Path) -> dict[str, Any] | None:
    """How far the fit holding the lock at `path` is: steps done, steps, seconds left (None until it says)."""
    try:
        holder = json.loads(path.read_text())
        done, steps, started = int(holder["done"]), int(holder["steps"]), float(holder["started"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    eta = (time.time() - started) / done * (steps - done) if done else None
    return {"done": done, "steps": steps, "eta_s": None if eta is None else round(eta)}


def _drop_older(root: Path, kept: Path) -> None:
    """Remove the project's fits other than `kept`, and staging folders left by fits that died."""
    for old in [*root.glob("[0-9]*"), *root.glob(".staging-*")]:
        try:
            if old != kept and (old.name[0] != "." or time.time() - old.stat().st_mtime > STALE_S):
                shutil.rmtree(old, ignore_errors=True)
        except FileNotFoundError:
            pass  # removed meanwhile


def _fit(root: Path, rows: list[tuple[int, str, str, float]], count: int) -> None:
    try:
        texts, points = [item_words(t, d) for _, t, d, _ in rows], [p for *_, p in rows]
        model = PointsModel.fit(texts, points, progress=_heartbeat(root / LOCK))
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
        model.save(staging)
        (staging / ITEMS).write_text(json.dumps(sorted(item_id for item_id, *_ in rows)))
        final = root / f"{count:06d}"
        shutil.rmtree(final, ignore_errors=True)
        staging.rename(final)
        _drop_older(root, final)
        with _lock:
            _keep(final, Fit(model, frozenset(item_id for item_id, *_ in rows)))
        log.info("the team's points model was fitted on %d items (%s)", len(rows), final)
    except Exception:
        log.exception("fitting the team's points model failed; estimates stand without it")
        with _lock:
            _failed[root] = count
    finally:
        (root / LOCK).unlink(missing_ok=True)
        with _lock:
            _fitting.pop(root, None)


def start_fit(runtime: Runtime, count: int) -> threading.Thread | None:
    """Fit the current project's model on its `count` items with points in a background thread, unless one is
    fitting it already (here or in another process: then None) or a fit on as many items failed."""
    root = folder(runtime)
    with _lock:
        if (running := _fitting.get(root)) is not None:
            return running
        if _failed.get(root) == count or not _take_lock(root):
            return None
        rows = _pointed(runtime)
        thread = threading.Thread(target=_fit, args=(root, rows, count), name="points-model-fit", daemon=True)
        _fitting[root] = thread
    thread.start()
    return thread


def team_model(runtime: Runtime, wait: bool = False) -> tuple[Fit | None, bool]:
    """(the newest fit of the current project's model or None, whether a fit is under way). Starts a fit when there
    is none yet or the items with points moved by `REFIT_SHARE` since; `wait` waits for a fit started here."""
    count = _count(runtime)
    if count < MIN_ITEMS:
        return None, False
    root = folder(runtime)
    newest = newest_fit(root)
    fitted_on = int(newest.name) if newest else 0
    fitting = False
    below, above = _refit_bounds(fitted_on)
    if newest is None or not below <= count < above:
        thread = start_fit(runtime, count)
        fitting = thread is not None or _running(root)
        if thread is not None and wait:
            thread.join()
            newest, fitting = newest_fit(root), False
    if newest is None:
        return None, fitting
    with _lock:
        if newest not in _loaded:
            try:
                _keep(newest, Fit.load(newest, runtime.settings.embedding_model))
            except Exception:  # a damaged or foreign file: dropped, and the next estimate fits again
                log.exception("the team's points model in %s could not be loaded; it is removed", newest)
                shutil.rmtree(newest, ignore_errors=True)
                return None, fitting
        return _loaded[newest], fitting


def _refit_bounds(fitted_on: int) -> tuple[int, int]:
    """The counts of items with points a fit on `fitted_on` items stands for: from the first up to, not including,
    the second (a change of `REFIT_SHARE` or more either way fits again)."""
    share = math.ceil(REFIT_SHARE * fitted_on)
    return fitted_on - share + 1, fitted_on + share


def _running(root: Path) -> bool:
    """Whether a fit of the project in `root` runs, in this process or (by its lock) in another."""
    return root in _fitting or _held(root / LOCK)


def learned(runtime: Runtime) -> dict[str, Any]:
    """What the current project's points model learned, for the desk and `GET /v1/estimates/learning`."""
    root = folder(runtime)
    newest = newest_fit(root)
    fitted_on = int(newest.name) if newest else None
    fitting = _running(root)
    below, above = _refit_bounds(fitted_on) if fitted_on else (None, None)
    return {
        "items_with_points": _count(runtime),
        "min_items": MIN_ITEMS,
        "fitted_on": fitted_on,
        "fitted_at": datetime.fromtimestamp(newest.stat().st_mtime, UTC) if newest else None,
        "fitting": fitting,
        "fit_progress": _progress(root / LOCK) if fitting else None,
        "failed_on": _failed.get(root),
        "refit_below": below,
        "refit_from": above,
    }


def refit(runtime: Runtime) -> dict[str, Any]:
    """Forget the current project's fits and fit again on its items with points as they are now (admins: after the
    team re-estimated many items, say). Conflict while a fit is running."""
    root = folder(runtime)
    with _lock:
        if _running(root):
            raise Conflict("the team's points model is being fitted now: try again when that fit has ended")
        for path in [p for p in _loaded if p.parent == root]:
            del _loaded[path]
        _failed.pop(root, None)
        for old in root.glob("[0-9]*") if root.is_dir() else []:
            shutil.rmtree(old, ignore_errors=True)
    count = _count(runtime)
    if count >= MIN_ITEMS:
        start_fit(runtime, count)
    return learned(runtime)
