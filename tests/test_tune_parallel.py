"""kzoo-tune across processes: two workers on one study's journal, two "machines" on one PostgreSQL
database (a local server from the pgserver wheel), and a study killed mid-trial that resumes."""

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pgserver
import pytest
from optuna.storages import RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage
from optuna.trial import TrialState

ROOT = Path(__file__).resolve().parent.parent
# gmf's tiny config on synthetic data, one or two epochs a trial, no XLA: each trial takes about a second.
TINY = ["--model", "gmf", "--tiny", "--data", "synthetic", "--set", "train.jit_compile=false",
        "--set", "train.steps_per_execution=1", "--pruner", "none"]


def _command(*args):
    return [sys.executable, "-m", "kzoo.cli.tune", *TINY, *args]


def _env():
    return dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")


def _journal_study(directory: Path, name: str = "gmf") -> optuna.Study:
    path = str(directory / "journal.log")
    return optuna.load_study(study_name=name,
                             storage=JournalStorage(JournalFileBackend(path, lock_obj=JournalFileOpenLock(path))))


def _workers(study) -> set:
    return {t.user_attrs["worker"] for t in study.trials}


def test_two_workers_share_one_study(tmp_path):
    proc = subprocess.run(_command("--trials", "4", "--epochs", "1", "--workers", "2", "--study", str(tmp_path / "s")),
                          capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    study = _journal_study(tmp_path / "s")
    finished = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert 4 <= len(finished) <= 5, [t.state for t in study.trials]  # a worker may start one as the other ends
    assert len(_workers(study)) == 2  # both processes ran trials
    assert "best trial" in proc.stdout and (tmp_path / "s" / "best.yaml").is_file()


def test_two_machines_share_a_study_through_postgresql(tmp_path):
    # A short folder: the server's Unix socket path must stay under 108 bytes.
    server = pgserver.get_server(tempfile.mkdtemp(prefix="kzoo-pg-"), cleanup_mode="stop")
    try:
        url = server.get_uri()  # postgresql://postgres:@/postgres?host=/tmp/kzoo-pg-...
        machines = [subprocess.Popen(_command("--trials", "4", "--epochs", "1", "--study", url,
                                              "--output", str(tmp_path / name)),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
                    for name in ("a", "b")]
        outputs = [m.communicate(timeout=300) for m in machines]
        assert [m.returncode for m in machines] == [0, 0], [err[-3000:] for _, err in outputs]
        storage = RDBStorage(url.replace("postgresql://", "postgresql+psycopg2://"))
        study = optuna.load_study(study_name="gmf", storage=storage)
        finished = [t for t in study.trials if t.state == TrialState.COMPLETE]
        assert 4 <= len(finished) <= 5, [t.state for t in study.trials]
        assert len(_workers(study)) == 2
        # Each machine keeps its own trials' runs; each one's report lists every trial of the study.
        for name in ("a", "b"):
            runs = {Path(t.user_attrs["run_dir"]).parent for t in study.trials}
            assert (tmp_path / name / "trials") in runs
            assert (tmp_path / name / "trials.json").read_text().count('"number"') == len(study.trials)
        storage.engine.dispose()
    finally:
        server.cleanup()


def test_a_killed_study_resumes_where_it_stopped(tmp_path):
    directory = tmp_path / "s"
    command = _command("--trials", "3", "--epochs", "2", "--study", str(directory))
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(),
                             start_new_session=True)
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline:  # kill it in the middle of its second trial
            time.sleep(0.3)
            if (directory / "journal.log").is_file() and first.poll() is None:
                states = [t.state for t in _journal_study(directory).trials] if _has_study(directory) else []
                if TrialState.COMPLETE in states and TrialState.RUNNING in states:
                    break
        else:
            pytest.fail("the first trial did not finish in time")
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    before = _journal_study(directory).trials
    done = [t for t in before if t.state == TrialState.COMPLETE]
    killed = [t for t in before if t.state == TrialState.RUNNING]
    assert len(done) >= 1 and len(killed) == 1

    again = subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"trials [{killed[0].number}] were killed and are queued again" in again.stdout
    after = _journal_study(directory).trials
    assert [t.value for t in after[:len(done)]] == [t.value for t in done]  # finished trials kept, not rerun
    assert after[killed[0].number].state == TrialState.FAIL
    assert after[killed[0].number].user_attrs["status"] == "killed"
    retried = [t for t in after if t.user_attrs.get("retry_of") == killed[0].number]
    assert len(retried) == 1 and retried[0].params == killed[0].params and retried[0].state == TrialState.COMPLETE
    assert sum(t.state == TrialState.COMPLETE for t in after) == 3


def _has_study(directory: Path) -> bool:
    try:
        _journal_study(directory)
    except KeyError:
        return False
    return True
