"""`zomg split`: cut a take into named clips (actions + NLA strips + markers), save and export them.

Where the clips come from is one mutually exclusive choice: ``--text`` / ``--subactions`` (grounded
by the ZOMG encoder), ``--ranges`` or ``--at-markers``. To add another source, add its option in
`add_clip_source_arguments` and its branch in `clips_from_args`; everything else (reading, writing,
saving, exports) is shared, and `zomg batch` uses the same pieces (`ground_clips`, `cut_take`).
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

from ..engine.clips import (DEFAULT_NAMING, clip_name, clip_names, clips_from_markers, clips_from_ranges, sanitize_name,
                            scene_range, validate_clips)
from ..engine.errors import ZomgError
from ..engine.take import Clip, Take
from .common import add_partition_arguments, partition_options

NAME_WORDS = 4        # a clip name keeps the first words of its sub-action ...
NAME_CHARS = 32       # ... and at most this many characters
_SUBJECT = re.compile(r"^\s*(?:(?:a|an|the|this|that|one)\s+)?(?:person|man|woman|human|character|actor|figure|guy|"
                      r"girl|boy|dancer|someone|somebody|he|she|they|it)\b\s*", re.IGNORECASE)
_FILLER = {"a", "an", "the", "his", "her", "their", "its", "is", "are", "was", "were", "be", "being", "then"}


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
    add_output_arguments(p)
    add_grounding_arguments(p)
    p.set_defaults(func=run)
    p.error = lambda message: p.exit(2, f"zomg split: error: {message} (see zomg split --help)\n")  # one line


def add_output_arguments(p: argparse.ArgumentParser) -> None:
    """How clips are named and cut (shared with `zomg batch`)."""
    p.add_argument("--naming", default=DEFAULT_NAMING, metavar="PATTERN",
                   help="clip name pattern; fields {take} {index} {name} {start} {end} (default: %(default)s)")
    p.add_argument("--handles", type=_frames, default=0, metavar="N",
                   help="extra frames kept before and after each clip (default: 0)")
    motion = p.add_mutually_exclusive_group()
    motion.add_argument("--root-motion", dest="in_place", action="store_false", default=False,
                        help="clips keep the root's travel (default)")
    motion.add_argument("--in-place", dest="in_place", action="store_true",
                        help="remove the root's horizontal travel from the clips (height kept; the take is untouched)")


def add_grounding_arguments(p: argparse.ArgumentParser) -> None:
    """How --text / --subactions are grounded (shared with `zomg batch`)."""
    add_partition_arguments(p)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where the encoder runs")
    p.add_argument("--seed", type=int, default=0, help="grounding seed (default: %(default)s)")
    p.add_argument("--checkpoint", metavar="PATH", help="encoder checkpoint (default: the shipped weights)")


def add_clip_source_arguments(group: argparse._MutuallyExclusiveGroup) -> None:
    """The ways to say where clips are. Add new ones here and handle them in `clips_from_args`."""
    group.add_argument("--text", metavar='"DESCRIPTION"',
                       help="describe the take; its sub-actions are found in order and become the clips")
    group.add_argument("--subactions", nargs="+", metavar="TEXT",
                       help="the take's sub-actions in order, one text each (give TAKE before this option)")
    group.add_argument("--ranges", metavar='"1-120:walk,121-240:wave"',
                       help="clips as scene frame ranges (inclusive, as the timeline shows them) with names")
    group.add_argument("--at-markers", action="store_true",
                       help="each timeline marker starts a clip named after it, ending at the next marker")


def clips_from_args(args: argparse.Namespace, take: Take) -> list[Clip]:
    """The hook: the clips ``args`` ask for, in take frames. ``take.meta['markers']`` has the scene markers.

    Grounded clips leave the `zomg ground` result (with per-frame masks) in ``take.meta['grounding']``."""
    if args.text is not None or args.subactions is not None:
        clips, take.meta["grounding"] = ground_clips(
            take, text=args.text, subactions=args.subactions, partition=args.partition, device=args.device,
            seed=args.seed, checkpoint=args.checkpoint, partition_cfg=partition_options(args))
        return clips
    if args.ranges is not None:
        return clips_from_ranges(args.ranges, take)
    if args.at_markers:
        return clips_from_markers(take.meta.get("markers", []), take)
    raise ZomgError("say where the clips are: --text, --subactions, --ranges or --at-markers")


def check_grounding_input(text: str | None, subactions: list[str] | None) -> None:
    """Refuse an empty description or sub-action at once, before the slow import."""
    if text is not None and not text.strip():
        raise ZomgError("the description is empty: give a non-empty --text")
    if subactions is not None and (not subactions or not all(s.strip() for s in subactions)):
        raise ZomgError("a sub-action is empty: give each --subactions entry some text")


def ground_clips(take: Take, text: str | None = None, subactions: list[str] | None = None, encoder=None,
                 partition: str = "rules", device: str = "auto", seed: int = 0,
                 checkpoint: str | None = None, partition_cfg: dict | None = None) -> tuple[list[Clip], dict]:
    """Ground the description on ``take``: one clip per sub-action, named after it, scored by the encoder.

    Returns the clips (take frames) and the `zomg ground` result, masks per source frame included."""
    from ..engine.pipeline import ground_take

    check_grounding_input(text, subactions)
    result = ground_take(take, text=text, subactions=subactions, encoder=encoder, partition_backend=partition,
                         partition_cfg=partition_cfg, device=device, seed=seed, checkpoint=checkpoint, with_masks=True)
    segments = result["segments"]
    names = subaction_names([s["text"] for s in segments])
    clips = [Clip(n, s["start_frame"], s["end_frame"], s["score"]) for n, s in zip(names, segments)]
    return validate_clips(clips, take), result


def subaction_names(texts: list[str]) -> list[str]:
    """Short engine-safe names: "a person waves his left hand" -> "waves_left_hand"; repeats get _2, _3."""
    names, seen = [], {}
    for text in texts:
        words = [w for w in re.findall(r"[A-Za-z0-9]+", _SUBJECT.sub("", text).lower()) if w not in _FILLER]
        name = ""
        for word in words[:NAME_WORDS]:
            if name and len(name) + 1 + len(word) > NAME_CHARS:
                break
            name = f"{name}_{word}" if name else word[:NAME_CHARS]
        name = sanitize_name(name)
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return names


def cut_take(obj, take: Take, clips: list[Clip], naming: str = DEFAULT_NAMING, handles: int = 0,
             in_place: bool = False) -> list[str]:
    """Write the clips onto ``obj`` (actions, NLA strips, markers; masks when grounded); returns their names."""
    from ..blender.operators import _store_masks  # the panel's mask curves: the same F-curves either way
    from ..blender.write import remove_root_travel, write_clips

    names = clip_names(naming, take, clips)  # the same names write_clips makes; a bad pattern fails here
    grounding = take.meta.get("grounding")
    if grounding is not None:
        _store_masks(obj, grounding["masks"], take.frame_start)
    actions = write_clips(obj, clips, naming=naming, handles=handles, take_name=take.name)
    if in_place:
        remove_root_travel(obj, actions)
    return names


def clip_table(take: Take, clips: list[Clip], names: list[str]) -> list[str]:
    """One line per clip: name, scene frames, length, and the grounding confidence when there is one."""
    texts = [s["text"] for s in take.meta.get("grounding", {}).get("segments", [])] or [None] * len(clips)
    lines = []
    for clip, name, text in zip(clips, names, texts):
        first, last = scene_range(clip, take)
        line = f"  {name}: frames {first}-{last} ({last - first + 1} frames, {(last - first + 1) / take.fps:.2f} s)"
        if clip.score is not None:
            line += f"  confidence {clip.score:.2f}" + ("  CHECK" if clip.needs_check else "")
        if text:
            line += f"  \"{text}\""
        lines.append(line)
    return lines


def run(args: argparse.Namespace) -> int:
    from ..blender.export import export_fbx, export_gltf  # bpy is imported only when splitting
    from ..blender.read import read_armature
    from ..blender.scene_io import check_output_path, import_take, save_blend

    take_path = Path(args.take)
    check_grounding_input(args.text, args.subactions)
    clip_name(args.naming, take_path.stem, 1, "clip")  # a bad naming pattern fails before the slow part too
    outputs = [(args.out, (".blend",))] + [(p, ext) for p, ext in ((args.fbx, (".fbx",)), (args.gltf, (".glb", ".gltf"))) if p]
    for path, ext in outputs:  # before the slow part: a bad output path fails at once
        check_output_path(path, ext)
    obj = import_take(take_path)
    take = read_armature(obj)
    take.name = take_path.name  # for validate()'s messages
    take.validate()
    take.name = take_path.stem
    clips = clips_from_args(args, take)
    names = cut_take(obj, take, clips, naming=args.naming, handles=args.handles, in_place=args.in_place)
    written = [save_blend(args.out)]
    if args.fbx:
        written.append(export_fbx(args.fbx, obj))
    if args.gltf:
        written.append(export_gltf(args.gltf, obj))
    print(f"{take_path.name}: {take.frames} frames at {take.fps:g} fps "
          f"(scene frames {take.frame_start}-{take.frame_start + take.frames - 1}) -> {len(clips)} clips"
          + (" in place" if args.in_place else ""))
    print("\n".join(clip_table(take, clips, names)))
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
