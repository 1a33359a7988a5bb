"""LLM partition backends against a real HTTP server on 127.0.0.1 that speaks both API shapes
(OpenAI-compatible /v1/chat/completions and Ollama /api/chat), scripted per test."""
from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from zomg_blender.engine.partition import partition
from zomg_blender.engine.partition.llm import SYSTEM_PROMPT

TEXT = "a person walks in, waves with the left hand twice, then bows"
GOOD = ["A person walks in.", "a person waves with the left hand", "a person waves with the left hand",
        "a person bows"]
GOOD_NORMALISED = ["a person walks in", "a person waves with the left hand", "a person waves with the left hand",
                   "a person bows"]
RULES = partition(TEXT).subactions
SECRET = "sk-test-0123456789-do-not-log"


class FakeLLM:
    """Replies from a script of (status, content, delay); records every request it gets."""

    def __init__(self):
        self.script: list[tuple[int, str, float]] = []
        self.default: tuple[int, str, float] = (500, "", 0.0)
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with server.lock:
                    server.requests.append({"path": self.path, "headers": dict(self.headers), "raw": raw,
                                            "body": json.loads(raw)})
                    status, content, delay = server.script.pop(0) if server.script else server.default
                time.sleep(delay)
                if status == 200:
                    message = {"role": "assistant", "content": content}
                    reply = {"message": message, "done": True} if self.path == "/api/chat" else \
                        {"choices": [{"index": 0, "message": message}]}
                    payload = json.dumps(reply).encode()
                else:
                    payload = b'{"error": "scripted failure"}'
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):   # the client gave up (timeout test)
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def reset(self):
        self.script, self.default, self.requests = [], (500, "", 0.0), []

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def answer(items) -> str:
    return json.dumps({"subactions": items})


@pytest.fixture(scope="module")
def llm():
    server = FakeLLM()
    yield server
    server.close()


@pytest.fixture
def server(llm, tmp_path, monkeypatch):
    llm.reset()
    monkeypatch.setenv("ZOMG_CACHE_DIR", str(tmp_path / "zomg-cache"))   # never the user's cache
    return llm


def cfg(server, tmp_path, **extra):
    base = {"base_url": server.url, "model": "test-model", "cache_dir": str(tmp_path / "cache"), "timeout": 2.0,
            "retries": 2, "backoff": 0.01}
    base.update(extra)
    return base


@pytest.mark.parametrize("backend,path", [("openai", "/v1/chat/completions"), ("ollama", "/api/chat")])
def test_well_formed_answer_is_used(server, tmp_path, backend, path):
    server.script = [(200, answer(GOOD), 0.0)]
    result = partition(TEXT, backend, **cfg(server, tmp_path))
    assert result.subactions == GOOD_NORMALISED
    assert result.backend == backend and result.model == "test-model" and result.warnings == []
    assert [r["path"] for r in server.requests] == [path]


def test_fenced_json_block_is_accepted(server, tmp_path):
    server.script = [(200, "Here you go:\n```json\n" + answer(GOOD) + "\n```", 0.0)]
    result = partition(TEXT, "openai", **cfg(server, tmp_path))
    assert result.backend == "openai" and result.subactions == GOOD_NORMALISED


def test_malformed_json_falls_back_to_rules(server, tmp_path):
    server.default = (200, '{"subactions": ["a person walks in",', 0.0)
    result = partition(TEXT, "ollama", **cfg(server, tmp_path, retries=1))
    assert result.backend == "rules" and result.subactions == RULES and result.model is None
    assert len(server.requests) == 2
    assert "invalid answer" in result.warnings[0] and "not JSON" in result.warnings[0]


def test_hallucinated_subaction_is_rejected(server, tmp_path):
    server.default = (200, answer(["a person walks in", "a person does a backflip", "a person bows"]), 0.0)
    result = partition(TEXT, "openai", **cfg(server, tmp_path, retries=0))
    assert result.backend == "rules" and result.subactions == RULES
    assert "backflip" in result.warnings[0]


@pytest.mark.parametrize("bad", [[], ["a person walks in"] * 21, ["a person walks in", ""], ["a person", "bows"],
                                 ["a person walks in", 3]], ids=["empty", "too-many", "blank", "no-action", "number"])
def test_invalid_lists_are_rejected(server, tmp_path, bad):
    server.default = (200, answer(bad), 0.0)
    result = partition(TEXT, "openai", **cfg(server, tmp_path, retries=0))
    assert result.backend == "rules" and result.subactions == RULES and "invalid answer" in result.warnings[0]


def test_http_500_then_success_on_retry(server, tmp_path):
    server.script = [(500, "", 0.0), (200, answer(GOOD), 0.0)]
    result = partition(TEXT, "openai", **cfg(server, tmp_path))
    assert result.backend == "openai" and result.subactions == GOOD_NORMALISED
    assert len(server.requests) == 2


def test_http_500_always_falls_back(server, tmp_path):
    result = partition(TEXT, "ollama", **cfg(server, tmp_path, retries=2))
    assert len(server.requests) == 3
    assert result.backend == "rules" and result.subactions == RULES
    assert "HTTP 500" in result.warnings[0] and "3 attempts" in result.warnings[0]


def test_client_error_is_not_retried(server, tmp_path):
    server.default = (401, "", 0.0)
    result = partition(TEXT, "openai", **cfg(server, tmp_path))
    assert len(server.requests) == 1
    assert result.backend == "rules" and "HTTP 401" in result.warnings[0] and "API key" in result.warnings[0]


