"""Long engine work in a child process, so Blender never freezes and Esc can always stop it.

Blender side: `WorkerJob(request, arrays)` writes the request (JSON) and the take's arrays (.npz) to
a temporary folder and starts `python -m zomg_blender.blender.worker <folder>` with Blender's own
Python (`sys.executable`). A modal operator polls it from a timer; `cancel()` kills it at once.
Child side: `main()` runs one task (partition, ground, install), writes progress.json while it
works and result.json when done. A child that dies leaves no result.json: the parent reports the
exit code and the last log line, and nothing in the scene has been touched.

This module must not import bpy: the child runs in a plain Python.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import EXTENSION_ROOT

WORKER_MODULE = "zomg_blender.blender.worker"
# Folders the child appends to sys.path (the extension's site-packages): appended, not PYTHONPATH,
# so Blender's own numpy keeps precedence over anything pip put there.
EXTRA_PATH_ENV = "ZOMG_EXTRA_SYS_PATH"
# Tests only: makes the real worker hang or crash after it started, to check cancel and crash handling.
TEST_FAULT_ENV = "ZOMG_TEST_WORKER_FAULT"


class WorkerFailed(Exception):
    """The child reported an error, crashed, or was cancelled; the message is one line for the user."""


class WorkerJob:
    """One child process doing one task."""

    def __init__(self, request: dict, arrays: dict | None = None, extra_paths: tuple[str, ...] = (),
                 python: str | None = None):
        self.task = request["task"]
        self.dir = Path(tempfile.mkdtemp(prefix=f"zomg-{self.task}-"))
        (self.dir / "request.json").write_text(json.dumps(request))
        if arrays:
            import numpy as np

            np.savez(self.dir / "take.npz", **arrays)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(EXTENSION_ROOT), env.get("PYTHONPATH", "")) if p)
        env[EXTRA_PATH_ENV] = os.pathsep.join(p for p in extra_paths if p)
        env["PYTHONUNBUFFERED"] = "1"
        self.cancelled = False
        self.started = time.monotonic()
        with open(self.dir / "worker.log", "wb") as log:
            self.proc = subprocess.Popen(
                [python or sys.executable, "-m", WORKER_MODULE, str(self.dir)],
                cwd=self.dir, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=(os.name == "posix"),  # its own process group: cancel kills pip too
            )

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def progress(self) -> tuple[float, str]:
        """(fraction 0..1, stage) as last reported by the child."""
        try:
            data = json.loads((self.dir / "progress.json").read_text())
            return float(data["fraction"]), str(data["stage"])
        except (OSError, ValueError, KeyError):
            return 0.0, "starting"

    def cancel(self) -> None:
        """Kill the child (and its children) now; returns once it is gone."""
        self.cancelled = True
        if self.proc.poll() is None:
            try:
                if os.name == "posix":
                    os.killpg(self.proc.pid, signal.SIGKILL)
                else:
                    self.proc.kill()
            except ProcessLookupError:
                pass
        self.proc.wait()
        self.cleanup()

    def wait(self, timeout: float | None = None) -> dict:
        """Block until the child ends (background mode), then return its result like finish()."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.cancel()
            raise WorkerFailed(f"The ZOMG {self.task} worker did not finish within {timeout:.0f} s") from None
        return self.finish()

    def finish(self) -> dict:
        """The task's result once the child has ended; raises WorkerFailed. Removes the job folder."""
        try:
            if self.cancelled:
                raise WorkerFailed(f"ZOMG {self.task} cancelled")
            code = self.proc.poll()
            if code is None:
                raise RuntimeError("finish() called while the worker is still running")
            try:
                outcome = json.loads((self.dir / "result.json").read_text())
            except (OSError, ValueError):
                last = self.last_log_line()
                raise WorkerFailed(f"The ZOMG {self.task} worker stopped unexpectedly (exit code {code})"
                                   + (f": {last}" if last else "")) from None
            if not outcome.get("ok"):
                raise WorkerFailed(outcome.get("error") or f"The ZOMG {self.task} worker failed")
            return outcome["result"]
        finally:
            self.cleanup()

    def last_log_line(self) -> str:
        try:
            lines = (self.dir / "worker.log").read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1].strip()[:300] if lines else ""

    def cleanup(self) -> None:
        if self.proc.poll() is not None:
            shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Child side (no bpy).

