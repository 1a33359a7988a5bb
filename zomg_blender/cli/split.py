"""`zomg split`: cut a take into named clips (actions + NLA strips + markers), save and export them.

Where the clips come from is one mutually exclusive choice (``--ranges`` or ``--at-markers``).
To add another source (e.g. ``--text``), add its option in `add_clip_source_arguments` and
its branch in `clips_from_args`; everything else (reading, writing, saving, exports) is shared.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..engine.clips import DEFAULT_NAMING, clip_names, clips_from_markers, clips_from_ranges, scene_range
from ..engine.errors import ZomgError
from ..engine.take import Clip, Take


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "split", help="cut a take into named clips (actions, NLA strips, markers; FBX/glTF)",
        description="Cut a take (.bvh/.fbx/.glb/.gltf/.blend) into named clips: one action and one NLA "
                    "strip per clip, a timeline marker at each clip start; save a .blend, optionally FBX/glTF.")
    p.add_argument("take", metavar="TAKE", help="take file: .bvh, .fbx, .glb, .gltf or .blend")
    add_clip_source_arguments(p.add_mutually_exclusive_group(required=True))
    p.add_argument("--out", required=True, metavar="OUT.blend", help="the .blend file to save")
    p.add_argument("--fbx", metavar="FILE.fbx", help="also export FBX, one take per clip")
    p.add_argument("--gltf", metavar="FILE.glb", help="also export glTF (.glb or .gltf), one animation per clip")
    p.add_argument("--naming", default=DEFAULT_NAMING, metavar="PATTERN",
                   help="clip name pattern; fields {take} {index} {name} {start} {end} (default: %(default)s)")
    p.add_argument("--handles", type=_frames, default=0, metavar="N",
                   help="extra frames kept before and after each clip (default: 0)")
    p.set_defaults(func=run)
    p.error = lambda message: p.exit(2, f"zomg split: error: {message} (see zomg split --help)\n")  # one line


def add_clip_source_arguments(group: argparse._MutuallyExclusiveGroup) -> None:
    """The ways to say where clips are. Add new ones here and handle them in `clips_from_args`."""
    group.add_argument("--ranges", metavar='"1-120:walk,121-240:wave"',
                       help="clips as scene frame ranges (inclusive, as the timeline shows them) with names")
    group.add_argument("--at-markers", action="store_true",
                       help="each timeline marker starts a clip named after it, ending at the next marker")


def clips_from_args(args: argparse.Namespace, take: Take) -> list[Clip]:
    """The hook: the clips ``args`` ask for, in take frames. ``take.meta['markers']`` has the scene markers."""
    if args.ranges is not None:
        return clips_from_ranges(args.ranges, take)
    if args.at_markers:
        return clips_from_markers(take.meta.get("markers", []), take)
    raise ZomgError("say where the clips are: --ranges or --at-markers")


def run(args: argparse.Namespace) -> int:
    from ..blender.export import export_fbx, export_gltf  # bpy is imported only when splitting
    from ..blender.read import read_armature
    from ..blender.scene_io import check_output_path, import_take, save_blend
    from ..blender.write import write_clips

    take_path = Path(args.take)
    outputs = [(args.out, (".blend",))] + [(p, ext) for p, ext in ((args.fbx, (".fbx",)), (args.gltf, (".glb", ".gltf"))) if p]
    for path, ext in outputs:  # before the slow part: a bad output path fails at once
        check_output_path(path, ext)
    obj = import_take(take_path)
    take = read_armature(obj)
    take.name = take_path.name  # for validate()'s messages
    take.validate()
    take.name = take_path.stem
    clips = clips_from_args(args, take)
    names = clip_names(args.naming, take, clips)  # the same names write_clips makes
    write_clips(obj, clips, naming=args.naming, handles=args.handles, take_name=take.name)
    written = [save_blend(args.out)]
    if args.fbx:
        written.append(export_fbx(args.fbx, obj))
    if args.gltf:
        written.append(export_gltf(args.gltf, obj))
    print(f"{take_path.name}: {take.frames} frames at {take.fps:g} fps "
          f"(scene frames {take.frame_start}-{take.frame_start + take.frames - 1}) -> {len(clips)} clips")
    for clip, name in zip(clips, names):
        first, last = scene_range(clip, take)
        print(f"  {name}: frames {first}-{last} ({last - first + 1} frames, {(last - first + 1) / take.fps:.2f} s)")
    for path in written:
        print(f"wrote {path}")
    return 0


def _frames(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of frames, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more frames, got {value}")
    return value
