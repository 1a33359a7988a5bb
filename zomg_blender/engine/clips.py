"""Clip ranges: parse what the user typed, check it against the take, name clips for game engines.

The user speaks in scene frames, inclusive at both ends, as Blender's timeline shows them
("1-120:walk"). `Clip` counts take frames from 0 with an exclusive end. Everything here converts
between the two with ``take.frame_start`` and refuses input no later step could use.
"""
from __future__ import annotations

import re
import string

from .errors import ZomgError
from .take import Clip, Take

DEFAULT_NAMING = "{take}_{index:02d}_{name}"
MIN_CLIP_FRAMES = 2  # a one-frame "clip" is a pose: NLA strips and exports need a length

_RANGE = re.compile(r"^\s*(-?\d+)\s*-\s*(-?\d+)\s*(?::(.*))?$")
_ENGINE_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]+")
NAMING_FIELDS = ("take", "index", "name", "start", "end")


def scene_range(clip: Clip, take: Take) -> tuple[int, int]:
    """The clip's first and last scene frames (inclusive), as the timeline shows them."""
    return take.frame_start + clip.start_frame, take.frame_start + clip.end_frame - 1


def parse_ranges(text: str) -> list[tuple[int, int, str]]:
    """``"1-120:walk, 121-240:wave"`` -> ``[(1, 120, "walk"), (121, 240, "wave")]`` (scene frames, inclusive)."""
    if text is None or not text.strip():
        raise ZomgError('no ranges given; write them as "1-120:walk,121-240:wave"')
    out = []
    for part in text.split(","):
        m = _RANGE.match(part)
        if not m:
            raise ZomgError(f'cannot read the range "{part.strip()}"; write ranges as "1-120:walk,121-240:wave"')
        first, last, name = int(m.group(1)), int(m.group(2)), m.group(3)
        if name is None:
            raise ZomgError(f'the range "{part.strip()}" has no name; write it as "{first}-{last}:walk"')
        out.append((first, last, name.strip()))
    return out


def clips_from_ranges(text: str, take: Take) -> list[Clip]:
    """Parse ``--ranges`` and turn the scene-frame ranges into validated clips of ``take``."""
    clips = []
    for first, last, name in parse_ranges(text):
        if last < first:
            raise ZomgError(f'clip "{name}": range {first}-{last} is reversed (the end comes before the start)')
        clips.append(Clip(name, first - take.frame_start, last + 1 - take.frame_start))
    return validate_clips(clips, take)


def clips_from_markers(markers: list[tuple[str, int]], take: Take) -> list[Clip]:
    """Each marker (name, scene frame) starts a clip that runs to the next marker or the take's end."""
    if not markers:
        raise ZomgError("no timeline markers to split at (those a split placed do not count); "
                        "add one at the start of each clip, named after it")
    ordered = sorted(markers, key=lambda m: m[1])
    last_frame = take.frame_start + take.frames - 1
    clips = []
    for i, (name, frame) in enumerate(ordered):
        if not take.frame_start <= frame <= last_frame:
            raise ZomgError(f'marker "{name}" at frame {frame} is outside the take (frames {take.frame_start}-{last_frame})')
        end = ordered[i + 1][1] if i + 1 < len(ordered) else last_frame + 1
        clips.append(Clip(name, frame - take.frame_start, end - take.frame_start))
    return validate_clips(clips, take)


def validate_clips(clips: list[Clip], take: Take) -> list[Clip]:
    """Return the clips sorted by start; raise ZomgError for empty, outside, overlapping or ill-named ones."""
    if not clips:
        raise ZomgError("no clips to make")
    first_scene, last_scene = take.frame_start, take.frame_start + take.frames - 1
    seen: set[str] = set()
    for clip in clips:
        name = (clip.name or "").strip()
        if not name:
            raise ZomgError(f"a clip has an empty name (frames {_span(clip, take)}); give every clip a name")
        if name.lower() in seen:
            raise ZomgError(f'two clips are named "{name}"; clip names must be unique')
        seen.add(name.lower())
        if clip.end_frame <= clip.start_frame:
            raise ZomgError(f'clip "{name}" ({_span(clip, take)}) is empty or reversed')
        if clip.start_frame < 0 or clip.end_frame > take.frames:
            raise ZomgError(f'clip "{name}" ({_span(clip, take)}) is outside the take (frames {first_scene}-{last_scene})')
        if clip.end_frame - clip.start_frame < MIN_CLIP_FRAMES:
            raise ZomgError(f'clip "{name}" ({_span(clip, take)}) has one frame; a clip needs at least {MIN_CLIP_FRAMES}')
    ordered = sorted(clips, key=lambda c: c.start_frame)
    for a, b in zip(ordered, ordered[1:]):
        if b.start_frame < a.end_frame:
            raise ZomgError(f'clips "{a.name}" ({_span(a, take)}) and "{b.name}" ({_span(b, take)}) overlap')
    return ordered


def sanitize_name(text: str) -> str:
    """Keep what every engine accepts in an animation name: ASCII letters, digits, '_' and '-'."""
    return _ENGINE_UNSAFE.sub("_", text).strip("_-") or "clip"


def clip_name(pattern: str, take: Take | str, index: int, name: str, start: int = 0, end: int = 0) -> str:
    """Fill ``pattern`` (fields {take} {index} {name} {start} {end}) and make the result engine-safe.

    ``index`` counts clips from 1 along the timeline; ``start``/``end`` are scene frames (inclusive).
    """
    take_name = take.name if isinstance(take, Take) else str(take)
    fields = [f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None]
    unknown = sorted({f.split(".")[0].split("[")[0] for f in fields} - set(NAMING_FIELDS))
    if unknown:
        raise ZomgError(f"naming pattern {pattern!r} uses unknown field(s) {', '.join('{' + u + '}' for u in unknown)}; "
                        f"use {', '.join('{' + f + '}' for f in NAMING_FIELDS)}")
    try:
        filled = pattern.format(take=sanitize_name(take_name), index=index, name=sanitize_name(name), start=start, end=end)
    except (ValueError, IndexError, KeyError) as exc:
        raise ZomgError(f"naming pattern {pattern!r} cannot be used: {exc}") from None
    return sanitize_name(filled)


def clip_names(pattern: str, take: Take, clips: list[Clip]) -> list[str]:
    """Names for ``clips`` (in order, index from 1); raise ZomgError if the pattern makes two the same."""
    names = []
    for i, clip in enumerate(clips, 1):
        first, last = scene_range(clip, take)
        names.append(clip_name(pattern, take, i, clip.name, first, last))
    lowered = [n.lower() for n in names]
    dupes = sorted({n for n in names if lowered.count(n.lower()) > 1})
    if dupes:
        raise ZomgError(f"naming pattern {pattern!r} gives several clips the name {dupes[0]!r}; add {{index}} or {{name}} to it")
    return names


def _span(clip: Clip, take: Take) -> str:
    first, last = scene_range(clip, take)
    return f"frames {first}-{last}"
