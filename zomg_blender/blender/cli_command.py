"""`blender -b --command zomg split ...`: the `zomg` command line inside Blender's own Python."""
from __future__ import annotations

import bpy

_handle = None


def run(argv) -> int:
    """Blender passes the arguments after `--command zomg`; the exit code goes back to the shell."""
    from ..cli import main

    return main(list(argv))


def register():
    global _handle
    _handle = bpy.utils.register_cli_command("zomg", run)


def unregister():
    global _handle
    if _handle is not None:
        bpy.utils.unregister_cli_command(_handle)
        _handle = None