def _write_json(path: Path, data) -> None:
    """Write atomically, so the parent never reads half a file."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, default=_to_json))
    os.replace(tmp, path)


def _to_json(value):
    import numpy as np

    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _load_take(job_dir: Path, request: dict):
    import numpy as np

    from ..engine.take import Take

    with np.load(job_dir / "take.npz", allow_pickle=False) as arrays:
        info = request["take"]
        meta = dict(info.get("meta", {}))
        if "end_site_names" in arrays.files:  # leaf tails (BVH End Sites): toes of some rigs live only there
            meta["end_sites"] = {str(n): arrays["end_sites"][i] for i, n in enumerate(arrays["end_site_names"])}
        return Take(positions=arrays["positions"], joint_names=[str(n) for n in arrays["joint_names"]],
                    parents=arrays["parents"], fps=float(info["fps"]), up_axis=info["up_axis"],
                    name=info["name"], frame_start=int(info["frame_start"]), meta=meta)


def _task_partition(request: dict, job_dir: Path, progress) -> dict:
    from ..engine.partition import partition

    progress(0.1, "proposing sub-actions")
    result = partition(request["text"], request.get("backend", "rules"), **request.get("config", {}))
    return {"subactions": list(result.subactions), "backend": result.backend, "warnings": list(result.warnings)}


def _task_ground(request: dict, job_dir: Path, progress) -> dict:
    progress(0.05, "loading the engine")
    from ..engine.pipeline import ground_take

    take = _load_take(job_dir, request)
    progress(0.2, "grounding sub-actions in the take")
    result = ground_take(take, text=request.get("text"), subactions=request.get("subactions"),
                         **request.get("options", {}))
    result["frame_start"] = take.frame_start
    return result


def _task_install(request: dict, job_dir: Path, progress) -> dict:
    import importlib.util

    from ..engine.errors import ZomgError

    if importlib.util.find_spec("pip") is None:
        progress(0.02, "installing pip")
        subprocess.run([sys.executable, "-m", "ensurepip", "--user"], check=True)
    progress(0.05, "downloading and installing packages (this takes minutes)")
    command = [sys.executable, "-m", "pip", "install", "--upgrade", "--no-input", "--disable-pip-version-check",
               "--target", request["target"], "--extra-index-url", request["extra_index_url"],
               *request["requirements"]]
    if subprocess.run(command).returncode != 0:
        raise ZomgError("pip could not install the ZOMG engine packages (see the system console for why)")
    return {"installed": request["requirements"], "target": request["target"]}


TASKS = {"partition": _task_partition, "ground": _task_ground, "install": _task_install}


def _test_fault() -> None:
    """Tests only: hang (for cancel) or die without a result like a native crash (for crash handling)."""
    fault = os.environ.get(TEST_FAULT_ENV, "")
    if fault == "hang":
        time.sleep(3600)
    elif fault == "crash":
        os.abort()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    job_dir = Path(argv[0])
    for path in os.environ.get(EXTRA_PATH_ENV, "").split(os.pathsep):
        if path and path not in sys.path:
            sys.path.append(path)

    def progress(fraction: float, stage: str) -> None:
        _write_json(job_dir / "progress.json", {"fraction": fraction, "stage": stage})

    from ..engine.errors import ZomgError

    request = json.loads((job_dir / "request.json").read_text())
    progress(0.0, "starting")
    _test_fault()
    try:
        result = TASKS[request["task"]](request, job_dir, progress)
    except ZomgError as exc:
        _write_json(job_dir / "result.json", {"ok": False, "error": str(exc)})
        return 2
    _write_json(job_dir / "result.json", {"ok": True, "result": result})
    progress(1.0, "done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
