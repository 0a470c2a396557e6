"""Stage caching for long pipelines: skip a stage whose inputs did not change.

A stage writes its outputs and then a manifest ``<name>.stage.json`` holding the hash of its inputs
(a JSON-safe description that includes the hashes of the files it read). On rerun the stage is
skipped when the manifest's key equals the new key and every output still exists; otherwise it runs
again. The manifest is written last and atomically, so a stage killed midway is redone.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from bsam._io import read_json, write_json

__all__ = ["stage_key", "StageCache"]


def stage_key(inputs: dict) -> str:
    """SHA-256 (first 16 hex digits) of the canonical JSON of ``inputs``."""
    text = json.dumps(inputs, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class StageCache:
    """Manifests of finished stages under ``root/.stages``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.dir = self.root / ".stages"

    def _manifest(self, name: str) -> Path:
        safe = name.replace("/", "__")
        return self.dir / f"{safe}.stage.json"

    def is_done(self, name: str, inputs: dict) -> bool:
        """Whether stage ``name`` finished with these ``inputs`` and its outputs still exist."""
        path = self._manifest(name)
        if not path.is_file():
            return False
        try:
            manifest = read_json(path)
        except ValueError:
            return False
        if manifest.get("key") != stage_key(inputs):
            return False
        return all((self.root / p).exists() for p in manifest.get("outputs", []))

    def mark_done(self, name: str, inputs: dict, outputs: list[str | Path]) -> None:
        """Record that stage ``name`` finished with ``inputs`` and wrote ``outputs``."""
        rel = [str(Path(p).resolve().relative_to(self.root.resolve())) for p in outputs]
        write_json(
            self._manifest(name),
            {"key": stage_key(inputs), "inputs": inputs, "outputs": rel, "finished": time.time()},
        )

    def finished(self) -> list[str]:
        """Names of stages with a manifest (finished at some point)."""
        if not self.dir.is_dir():
            return []
        return sorted(p.name[: -len(".stage.json")] for p in self.dir.glob("*.stage.json"))
