"""Preset handles: a local path, `hf://org/name[@revision]` or `kaggle://owner/model/keras/variant[/version]`.

Remote presets are fetched whole by huggingface_hub (`snapshot_download`) or kagglehub
(`model_download`), which keep their own caches; kzoo writes no downloader. Offline, both are
probed first with one short TCP connection, so a handle fails within seconds with one line naming
it instead of retrying (a Hugging Face preset already in the cache still loads offline).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

from kzoo.errors import PresetError
from kzoo.network import network_reachable

HF, KAGGLE = "hf://", "kaggle://"
PROBE_TIMEOUT = 3.0
KAGGLE_API = os.environ.get("KAGGLE_API_ENDPOINT", "https://api.kaggle.com")  # where kagglehub 1.0 sends requests


def is_remote(handle: str) -> bool:
    """Whether `handle` names a hub preset (hf:// or kaggle://) rather than a local path."""
    return str(handle).startswith((HF, KAGGLE))


def reachable(url: str, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether a TCP connection to `url`'s host (or the HTTPS proxy, when one is set) opens within `timeout` s."""
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    parsed = urlparse(proxy or url)
    return network_reachable(parsed.hostname or "", parsed.port or (443 if parsed.scheme == "https" else 80), timeout)


def _hf_repo(handle: str) -> tuple[str, str | None]:
    repo, _, revision = handle.removeprefix(HF).partition("@")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise PresetError(f"{handle!r}: a Hugging Face preset handle is hf://org/name (optionally @revision)")
    return repo, revision or None


def _kaggle_handle(handle: str) -> str:
    name = handle.removeprefix(KAGGLE)
    parts = name.split("/")
    if len(parts) not in (4, 5) or not all(parts):
        raise PresetError(f"{handle!r}: a Kaggle preset handle is kaggle://owner/model/keras/variant[/version]")
    return name


def _offline(handle: str, host: str, extra: str = "") -> PresetError:
    return PresetError(f"cannot fetch the preset {handle!r}: {host} is not reachable (offline?){extra}; download it "
                       "where a network is, then pass its local directory")


def fetch_hf(handle: str) -> Path:
    """The local snapshot of a `hf://org/name[@revision]` preset (the cache when offline)."""
    import huggingface_hub
    from huggingface_hub import constants, errors

    repo, revision = _hf_repo(handle)
    online = not constants.HF_HUB_OFFLINE and reachable(constants.ENDPOINT)
    try:
        return Path(huggingface_hub.snapshot_download(repo, revision=revision, local_files_only=not online))
    except errors.LocalEntryNotFoundError:
        raise _offline(handle, urlparse(constants.ENDPOINT).hostname, " and no copy is cached") from None
    except (errors.RepositoryNotFoundError, errors.RevisionNotFoundError, errors.GatedRepoError) as err:
        raise PresetError(f"cannot fetch the preset {handle!r}: {type(err).__name__} "
                          f"(no such repository or revision, or it needs a token: huggingface-cli login)") from None
    except (errors.HfHubHTTPError, OSError, ValueError) as err:
        raise PresetError(f"cannot fetch the preset {handle!r}: {str(err).splitlines()[0]}") from None


def fetch_kaggle(handle: str) -> Path:
    """The local copy of a `kaggle://owner/model/keras/variant[/version]` preset, by kagglehub."""
    name = _kaggle_handle(handle)
    try:
        import kagglehub
    except ImportError:
        raise PresetError(f"cannot fetch {handle!r}: kaggle:// presets need kagglehub "
                          "(pip install kagglehub)") from None
    endpoint = KAGGLE_API
    if not reachable(endpoint):
        raise _offline(handle, urlparse(endpoint).hostname)
    try:
        return Path(kagglehub.model_download(name))
    except Exception as err:  # kagglehub raises requests', its own and ValueError types alike
        raise PresetError(f"cannot fetch the preset {handle!r}: {str(err).splitlines()[0]}") from None


def resolve_handle(handle: str | os.PathLike) -> Path:
    """The local directory of a preset handle: a path as is, hf:// and kaggle:// fetched (see the module docstring)."""
    text = str(handle)
    if text.startswith(HF):
        return fetch_hf(text)
    if text.startswith(KAGGLE):
        return fetch_kaggle(text)
    if "://" in text:
        raise PresetError(f"{text!r}: a preset is a local directory, hf://org/name or "
                          "kaggle://owner/model/keras/variant")
    return Path(text).expanduser()
