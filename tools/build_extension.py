"""Validate and build the Blender extension zip (dist/zomg-<version>.zip) with Blender's own tool.

`blender_ext.py` ships inside the bpy wheel (bl_pkg/cli/) and runs under plain Python, so no
Blender binary is needed. Prints the zip path on the last line.

    python tools/build_extension.py [--output-dir dist]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def find_blender_ext() -> Path:
    """blender_ext.py of the installed bpy wheel (bpy/<version>/scripts/addons_core/bl_pkg/cli/)."""
    import importlib.util

    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("build_extension: bpy is not installed (pip install -e '.[dev]')")
    root = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(root.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not found:
        raise SystemExit(f"build_extension: blender_ext.py not found under {root}")
    return found[-1]


def run_ext(tool: Path, *args: str) -> None:
    result = subprocess.run([sys.executable, str(tool), *args], cwd=REPO, text=True, capture_output=True)
    if result.returncode != 0:
        raise SystemExit(f"build_extension: blender_ext {args[0]} failed:\n{result.stdout}{result.stderr}")


def build(output_dir: Path) -> Path:
    """Validate the source tree, build the zip, validate the zip; return its path."""
    tool = find_blender_ext()
    manifest = tomllib.loads((REPO / "blender_manifest.toml").read_text())
    output_dir.mkdir(parents=True, exist_ok=True)
    zip_path = output_dir / f"{manifest['id']}-{manifest['version']}.zip"
    zip_path.unlink(missing_ok=True)
    run_ext(tool, "validate", str(REPO))
    run_ext(tool, "build", "--source-dir", str(REPO), "--output-filepath", str(zip_path))
    run_ext(tool, "validate", str(zip_path))
    return zip_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=REPO / "dist")
    args = parser.parse_args(argv)
    print(build(args.output_dir.resolve()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
