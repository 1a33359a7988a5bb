"""`zomg ground` as a user runs it: a real subprocess on a real CMU BVH."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SUBS = ["a person does jumping jacks", "a person twists side to side", "a person squats"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A small random-weight checkpoint: the CLI's plumbing does not depend on the trained weights."""
    from zomg_blender.engine.encoder import EncoderConfig, MotionTextModel, save_checkpoint

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "random.safetensors"
    save_checkpoint(MotionTextModel(EncoderConfig(d_model=64, ff_dim=128, n_layers=2, embed_dim=64)), path)
    return path


def zomg(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zomg_blender", "ground", *map(str, args)], cwd=cwd or REPO,
                          capture_output=True, text=True, timeout=300)


def check_result(out: dict, n_subactions: int, fps: float, frames: int):
    assert set(out) >= {"id", "motion", "fps", "frames", "duration_s", "subactions", "segments", "partition", "timings_s"}
    assert isinstance(out["id"], str) and isinstance(out["motion"], str)
    assert out["fps"] == pytest.approx(fps) and out["frames"] == frames
    assert out["duration_s"] == pytest.approx(frames / fps, abs=1e-3)
    assert len(out["subactions"]) == n_subactions == len(out["segments"])
    segs = out["segments"]
    assert segs[0]["start_frame"] == 0 and segs[-1]["end_frame"] == frames
    for seg, text in zip(segs, out["subactions"]):
        assert seg["text"] == text
        assert isinstance(seg["start_frame"], int) and isinstance(seg["end_frame"], int)
        assert seg["start_frame"] < seg["end_frame"]
        assert seg["start_s"] == pytest.approx(seg["start_frame"] / fps, abs=1e-3)
        assert seg["end_s"] == pytest.approx(seg["end_frame"] / fps, abs=1e-3)
        assert 0.0 <= seg["score"] <= 1.0
    for a, b in zip(segs[:-1], segs[1:]):
        assert a["end_frame"] == b["start_frame"]
    assert set(out["partition"]) == {"backend", "warnings"} and isinstance(out["partition"]["warnings"], list)
    t = out["timings_s"]
    assert set(t) == {"load", "partition", "encode", "optimize", "decode", "total"}
    assert all(isinstance(v, float) and v >= 0 for v in t.values())
    assert t["total"] == pytest.approx(t["partition"] + t["encode"] + t["optimize"] + t["decode"], abs=2e-3)


def test_ground_subactions_json_contract(cmu_bvh, checkpoint, tmp_path):
    out_path = tmp_path / "out.json"
    res = zomg(cmu_bvh / "13_30.bvh", "--subactions", *SUBS, "--json", out_path, "--checkpoint", checkpoint,
               "--device", "cpu", "--seed", "3")
    assert res.returncode == 0, res.stderr
    out = json.loads(out_path.read_text())
    check_result(out, 3, 120.0, 2465)
    assert out["partition"]["backend"] == "given"


def test_ground_text_goes_through_the_partition(cmu_bvh, checkpoint):
    res = zomg(cmu_bvh / "131_03.bvh", "--text", "a person starts, then hops, then stops", "--checkpoint", checkpoint)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["partition"]["backend"] == "rules" and len(out["subactions"]) == 3
    check_result(out, 3, out["fps"], out["frames"])


def test_manifest_one_process_bad_line_continues(cmu_bvh, checkpoint, tmp_path):
    cases = [
        {"id": "good-subs", "motion": str(cmu_bvh / "13_30.bvh"), "subactions": SUBS},
        {"id": "missing", "motion": str(tmp_path / "nope.bvh"), "subactions": SUBS},
        {"id": "good-text", "motion": str(cmu_bvh / "131_02.bvh"), "text": "start, then walk, then stop"},
        {"id": "too-many", "motion": str(cmu_bvh / "10_03.bvh"), "subactions": [f"step {i}" for i in range(20)]},
    ]
    manifest = tmp_path / "cases.jsonl"
    manifest.write_text("\n".join(json.dumps(c) for c in cases) + "\n")
    out_path = tmp_path / "out.jsonl"
    res = zomg("--manifest", manifest, "--json", out_path, "--checkpoint", checkpoint)
    assert res.returncode != 0
    lines = [json.loads(x) for x in out_path.read_text().splitlines()]
    assert [x["id"] for x in lines] == ["good-subs", "missing", "good-text", "too-many"]
    check_result(lines[0], 3, 120.0, 2465)
    assert len(lines[2]["segments"]) == 3
    assert set(lines[1]) == {"id", "error"} and set(lines[3]) == {"id", "error"}
    assert "do not fit" in lines[3]["error"]
    errors = res.stderr.strip().splitlines()
    assert len(errors) == 2 and errors[0].startswith("zomg: error: missing:") and "Traceback" not in res.stderr


@pytest.mark.parametrize("args,needle", [
    (["--text", "   "], "empty"),
    (["--subactions"] + [f"move {i}" for i in range(8)], "do not fit"),
    ([], "--text or --subactions"),
])
def test_bad_input_is_one_line_and_nonzero(cmu_bvh, checkpoint, args, needle):
    res = zomg(cmu_bvh / "10_03.bvh", *args, "--checkpoint", checkpoint)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("zomg: error:") and needle in lines[0]


def test_unreadable_take(checkpoint, tmp_path):
    bad = tmp_path / "broken.bvh"
    bad.write_text("this is not motion capture\n")
    res = zomg(bad, "--subactions", "walk", "--checkpoint", checkpoint)
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and "BVH" in res.stderr


def test_llm_partition_from_the_command_line(cmu_bvh, checkpoint, tmp_path):
    """--partition openai --llm-url ... reaches a real server on loopback; only the text is sent."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.path, body, self.headers.get("Authorization")))
            answer = {"subactions": ["a person starts", "a person hops", "a person stops"]}
            data = json.dumps({"choices": [{"message": {"content": json.dumps(answer)}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        env_args = ["--partition", "openai", "--llm-url", f"http://127.0.0.1:{httpd.server_port}",
                    "--llm-model", "tiny", "--llm-key-env", "ZOMG_TEST_KEY"]
        res = subprocess.run([sys.executable, "-m", "zomg_blender", "ground", str(cmu_bvh / "131_03.bvh"),
                              "--text", "the actor starts, hops and stops", *env_args, "--checkpoint", str(checkpoint)],
                             cwd=REPO, capture_output=True, text=True, timeout=300,
                             env={**__import__("os").environ, "ZOMG_TEST_KEY": "sekret", "ZOMG_CACHE_DIR": str(tmp_path)})
    finally:
        httpd.shutdown()
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["partition"]["backend"] == "openai"
    assert out["subactions"] == ["a person starts", "a person hops", "a person stops"]
    (path, body, auth), = seen
    assert path == "/v1/chat/completions" and body["model"] == "tiny" and auth == "Bearer sekret"
    assert "the actor starts, hops and stops" in json.dumps(body) and "frames" not in json.dumps(body)
