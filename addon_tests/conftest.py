"""Shared fixtures: real data from ../shared/data, unpacked once into a cache."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
# Development data: $ZOMG_SHARED_DATA, else ../shared/data beside the checkout, else the workspace's copy.
_CANDIDATES = [Path(p) for p in (os.environ.get("ZOMG_SHARED_DATA"),) if p] + [REPO.parent / "shared" / "data",
                                                                               Path("/work/shared/data")]
SHARED = next((p for p in _CANDIDATES if p.is_dir()), _CANDIDATES[0])
CACHE = Path(os.environ.get("ZOMG_TEST_CACHE", Path.home() / ".cache" / "zomg-tests"))


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"development data not found: {path}")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return _need(SHARED)


@pytest.fixture(scope="session")
def cmu_bvh(shared_data) -> Path:
    """Folder of the long CMU takes (01_01.bvh, 13_29.bvh ...)."""
    return _need(shared_data / "cmu" / "bvh")


def _unpacked(name: str, tarball: Path) -> Path:
    """``tarball`` unpacked once into the test cache under ``name``."""
    out = CACHE / name
    marker = out / ".unpacked"
    if not marker.exists():
        out.mkdir(parents=True, exist_ok=True)
        subprocess.run(["tar", "-xJf", str(_need(tarball)), "-C", str(out)], check=True)
        marker.write_text("ok")
    return out


@pytest.fixture(scope="session")
def bandai_dir(shared_data) -> Path:
    """Unpacked Bandai dataset root; paths in manifest.csv are relative to it."""
    return _unpacked("bandai", shared_data / "bandai" / "bandai-bvh.tar.xz")


@pytest.fixture(scope="session")
def cmu_extra_dir(shared_data) -> Path:
    """Unpacked cmu-extra: bvh/<clip_id>.bvh."""
    return _unpacked("cmu-extra", shared_data / "cmu-extra" / "cmu-extra-bvh.tar.xz")
