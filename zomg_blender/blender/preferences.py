"""Add-on preferences: splitting backend, engine device and weights, clip naming, export defaults,
the weights' licence, and the engine packages' status with an install button."""
from __future__ import annotations

import textwrap

import bpy
from bpy.props import EnumProperty, IntProperty, StringProperty

from . import addon_package, deps

DEFAULT_NAMING = "{take}_{index:02d}_{name}"
LICENCE_NOTE = ("The shipped encoder weights are CC BY-NC 4.0 (trained on the Bandai Namco Research Motion "
                "Dataset): non-commercial use only. Set your own checkpoint for commercial work.")


class ZOMG_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = addon_package()

    backend: EnumProperty(
        name="Splitting Backend",
        description="How a description is split into sub-actions",
        items=(("rules", "Rules (offline)", "Split on 'then', commas and 'and'; no network"),
               ("openai", "OpenAI-compatible", "Ask an OpenAI-compatible chat endpoint (network)"),
               ("ollama", "Ollama", "Ask an Ollama server (network)")),
        default="rules")
    endpoint: StringProperty(name="Endpoint URL", description="Base URL of the LLM server (empty: the backend's default)")
    model: StringProperty(name="Model", description="Model name on that server")
    api_key_env: StringProperty(
        name="API Key Variable", default="OPENAI_API_KEY",
        description="Name of the environment variable that holds the API key (the key itself is never stored)")
    device: EnumProperty(
        name="Device", description="Where the motion encoder runs",
        items=(("auto", "Auto", "CUDA when available, else CPU"), ("cpu", "CPU", ""), ("cuda", "CUDA", "")),
        default="auto")
    checkpoint: StringProperty(name="Encoder Checkpoint", subtype="FILE_PATH",
                               description="Motion encoder weights (.safetensors); empty: the shipped default")
    naming: StringProperty(name="Clip Naming", default=DEFAULT_NAMING,
                           description="Clip action names; fields {take}, {index}, {name}")
    export_format: EnumProperty(name="Export Format", items=(("FBX", "FBX", ""), ("GLTF", "glTF", "")), default="FBX")
    handles: IntProperty(name="Handles", min=0, max=240, default=0,
                         description="Extra frames kept before and after each clip")

    def draw(self, context):
        layout = self.layout
        box = layout.box()
        box.label(text="Splitting descriptions")
        box.prop(self, "backend")
        if self.backend != "rules":
            box.prop(self, "endpoint")
            box.prop(self, "model")
            box.prop(self, "api_key_env")
            if not bpy.app.online_access:
                box.label(text="Online access is off (Preferences > System > Network): rules are used",
                          icon="ERROR")

        box = layout.box()
        box.label(text="Motion encoder")
        box.prop(self, "device")
        box.prop(self, "checkpoint")
        column = box.column(align=True)
        for i, line in enumerate(textwrap.wrap(LICENCE_NOTE, 90)):
            column.label(text=line, icon="INFO" if i == 0 else "BLANK1")

        box = layout.box()
        box.label(text="Clips and export")
        box.prop(self, "naming")
        box.prop(self, "export_format")
        box.prop(self, "handles")

        box = layout.box()
        box.label(text="Engine packages")
        missing = deps.missing()
        if missing:
            box.label(text="Missing: " + ", ".join(missing), icon="ERROR")
            box.operator("zomg.install_deps", icon="IMPORT")
            box.label(text=f"Installs into {deps.site_packages_dir() or 'the extension user folder'}")
        else:
            box.label(text="All engine packages found", icon="CHECKMARK")


def get(context=None) -> ZOMG_AP_preferences:
    return (context or bpy.context).preferences.addons[addon_package()].preferences


def register():
    bpy.utils.register_class(ZOMG_AP_preferences)


def unregister():
    bpy.utils.unregister_class(ZOMG_AP_preferences)
