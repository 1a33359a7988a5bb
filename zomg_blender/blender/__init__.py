"""Blender side of ZOMG: operators, panel, preferences and the `zomg` CLI command.

bpy is imported only inside register()/unregister() and the modules they load, so the worker
(`python -m zomg_blender.blender.worker`) can run in a plain Python that has no bpy.
"""
from __future__ import annotations

import atexit
import importlib
import typing
from pathlib import Path

# Registration order: property groups before the operators and panels that use them.
_MODULES = ("props", "preferences", "operators", "panel", "cli_command")

# The folder that holds zomg_blender/ (the extension root): what a worker needs on its PYTHONPATH.
EXTENSION_ROOT = Path(__file__).resolve().parents[2]


def _clear_typing_caches() -> None:
    """Let bpy 4.5 shut down: drop typing's caches before the interpreter tears modules down.

    Blender's glTF exporter evaluates ``List[Keyframe]`` at run time; typing's cache keeps that
    class, its module and so the ``bpy`` module alive through teardown (seen when torch was loaded
    too: `zomg split --text ... --gltf`). bpy 4.5 stops its audio thread only when the module is
    freed, so the process then hangs forever in a static destructor after Python has finished.
    bpy 5.0 cleans up without waiting for the module; there this only empties caches.
    """
    for clear in getattr(typing, "_cleanups", ()):
        clear()


atexit.register(_clear_typing_caches)


def addon_package() -> str:
    """The extension's module name (e.g. `bl_ext.user_default.zomg`): the preferences' bl_idname."""
    head, sep, _ = __name__.rpartition(".zomg_blender.")
    return head if sep else __name__.partition(".")[0]


def user_folder(name: str, create: bool = False) -> str | None:
    """A folder of this extension in Blender's user data (kept across updates); None outside an extension."""
    import bpy

    try:
        return bpy.utils.extension_path_user(addon_package(), path=name, create=create)
    except ValueError:  # not loaded as an extension (no bl_ext.<repo>.<id> package)
        return None


def _modules():
    return [importlib.import_module(f".{name}", __name__) for name in _MODULES]


def register():
    from . import deps

    deps.activate()
    for module in _modules():
        module.register()


def unregister():
    for module in reversed(_modules()):
        module.unregister()