def test_timeout_falls_back_quickly(server, tmp_path):
    server.default = (200, answer(GOOD), 1.0)
    tick = time.perf_counter()
    result = partition(TEXT, "openai", **cfg(server, tmp_path, timeout=0.3, retries=1))
    elapsed = time.perf_counter() - tick
    assert result.backend == "rules" and result.subactions == RULES
    assert "no answer within 0.3 s" in result.warnings[0]
    assert len(server.requests) == 2 and elapsed < 1.5


def test_slow_answer_within_timeout_is_used(server, tmp_path):
    server.script = [(200, answer(GOOD), 0.15)]
    result = partition(TEXT, "ollama", **cfg(server, tmp_path, timeout=1.0))
    assert result.backend == "ollama" and result.subactions == GOOD_NORMALISED and len(server.requests) == 1


def test_unreachable_server_falls_back(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = partition(TEXT, "openai", base_url=f"http://127.0.0.1:{port}", cache_dir=str(tmp_path), retries=1,
                       backoff=0.01, timeout=1.0)
    assert result.backend == "rules" and result.subactions == RULES and "could not connect" in result.warnings[0]


def test_second_call_is_a_cache_hit(server, tmp_path):
    server.default = (200, answer(GOOD), 0.0)
    first = partition(TEXT, "openai", **cfg(server, tmp_path))
    second = partition(TEXT, "openai", **cfg(server, tmp_path))
    assert first == second and second.backend == "openai"
    assert len(server.requests) == 1
    files = list((tmp_path / "cache").glob("*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["subactions"] == GOOD_NORMALISED
    assert not list((tmp_path / "cache").glob("*.tmp"))
    partition(TEXT, "openai", **cfg(server, tmp_path, model="other-model"))   # the key includes the model
    partition(TEXT, "ollama", **cfg(server, tmp_path))                        # and the backend
    assert len(server.requests) == 3


def test_default_cache_dir_follows_zomg_cache_dir(server, tmp_path):
    server.default = (200, answer(GOOD), 0.0)
    options = cfg(server, tmp_path)
    del options["cache_dir"]
    partition(TEXT, "openai", **options)
    assert len(list((tmp_path / "zomg-cache" / "partition").glob("*.json"))) == 1


@pytest.mark.parametrize("backend", ["openai", "ollama"])
def test_request_carries_only_the_text_and_the_key_from_the_env(server, tmp_path, monkeypatch, backend):
    monkeypatch.setenv("ZOMG_TEST_API_KEY", SECRET)
    server.script = [(200, answer(GOOD), 0.0)]
    partition(TEXT, backend, **cfg(server, tmp_path, api_key_env="ZOMG_TEST_API_KEY"))
    (request,) = server.requests
    assert request["headers"]["Authorization"] == f"Bearer {SECRET}"
    body = request["body"]
    expected_keys = {"model", "messages", "stream"} | ({"format", "options"} if backend == "ollama" else
                                                       {"temperature"})
    assert set(body) == expected_keys and body["stream"] is False and body["model"] == "test-model"
    assert body["messages"] == [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": TEXT}]
    if backend == "ollama":
        assert body["format"] == "json"
    assert len(request["raw"]) < len(SYSTEM_PROMPT) + len(TEXT) + 300   # no room for motion data


def test_key_never_appears_in_warnings_or_cache(server, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOMG_TEST_API_KEY", SECRET)
    server.script = [(500, "", 0.0), (200, answer(GOOD), 0.0)]
    ok = partition(TEXT, "openai", **cfg(server, tmp_path, api_key_env="ZOMG_TEST_API_KEY"))
    server.default = (403, "", 0.0)
    failed = partition(TEXT + " again", "openai", **cfg(server, tmp_path, api_key_env="ZOMG_TEST_API_KEY"))
    assert ok.backend == "openai" and failed.backend == "rules"
    assert all(SECRET not in w for w in ok.warnings + failed.warnings)
    assert all(SECRET not in f.read_text() for f in (tmp_path / "cache").iterdir())


def test_missing_key_variable_warns_and_sends_no_key(server, tmp_path, monkeypatch):
    monkeypatch.delenv("ZOMG_TEST_MISSING_KEY", raising=False)
    server.script = [(200, answer(GOOD), 0.0)]
    result = partition(TEXT, "openai", **cfg(server, tmp_path, api_key_env="ZOMG_TEST_MISSING_KEY"))
    assert result.backend == "openai" and "ZOMG_TEST_MISSING_KEY" in result.warnings[0]
    assert "Authorization" not in server.requests[0]["headers"]


def test_offline_makes_no_request(server, tmp_path):
    server.default = (200, answer(GOOD), 0.0)
    result = partition(TEXT, "openai", **cfg(server, tmp_path, online=False))
    assert server.requests == []
    assert result.backend == "rules" and result.subactions == RULES and "online access is off" in result.warnings[0]


def test_base_url_with_v1_suffix_is_tolerated(server, tmp_path):
    server.script = [(200, answer(GOOD), 0.0)]
    result = partition(TEXT, "openai", **cfg(server, tmp_path, base_url=server.url + "/v1/"))
    assert result.backend == "openai" and server.requests[0]["path"] == "/v1/chat/completions"
