"""On-disk cache of LLM partitions: one JSON file per (backend, server, model, prompt, text).

A description sent once to a server is never sent again; files are written atomically so that two
Blender sessions sharing the cache never read half a file."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path


def default_dir() -> Path:
    """$ZOMG_CACHE_DIR/partition, else ~/.cache/zomg/partition."""
    root = os.environ.get("ZOMG_CACHE_DIR") or Path.home() / ".cache" / "zomg"
    return Path(root) / "partition"


def cache_key(backend: str, base_url: str, model: str, prompt_version: str, text: str) -> str:
    return hashlib.sha256(json.dumps([backend, base_url, model, prompt_version, text]).encode()).hexdigest()


def load(directory: Path, key: str) -> list[str] | None:
    """The cached sub-actions, or None when absent or unreadable."""
    try:
        data = json.loads((Path(directory) / f"{key}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    items = data.get("subactions") if isinstance(data, dict) else None
    if isinstance(items, list) and items and all(isinstance(s, str) and s for s in items):
        return items
    return None


def store(directory: Path, key: str, record: dict) -> None:
    """Write `record` as <key>.json atomically (temp file + rename); raises OSError on failure."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(record, out, ensure_ascii=False, indent=1)
        os.replace(tmp, directory / f"{key}.json")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
