"""Grounding on a GPU against the CPU of the same machine: same inputs, same outputs, and the time each takes.

The GPU machine can take only 64 MiB from here and has no Bandai data and no MiniLM package, so `pack`
(run here) stores what the check needs: the Bandai val composites of bench_grounding.py as features
with their texts, the rules partition of each sentence, a 10-minute take of real CMU motion (the
bench_speed.py routines at 30 fps), and the MiniLM vector of every sentence used. `run` (run there)
answers MiniLM from those vectors; everything after the sentence vectors (features of the long
take, motion encoder, text head, DP, optimisation, decoding) runs on the device named.

    .venv/bin/python benchmarks/gpu_check.py pack --out .gpu/check/pack.npz
    python3 benchmarks/gpu_check.py run --pack .gpu/check/pack.npz --out $OUT/gpu_check.json   # on the GPU machine
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

VARIANTS = {"ZOMG (default)": {}, "TTO: boundaries, all losses": {"optimize": True},
            "TTO: logits, all losses": {"optimize": True, "param": "logits"}}
LONG_S = 600


def pack(out: Path, n: int) -> None:
    from bench_speed import SUBACTIONS, long_take
    from composites import build_take, make_specs

    from zomg_blender.engine.features import take_features
    from zomg_blender.engine.partition import partition
    from zomg_blender.engine.text import get_text_encoder

    specs = make_specs("val", n, 0)
    feats, cases, sentences = [], [], set(SUBACTIONS)
    for spec in specs:
        feats.append(take_features(build_take(spec)).astype(np.float32))
        subs = list(partition(spec.sentence, backend="rules").subactions)
        cases.append({"id": spec.id, "texts": spec.texts, "subs": subs, "bounds_s": spec.bounds_s,
                      "sentence": spec.sentence, "frames": len(feats[-1])})
        sentences.update(spec.texts + subs)
    take = long_take(LONG_S)
    step = int(round(take.fps / 30))
    sentences = sorted(sentences)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, feats=np.concatenate(feats), cases=json.dumps(cases),
                        sentences=json.dumps(sentences), vectors=get_text_encoder().encode(sentences),
                        long_positions=take.positions[::step].astype(np.float32),
                        long_meta=json.dumps({"joint_names": take.joint_names, "parents": take.parents.tolist(),
                                              "fps": take.fps / step, "up_axis": take.up_axis}))
    print(f"{len(cases)} composites, {len(sentences)} sentences, {LONG_S} s take -> {out} "
          f"({out.stat().st_size / 2**20:.1f} MiB)")


class _Lookup:
    """Stands in for the MiniLM encoder: the packed vector of each sentence."""

    def __init__(self, sentences, vectors):
        self.rows = dict(zip(sentences, vectors))

    def encode(self, sentences):
        return np.stack([self.rows[s] for s in sentences])


def run(pack_path: Path, out: Path | None, devices: list[str], threads: int, names: list[str] | None) -> None:
    import torch

    import zomg_blender.engine.text as text
    from bench_grounding import evaluate_case, summarise, to_seconds
    from bench_speed import SUBACTIONS
    from composites import Composite

    from zomg_blender.engine.encoder import load_encoder, resolve_device
    from zomg_blender.engine.grounding import GroundingConfig, ground
    from zomg_blender.engine.pipeline import ground_take
    from zomg_blender.engine.take import Take

    torch.set_num_threads(threads)
    data = np.load(pack_path)
    lookup = _Lookup(json.loads(str(data["sentences"])), data["vectors"])
    text.get_text_encoder = lambda *a, **k: lookup
    cases = json.loads(str(data["cases"]))
    offsets = np.cumsum([0] + [c["frames"] for c in cases])
    feats_all = data["feats"]
    meta = json.loads(str(data["long_meta"]))
    long_take = Take(positions=data["long_positions"], joint_names=meta["joint_names"],
                     parents=np.array(meta["parents"]), fps=meta["fps"], up_axis=meta["up_axis"], name="cmu_routines_600s")

    def save():
        if out:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(report, indent=1))

    report = {"auto_device": str(resolve_device("auto")), "torch": torch.__version__,
              "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
              "threads": threads, "devices": {}}
    variants = {n: v for n, v in VARIANTS.items() if not names or any(x in n for x in names)}
    first = next(iter(variants))
    bounds_by = {}
    for device in devices:
        encoder = load_encoder(None, device)
        ground(encoder, feats_all[:200], SUBACTIONS[:2])                                   # warm-up
        rows = {}
        for name, over in variants.items():
            cfg = replace(GroundingConfig(), **over)
            for mode in ("given", "sentence"):
                recs, bounds, tick = [], [], time.perf_counter()
                for i, c in enumerate(cases):
                    texts = c["texts"] if mode == "given" else c["subs"]
                    g = ground(encoder, feats_all[offsets[i]:offsets[i + 1]], texts, seed=0, config=cfg)
                    b = [s.start for s in g.segments] + [c["frames"]]
                    bounds.append(b)
                    spec = Composite(c["id"], "", [], [], c["texts"], c["sentence"], c["bounds_s"])
                    recs.append(evaluate_case(spec, to_seconds(b, c["bounds_s"][-1]), [s.score for s in g.segments], texts))
                secs = time.perf_counter() - tick
                s = summarise(recs)
                rows[f"{name} | {mode}"] = {"mIoU": round(s["mIoU"], 4), "mAP": round(s["mAP"], 4),
                                            "R@1@0.5": round(s["R@1@0.5"], 4), "seconds": round(secs, 2)}
                bounds_by[(device, name, mode)] = bounds
                print(f"{device:4s} {name:30s} {mode:8s} mIoU {s['mIoU']:.3f} mAP {s['mAP']:.3f}  {secs:.1f} s", flush=True)
                report["devices"][device] = {"composites": rows}
                save()
        again = [[s.start for s in ground(encoder, feats_all[offsets[i]:offsets[i + 1]], c["texts"], seed=0,
                                          config=replace(GroundingConfig(), **variants[first])).segments] + [c["frames"]]
                 for i, c in enumerate(cases[:20])]
        long_rows = {}
        for name, over in variants.items():
            cfg = replace(GroundingConfig(), **over)
            res = ground_take(long_take, subactions=SUBACTIONS, encoder=encoder, config=cfg)
            long_rows[name] = res["timings_s"] | {"segments": [(s["start_frame"], s["end_frame"]) for s in res["segments"]]}
            t = res["timings_s"]
            print(f"{device:4s} 10-min take {name:30s} total {t['total']:.2f} s (encode {t['encode']:.2f}, "
                  f"optimise {t['optimize']:.2f}, decode {t['decode']:.2f})", flush=True)
        report["devices"][device] = {"composites": rows, "long_take": long_rows, "encoder_device": str(encoder.device),
                                     f"deterministic_20 ({first})": again == bounds_by[(device, first, "given")][:20]}
    if len(devices) == 2:
        a, b = devices
        agree = {}
        for (dev, name, mode), bounds in bounds_by.items():
            if dev != a:
                continue
            other = bounds_by[(b, name, mode)]
            diffs = [max(abs(x - y) for x, y in zip(p, q)) for p, q in zip(bounds, other)]
            agree[f"{name} | {mode}"] = {"identical_cases": int(sum(d == 0 for d in diffs)), "cases": len(diffs),
                                         "max_boundary_diff_frames": int(max(diffs))}
        report["agreement"] = agree
        report["long_take_same_segments"] = {
            n: report["devices"][a]["long_take"][n]["segments"] == report["devices"][b]["long_take"][n]["segments"]
            for n in variants}
        print(json.dumps(agree, indent=1), json.dumps(report["long_take_same_segments"]))
    save()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--n", type=int, default=100)
    r = sub.add_parser("run")
    r.add_argument("--pack", type=Path, required=True)
    r.add_argument("--out", type=Path)
    r.add_argument("--devices", nargs="+", default=["cuda", "cpu"])
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--variants", nargs="*", help="substrings of the variant names to run (default all)")
    args = ap.parse_args()
    if args.cmd == "pack":
        pack(args.out, args.n)
    else:
        run(args.pack, args.out, args.devices, args.threads, args.variants)


if __name__ == "__main__":
    main()
