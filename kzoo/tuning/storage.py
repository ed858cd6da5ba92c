"""Where a study lives: Optuna's journal file in the study directory, or a database every machine reaches.

A path (the default) is a `journal.log` (`JournalFileBackend`), which Optuna recommends for several
processes on one machine (SQLite serialises writers and reports "database is locked"). A URL is an
`RDBStorage` (PostgreSQL, MySQL, SQLite) with Optuna's heartbeat: a trial whose worker stopped
beating is failed and retried. `postgresql://` means psycopg2 (SQLAlchemy 2.1's default driver for
that scheme is psycopg 3, which kzoo does not install).
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import optuna
from optuna.storages import RDBStorage, RetryFailedTrialCallback
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage
from optuna.trial import TrialState

from kzoo.tuning.objective import worker_id

HEARTBEAT_SECONDS = 30
JOURNAL = "journal.log"
FAILED_BY_RUN = ("diverged", "failed")  # a trial's `status` when its own training failed


def is_url(study: str | None) -> bool:
    """Whether `--study` names a database (`SCHEME://...`) rather than a study directory."""
    return study is not None and "://" in study


def database_url(url: str) -> str:
    """`url` with `postgresql://` spelt `postgresql+psycopg2://` (the driver kzoo installs)."""
    return "postgresql+psycopg2://" + url[len("postgresql://"):] if url.startswith("postgresql://") else url


def open_storage(study: str | None, study_dir: Path) -> optuna.storages.BaseStorage:
    """The storage `--study` names: a database URL, else the journal file in `study_dir` (created)."""
    if is_url(study):
        return _database_storage(database_url(study))
    study_dir.mkdir(parents=True, exist_ok=True)
    path = str(study_dir / JOURNAL)
    return JournalStorage(JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))


def _database_storage(url: str, attempts: int = 5) -> RDBStorage:
    """Optuna's `RDBStorage` on `url`, retried while another machine is creating the same tables.

    Two machines starting on an empty database both run Optuna's schema creation; the slower one
    fails on the types and tables the other just made (PostgreSQL: "duplicate key value violates
    unique constraint pg_type_typname_nsp_index"). Once the schema exists, opening it succeeds.
    """
    import sqlalchemy.exc

    for attempt in range(attempts):
        try:
            return RDBStorage(url, heartbeat_interval=HEARTBEAT_SECONDS, grace_period=4 * HEARTBEAT_SECONDS,
                              failed_trial_callback=RetryFailedTrialCallback(max_retry=1))
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 + attempt)
    raise AssertionError("unreachable")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_dead_trials(study: optuna.Study) -> list[int]:
    """Fail the running trials of this machine whose worker process is gone, and queue their values again.

    A killed study leaves its trials RUNNING; on resume they are marked failed (`status: killed`, not
    counted) and enqueued, so the study runs them again. Another machine's trials are left to
    the database's heartbeat. Returns the numbers of the trials failed.
    """
    host = socket.gethostname()
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        where, _, pid = str(trial.user_attrs.get("worker", "")).partition(":")
        if where != host or not pid.isdigit() or _alive(int(pid)) or f"{host}:{pid}" == worker_id():
            continue
        storage = study._storage  # Optuna has no public call to fail another process's trial
        storage.set_trial_user_attr(trial._trial_id, "status", "killed")
        if storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
            study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
            failed.append(trial.number)
    return failed


def counted(study: optuna.Study) -> int:
    """Trials that count towards `--trials`: finished, pruned, running, or failed by their own run (diverged).

    A trial failed because its worker died (killed here, or stale in the database's heartbeat) does
    not count: its values are queued again.
    """
    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
    return sum(1 for t in study.get_trials(deepcopy=False)
               if t.state in states or (t.state == TrialState.FAIL and t.user_attrs.get("status") in FAILED_BY_RUN))
