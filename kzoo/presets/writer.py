"""`write_preset(run, out_dir)`: a finished run as a preset directory (`kzoo.presets.files`), whole or not at all."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Mapping

from kzoo.presets.card import model_card
from kzoo.presets.files import (
    CARD_FILE, CONFIG_FILE, FORMAT, METADATA_FILE, PREPROCESSING_DIR, WEIGHTS_FILE, PresetError, file_records,
)
from kzoo.presets.metadata import describe, directory_bytes
from kzoo.presets.run_card import write_run_card
from kzoo.run_config import RunConfig
from kzoo.run_dir import RunDir, write_json
from kzoo.zoo import build_from_config


def fitted_keys(config: Mapping, preprocessor) -> dict:
    """The config keys a fitted preprocessor fixes: `model` sizes it sets, `data` settings it was fitted with.

    A run that starts from the preset (`--init-from`) reuses the preprocessor, so it must agree with these.
    """
    if preprocessor is None:
        return {"model": [], "data": []}
    overrides = getattr(preprocessor, "model_overrides", None)
    # Preprocessors keep their settings as attributes named like the `data` keys (sequence_length, tokenizer).
    settings = [k for k in config.data if isinstance(getattr(preprocessor, k, None), (str, int, float, bool))]
    return {"model": sorted(overrides()) if callable(overrides) else [], "data": settings}


def portable_config(config: RunConfig) -> tuple[RunConfig, dict]:
    """`config` without the `model` values that name local files (`model.pretrained_gmf`, a keras-hub
    `model.preset`): they only initialised the weights the preset carries. Returns (config, {dropped key: path})."""
    dropped = {k: v for k, v in config.model.items()
               if isinstance(v, str) and ("/" in v or v.endswith(".keras")) and Path(v).expanduser().exists()}
    return config.override({f"model.{k}": "" for k in dropped}), dropped


def _check_loads(config: Mapping, weights: Path) -> None:
    """The preset's own config rebuilds a model its weights fit (else nobody could load it)."""
    try:
        build_from_config(config, compile=False).load_weights(weights)
    except (ValueError, OSError, KeyError) as err:
        raise PresetError(f"the run's model cannot be rebuilt from its config without local files "
                          f"({str(err).splitlines()[0] if str(err) else type(err).__name__}); a preset would not "
                          "load elsewhere") from None


def _check_target(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise PresetError(f"--preset {str(out)!r} is a file; choose a new directory")
    if out.is_dir() and any(out.iterdir()):
        raise PresetError(f"--preset {str(out)!r} already holds files; choose a new directory (a preset is never "
                          "written over another)")


def write_preset(run: str | os.PathLike | RunDir, out_dir: str | os.PathLike) -> Path:
    """Write the preset of the finished run `run` into the new directory `out_dir`; return its path.

    The preset holds `config.json`, `model.weights.h5`, `preprocessing/`, `metadata.json` and the
    model card `README.md`; it is written in a temporary directory beside `out_dir` and renamed,
    so a crash never leaves half a preset. The run's own card (`RUN/README.md`) is refreshed too.
    PresetError / RunDirError (one line) for an unfinished run or an `out_dir` that holds files.
    """
    run = RunDir.open(run.path if isinstance(run, RunDir) else run)
    out = Path(out_dir).expanduser()
    _check_target(out)
    run_config, metrics = run.config(), run.metrics()
    config, dropped = portable_config(run_config)
    if metrics.get("status", "finished") != "finished" or "test" not in metrics:
        raise PresetError(f"run {str(run)!r} has no test metrics in metrics.json: its model card would have no "
                          "evaluation; finish the run first")
    model = run.load_model()
    preprocessor = run.preprocessor(run_config)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".tmp-{os.getpid()}-{out.name}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        model.save_weights(tmp / WEIGHTS_FILE)
        if dropped:
            _check_loads(config, tmp / WEIGHTS_FILE)
        if run.preprocessing_dir.is_dir():
            shutil.copytree(run.preprocessing_dir, tmp / PREPROCESSING_DIR)
        write_json({"kzoo_preset": FORMAT, "entry": config.entry, "task": config.task, "config": config.to_dict(),
                    "fitted": fitted_keys(config, preprocessor)}, tmp / CONFIG_FILE)
        sizes = {"weights_bytes": (tmp / WEIGHTS_FILE).stat().st_size,
                 "preprocessing_bytes": directory_bytes(tmp / PREPROCESSING_DIR)}
        metadata = {**describe(config, metrics, sizes, file_records(tmp)), "local_files_not_carried": dropped}
        write_json(metadata, tmp / METADATA_FILE)
        (tmp / CARD_FILE).write_text(model_card(config, metadata, reference=str(out)), encoding="utf-8")
        _check_target(out)  # again: another writer may have filled it meanwhile
        os.rename(tmp, out)  # atomic; onto a missing or empty directory only
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(err, OSError):
            raise PresetError(f"cannot write the preset {str(out)!r}: {err.strerror or err}") from None
        raise
    write_run_card(run, metrics)
    return out
