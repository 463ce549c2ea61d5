"""The team's story-point model (`pipelines.points_model`): fitted in the background on the project's items with
points once `MIN_ITEMS` have them, kept on disk under the data folder, and fitted again once the number of items
with points has moved by a tenth. No estimate waits for a fit (minutes on a laptop: README); until the first one
ends, estimates are the rule's alone and say the model is being fitted.

One process fits a project's model at a time: a lock file names the fitting process, and a lock left by a process
that ended is taken over. Processes on other machines keep their own fits (each its data folder)."""

from __future__ import annotations

import logging
import os
import shutil
import threading
from pathlib import Path

from sqlalchemy import func, select

from pipelines.points_model import MIN_ITEMS, WEIGHTS, PointsModel
from pipelines.words import item_words
from service.core.learned import decided_rows
from service.core.runtime import Runtime
from service.core.scope import current_project
from service.core.tables import BacklogItem

log = logging.getLogger(__name__)
REFIT_SHARE = 0.1  # fit again once the items with points differ by this share from those of the last fit
LOCK = "fitting.lock"
_lock = threading.Lock()
_loaded: dict[Path, PointsModel] = {}
_fitting: dict[Path, threading.Thread] = {}
_failed: dict[Path, int] = {}  # a fit that failed is not tried again until the items with points change


def folder(runtime: Runtime) -> Path:
    """Where the current project's fits are kept: one folder per fit, named by how many items it learned from."""
    return runtime.settings.data_dir / "points-models" / f"project-{current_project()}"


def newest_fit(root: Path) -> Path | None:
    fits = [p for p in root.glob("[0-9]*") if (p / WEIGHTS).is_file()] if root.is_dir() else []
    return max(fits, key=lambda p: (p.stat().st_mtime, p.name), default=None)


def _keep(fit: Path, model: PointsModel) -> None:
    """Keep `model` loaded as its project's fit, dropping that project's older fits from memory (call under _lock)."""
    for other in [p for p in _loaded if p.parent == fit.parent and p != fit]:
        del _loaded[other]
    _loaded[fit] = model


def _pointed(runtime: Runtime) -> list[tuple[str, str, float]]:
    with runtime.db.session() as session:
        return [(t, d, float(p)) for t, d, p in decided_rows(session, BacklogItem.story_points) if p > 0]


def _count(runtime: Runtime) -> int:
    where = (BacklogItem.story_points > 0, BacklogItem.merged_into_id.is_(None))
    with runtime.db.session() as session:
        return int(session.scalar(select(func.count()).where(*where)) or 0)


def _take_lock(root: Path) -> bool:
    """Whether this process may fit: no other live process holds the project's lock."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / LOCK
    for _ in range(2):
        try:
            handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                holder = int(path.read_text() or 0)
                os.kill(holder, 0)
                return False  # a live process is fitting
            except (ValueError, ProcessLookupError, FileNotFoundError):
                path.unlink(missing_ok=True)  # left by a process that ended
                continue
            except PermissionError:
                return False  # alive, another user's
        with os.fdopen(handle, "w") as out:
            out.write(str(os.getpid()))
        return True
    return False


def _fit(root: Path, rows: list[tuple[str, str, float]], count: int) -> None:
    try:
        model = PointsModel.fit([item_words(t, d) for t, d, _ in rows], [p for *_, p in rows])
        staging = root / f".staging-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        model.save(staging)
        final = root / f"{count:06d}"
        shutil.rmtree(final, ignore_errors=True)
        staging.rename(final)
        for old in root.glob("[0-9]*"):
            if old != final:
                shutil.rmtree(old, ignore_errors=True)
        with _lock:
            _keep(final, model)
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


def team_model(runtime: Runtime, wait: bool = False) -> tuple[PointsModel | None, bool]:
    """(the newest fit of the current project's model or None, whether a fit is under way). Starts a fit when there
    is none yet or the items with points moved by `REFIT_SHARE` since; `wait` waits for a fit started here."""
    count = _count(runtime)
    if count < MIN_ITEMS:
        return None, False
    root = folder(runtime)
    newest = newest_fit(root)
    fitted_on = int(newest.name) if newest else 0
    fitting = False
    if newest is None or abs(count - fitted_on) >= REFIT_SHARE * fitted_on:
        thread = start_fit(runtime, count)
        fitting = thread is not None or (root / LOCK).exists()
        if thread is not None and wait:
            thread.join()
            newest, fitting = newest_fit(root), False
    if newest is None:
        return None, fitting
    with _lock:
        if newest not in _loaded:
            try:
                _keep(newest, PointsModel.load(newest, runtime.settings.embedding_model))
            except Exception:  # a damaged or foreign file: dropped, and the next estimate fits again
                log.exception("the team's points model in %s could not be loaded; it is removed", newest)
                shutil.rmtree(newest, ignore_errors=True)
                return None, fitting
        return _loaded[newest], fitting
