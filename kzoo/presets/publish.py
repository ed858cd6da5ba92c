"""`publish(preset, to)`: check a preset whole, then upload it to the Hugging Face Hub or Kaggle Models.

The preset is copied to a temporary directory, checked there (every file, its sha256, a load of
the model and preprocessor) and uploaded from the copy: the local preset is never modified (unlike
`keras_hub.upload_preset`, which writes and removes a card in it), and what is uploaded is exactly
what was checked. A Hugging Face upload is one commit (`HfApi.upload_folder`): all files or none.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from kzoo.errors import PresetError
from kzoo.presets.files import Preset, read_preset
from kzoo.presets.hub import HF, KAGGLE, KAGGLE_API, _hf_repo, _kaggle_handle, reachable
from kzoo.presets.loader import load


def validate(path: str | os.PathLike) -> Preset:
    """Check the local preset at `path`: every file there and unchanged, and its model and preprocessor load."""
    preset = read_preset(path)
    load(preset.path, compile=False)
    return preset


def _upload_hf(folder: Path, to: str, private: bool, message: str) -> str:
    from huggingface_hub import HfApi, constants, errors

    repo, revision = _hf_repo(to)
    if revision:
        raise PresetError(f"--to {to!r}: publish to a repository (hf://org/name), not a revision")
    if constants.HF_HUB_OFFLINE or not reachable(constants.ENDPOINT):
        raise PresetError(f"cannot publish to {to!r}: {urlparse(constants.ENDPOINT).hostname} is not reachable "
                          "(offline?, or HF_HUB_OFFLINE is set); nothing was uploaded")
    api = HfApi()
    try:
        api.create_repo(repo, exist_ok=True, private=private)
        commit = api.upload_folder(repo_id=repo, folder_path=folder, commit_message=message)
    except (errors.HfHubHTTPError, OSError, ValueError) as err:
        raise PresetError(f"cannot publish to {to!r}: {str(err).splitlines()[0]} (a token with write access: "
                          "huggingface-cli login)") from None
    return str(getattr(commit, "commit_url", None) or f"{constants.ENDPOINT}/{repo}")


def _upload_kaggle(folder: Path, to: str, message: str) -> str:
    name = _kaggle_handle(to)
    try:
        import kagglehub
    except ImportError:
        raise PresetError(f"cannot publish to {to!r}: kaggle:// needs kagglehub (pip install kagglehub)") from None
    if not reachable(KAGGLE_API):
        raise PresetError(f"cannot publish to {to!r}: {urlparse(KAGGLE_API).hostname} is not reachable (offline?); "
                          "nothing was uploaded")
    try:
        kagglehub.model_upload(name, str(folder), version_notes=message)
    except Exception as err:  # kagglehub raises requests', its own and ValueError types alike
        raise PresetError(f"cannot publish to {to!r}: {str(err).splitlines()[0]}") from None
    return f"https://www.kaggle.com/models/{'/'.join(name.split('/')[:2])}"


def publish(path: str | os.PathLike, to: str, private: bool = False, message: str | None = None) -> str:
    """Validate the preset at `path`, then upload it to `to` (hf://org/name or kaggle://owner/model/keras/variant).

    Returns the URL of the published model. PresetError (one line) for a bad preset or handle, or
    when the hub cannot be reached (offline: within seconds, nothing uploaded).
    """
    if not str(to).startswith((HF, KAGGLE)):
        raise PresetError(f"--to {to!r}: publish to hf://org/name or kaggle://owner/model/keras/variant")
    source = read_preset(path)
    message = message or f"kzoo preset of {source.entry}"
    with tempfile.TemporaryDirectory(prefix="kzoo-publish-") as scratch:
        copy = Path(scratch) / source.path.name
        shutil.copytree(source.path, copy)
        validate(copy)
        if str(to).startswith(HF):
            return _upload_hf(copy, to, private, message)
        return _upload_kaggle(copy, to, message)
