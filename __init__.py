"""Blender extension entry point (the repository root is the extension root).

Harmless when the repository is used as a plain Python project: nothing is imported until Blender
calls register(), and the Blender side lives in zomg_blender/blender/.
"""


def register():
    from .zomg_blender.blender import register as register_blender

    register_blender()


def unregister():
    from .zomg_blender.blender import unregister as unregister_blender

    unregister_blender()
