"""The extension as users get it: the zip built by tools/build_extension.py, validated by Blender's
own tool, installed and enabled in bpy with a fresh user profile (in a subprocess, so the profile
is clean and this test process keeps no bpy state)."""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEV_ONLY = ("addon_tests/", "benchmarks/", "docs/", "tools/", ".ci/", ".venv/", "dist/", ".git", "pyproject.toml")

INSTALL_AND_INSPECT = r"""
import json, os, sys
os.environ["BLENDER_USER_RESOURCES"] = sys.argv[2]   # before bpy starts: a fresh, empty profile
import bpy
result = bpy.ops.extensions.package_install_files(repo="user_default", filepath=sys.argv[1], enable_on_install=True)
module = "bl_ext.user_default.zomg"
addon = bpy.context.preferences.addons.get(module)
prefs = addon.preferences if addon else None
print("RESULT " + json.dumps({
    "install": sorted(result),
    "enabled": addon is not None,
    "operators": sorted(name for name in dir(bpy.ops.zomg)),
    "panels": sorted(name for name in dir(bpy.types) if name.startswith("ZOMG_PT_")),
    "object_state": hasattr(bpy.types.Object, "zomg"),
    "prefs": None if prefs is None else {"naming": prefs.naming, "backend": prefs.backend, "device": prefs.device,
                                         "export_format": prefs.export_format, "api_key_env": prefs.api_key_env},
    "torch_imported": "torch" in sys.modules,
    "installed_at": os.path.dirname(sys.modules[module].__file__),
    "online_access": bpy.app.online_access,
}))
bpy.ops.preferences.addon_disable(module=module)
print("DISABLED " + json.dumps({"panels_left": [n for n in dir(bpy.types) if n.startswith("ZOMG_PT_")],
                                "object_state_left": hasattr(bpy.types.Object, "zomg")}))
"""


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run = subprocess.run([sys.executable, str(REPO / "tools" / "build_extension.py"), "--output-dir", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    path = Path(run.stdout.strip().splitlines()[-1])
    assert path.is_file() and path.parent == out
    return path


def test_zip_holds_the_package_and_no_development_files(built_zip):
    names = zipfile.ZipFile(built_zip).namelist()
    assert {"blender_manifest.toml", "__init__.py", "zomg_blender/blender/operators.py",
            "zomg_blender/engine/take.py", "zomg_blender/cli/__init__.py"} <= set(names)
    leaked = [n for n in names if n.startswith(DEV_ONLY) or "__pycache__" in n or n.endswith(".pyc")]
    assert leaked == []
    # Everything the package carries (weights and data included) is in the zip.
    package = {p.relative_to(REPO).as_posix() for p in (REPO / "zomg_blender").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
    assert package - set(names) == set()


def test_blender_validates_the_zip(built_zip):
    sys.path.insert(0, str(REPO / "tools"))
    try:
        from build_extension import find_blender_ext
    finally:
        sys.path.pop(0)
    run = subprocess.run([sys.executable, str(find_blender_ext()), "validate", str(built_zip)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Success" in run.stdout


def test_installs_and_registers_in_a_fresh_blender_profile(built_zip, tmp_path):
    run = subprocess.run([sys.executable, "-c", INSTALL_AND_INSPECT, str(built_zip), str(tmp_path / "profile")],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    lines = {line.split(" ", 1)[0]: json.loads(line.split(" ", 1)[1])
             for line in run.stdout.splitlines() if line.startswith(("RESULT ", "DISABLED "))}
    assert run.returncode == 0 and "RESULT" in lines, run.stdout[-3000:] + run.stderr[-3000:]
    info = lines["RESULT"]
    assert info["install"] == ["FINISHED"] and info["enabled"]
    # Installed from the zip into the temporary profile, not loaded from this checkout.
    assert Path(info["installed_at"]).is_relative_to(tmp_path / "profile")
    assert {"split_markers", "export_clips", "propose", "ground", "apply", "install_deps",
            "subaction_edit"} <= set(info["operators"])
    for space in ("view_3d", "nla_editor"):
        assert {f"ZOMG_PT_{space}_{p}" for p in ("take", "describe", "results", "markers")} <= set(info["panels"])
    assert info["object_state"]
    assert info["prefs"] == {"naming": "{take}_{index:02d}_{name}", "backend": "rules", "device": "auto",
                             "export_format": "FBX", "api_key_env": "OPENAI_API_KEY"}
    assert info["torch_imported"] is False, "registering must not import torch"
    assert lines["DISABLED"] == {"panels_left": [], "object_state_left": False}
