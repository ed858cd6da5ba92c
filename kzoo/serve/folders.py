"""The folders kzoo-serve reads: `NAME=DIR` model specs, numbered version folders, version policies.

No TensorFlow here: the command line checks its arguments with it before TensorFlow loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kzoo.errors import UsageError


@dataclass(frozen=True)
class VersionPolicy:
    """Which versions to serve: the newest `latest` ones, or exactly `specific` ones (TF Serving's policies)."""

    latest: int = 1
    specific: tuple[int, ...] = ()

    @classmethod
    def parse(cls, text: str) -> "VersionPolicy":
        """`latest`, `latest:N` or `specific:1,3` → a policy; UsageError naming the valid forms otherwise."""
        kind, _, rest = text.partition(":")
        try:
            if kind == "latest":
                n = int(rest or 1)
                if n >= 1:
                    return cls(latest=n)
            elif kind == "specific":
                versions = tuple(sorted({int(v) for v in rest.split(",")}))
                if versions and min(versions) >= 1:
                    return cls(latest=0, specific=versions)
        except ValueError:
            pass
        raise UsageError(f"--version-policy {text!r}: use latest, latest:N (N >= 1) or specific:V1,V2 (versions >= 1)")

    def pick(self, available: list[int]) -> list[int]:
        """The versions of `available` this policy serves, in ascending order."""
        if self.specific:
            return [v for v in sorted(available) if v in self.specific]
        return sorted(available)[-self.latest:]


def parse_model_spec(text: str) -> tuple[str, Path]:
    """`NAME=DIR` → (name, base folder). DIR may be a run directory (its `export/` is used) or a base folder."""
    name, sep, directory = text.partition("=")
    if not sep or not name or not directory:
        raise UsageError(f"--model {text!r}: expected NAME=DIR, e.g. --model imdb=runs/lstm/export")
    if not name.replace("_", "").replace("-", "").isalnum():
        raise UsageError(f"--model {text!r}: the name may use letters, digits, '-' and '_' only")
    base = Path(directory)
    if (base / "export").is_dir() and not versions_on_disk(base):
        base = base / "export"
    if not base.is_dir():
        raise UsageError(f"--model {text!r}: {directory!r} is not a folder")
    if (base / "saved_model.pb").is_file():
        raise UsageError(f"--model {text!r}: {directory!r} is one version; name its parent (versions are numbered "
                         f"subfolders, as `kzoo-export` writes them)")
    if not versions_on_disk(base):
        raise UsageError(f"--model {text!r}: {directory!r} holds no numbered SavedModel version folder")
    return name, base


def versions_on_disk(base: Path) -> list[int]:
    """Numbered subfolders of `base` that hold a complete SavedModel (`saved_model.pb`)."""
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir()
                  if p.name.isdigit() and (p / "saved_model.pb").is_file())
