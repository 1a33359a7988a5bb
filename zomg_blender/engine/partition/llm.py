"""LLM partition backends: any OpenAI-compatible chat endpoint ("openai": llama.cpp server, vLLM,
LM Studio, OpenAI) and Ollama ("ollama").

Only the description text is sent, never motion. Answers are validated strictly (JSON, a bounded list of
non-empty sentences built from the description's own words) because a hallucinated sub-action would be
grounded in the take like a real one. Any failure -- no network, timeout, HTTP error, invalid answer --
falls back to the offline rules with a warning; network problems never raise.
"""
from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from ..errors import ZomgError
from . import Partition, cache
from .lexicon import stems
from .rules import rules_partition

PROMPT_VERSION = "1"
SYSTEM_PROMPT = """You split a description of one person's motion capture take into its sub-actions.
Answer with JSON only, exactly this shape: {"subactions": ["...", "..."]}
Rules:
- One entry per action, in the order the actions happen in time ("X after Y" gives Y, then X).
- Each entry is a short sentence that stands alone: it starts with its subject; write "a person" for he, \
she, they, or when the description gives no subject.
- Use only the description's own words. Never add an action, body part, object or direction it does not name.
- Actions done at the same time ("while", "as", "at the same time") stay in one entry.
- Repeat an entry for "twice", "three times", "N times".
Example: "he walks in, waves with the left hand twice, then bows" -> {"subactions": ["a person walks in", \
"a person waves with the left hand", "a person waves with the left hand", "a person bows"]}"""

DEFAULT_BASE_URL = {"openai": "http://127.0.0.1:8080", "ollama": "http://127.0.0.1:11434"}
DEFAULT_MODEL = {"openai": "gpt-4o-mini", "ollama": "llama3.2"}   # llama.cpp's server ignores the name
_PATHS = {"openai": "/v1/chat/completions", "ollama": "/api/chat"}

# Words an answer may use although the description does not: subjects, function words, counting.
_FREE_WORDS = set("""
a an the person people human individual someone somebody character figure man woman he she they it i we you
his her their its them him himself herself themselves this that these those one and then while as whilst
with to of in on at by for from into onto off out over up down again once twice time times is are was were
be been being do does did doing perform performs performed performing same first second third next last
finally also s
""".split())


@dataclass
class _Options:
    base_url: str
    model: str
    api_key_env: str | None
    timeout: float
    retries: int
    backoff: float
    cache_dir: Path
    use_cache: bool
    online: bool
    max_subactions: int


class _Failure(Exception):
    """The server could not give a usable answer; the message says why, without secrets."""


class _InvalidAnswer(Exception):
    """The server answered, but not with a valid list of sub-actions."""


def llm_partition(text: str, backend: str, **cfg) -> Partition:
    """Ask the LLM server; cached; falls back to rules with a warning whenever that fails."""
    options = _options(backend, cfg)
    text = text.strip()
    if not options.online:
        return _fallback(text, f"online access is off: used the offline rules instead of {backend}")
    key = cache.cache_key(backend, options.base_url, options.model, PROMPT_VERSION, text)
    if options.use_cache:
        cached = cache.load(options.cache_dir, key)
        if cached is not None:
            try:
                return Partition(validate_answer(cached, text, options.max_subactions), backend, [], options.model)
            except _InvalidAnswer:
                pass                                   # a stale or edited file: ask again
    warnings: list[str] = []
    headers = {}
    if options.api_key_env:
        api_key = os.environ.get(options.api_key_env)
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        else:
            warnings.append(f"environment variable {options.api_key_env} is not set: no API key sent")
    try:
        subactions = _ask(text, backend, options, headers)
    except _Failure as exc:
        fallback = _fallback(text, f"{backend} partition failed ({exc}): used the offline rules")
        fallback.warnings[:0] = warnings
        return fallback
    if options.use_cache:
        record = {"backend": backend, "base_url": options.base_url, "model": options.model,
                  "prompt_version": PROMPT_VERSION, "text": text, "subactions": subactions}
        try:
            cache.store(options.cache_dir, key, record)
        except OSError as exc:
            warnings.append(f"could not write the partition cache in {options.cache_dir} ({exc.strerror})")
    return Partition(subactions, backend, warnings, options.model)


def _options(backend: str, cfg: dict) -> _Options:
    base_url = str(cfg.get("base_url") or DEFAULT_BASE_URL[backend]).strip().rstrip("/")
    if not re.match(r"https?://[^/\s]+", base_url):
        raise ZomgError(f"the LLM endpoint must be an http:// or https:// URL, not {base_url!r}")
    base_url = re.sub(r"/v1$", "", base_url) if backend == "openai" else re.sub(r"/api$", "", base_url)
    try:
        timeout = float(cfg.get("timeout") if cfg.get("timeout") is not None else 20.0)
        retries = int(cfg.get("retries") if cfg.get("retries") is not None else 2)
        backoff = float(cfg.get("backoff") if cfg.get("backoff") is not None else 0.5)
        max_subactions = int(cfg.get("max_subactions") if cfg.get("max_subactions") is not None else 20)
    except (TypeError, ValueError) as exc:
        raise ZomgError(f"invalid partition option: {exc}") from None
    if timeout <= 0 or not 0 <= retries <= 10 or backoff < 0 or max_subactions < 1:
        raise ZomgError("partition options need timeout > 0, 0 <= retries <= 10, backoff >= 0, max_subactions >= 1")
    return _Options(
        base_url=base_url, model=str(cfg.get("model") or DEFAULT_MODEL[backend]),
        api_key_env=str(cfg.get("api_key_env") or "").strip() or None,
        timeout=timeout, retries=retries, backoff=backoff,
        cache_dir=Path(cfg["cache_dir"]) if cfg.get("cache_dir") else cache.default_dir(),
        use_cache=bool(cfg.get("use_cache", True)), online=bool(cfg.get("online", True)),
        max_subactions=max_subactions)


def _fallback(text: str, warning: str) -> Partition:
    subactions, warnings = rules_partition(text)
    return Partition(subactions, "rules", [warning] + warnings)


def request_body(text: str, backend: str, model: str) -> dict:
    """What is sent: the model name, the fixed instructions and the description; nothing else."""
    messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": text}]
    if backend == "ollama":
        return {"model": model, "messages": messages, "stream": False, "format": "json",
                "options": {"temperature": 0}}
    return {"model": model, "messages": messages, "temperature": 0, "stream": False}


def _ask(text: str, backend: str, options: _Options, headers: dict) -> list[str]:
    """POST with retries on timeouts, connection errors, 5xx/429 and invalid answers."""
    url = options.base_url + _PATHS[backend]
    body = request_body(text, backend, options.model)
    reason = "no attempt"
    for attempt in range(options.retries + 1):
        if attempt:
            time.sleep(options.backoff * 2 ** (attempt - 1))
        try:
            response = requests.post(url, json=body, headers=headers, timeout=(options.timeout, options.timeout))
        except requests.Timeout:
            reason = f"no answer within {options.timeout:g} s"
            continue
        except requests.ConnectionError:
            reason = f"could not connect to {options.base_url}"
            continue
        except requests.RequestException as exc:
            reason = type(exc).__name__
            continue
        status = response.status_code
        if status >= 500 or status == 429:
            reason = f"HTTP {status}"
            continue
        if status >= 400:
            hint = {401: "check the API key", 403: "check the API key", 404: "check the URL and model"}
            raise _Failure(f"HTTP {status}" + (f", {hint[status]}" if status in hint else ""))
        try:
            return validate_answer(parse_answer(_content(response, backend)), text, options.max_subactions)
        except _InvalidAnswer as exc:
            reason = f"invalid answer: {exc}"
    attempts = options.retries + 1
    raise _Failure(f"{reason}, after {attempts} attempt{'s' if attempts > 1 else ''}")


def _content(response: requests.Response, backend: str) -> str:
    try:
        data = response.json()
        content = data["message"]["content"] if backend == "ollama" else data["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise _InvalidAnswer(f"not a {backend} chat response") from None
    if not isinstance(content, str):
        raise _InvalidAnswer("the message content is not text")
    return content


def parse_answer(content: str) -> list:
    """The 'subactions' list from the model's JSON, also inside a ```json fenced block."""
    fenced = re.search(r"```(?:json)?\s*(.*?)```", content, re.S | re.I)
    try:
        data = json.loads(fenced.group(1) if fenced else content)
    except ValueError:
        raise _InvalidAnswer("not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("subactions"), list):
        raise _InvalidAnswer('no "subactions" list')
    return data["subactions"]


def validate_answer(items: list, text: str, max_subactions: int) -> list[str]:
    """Normalised sub-actions, or _InvalidAnswer when the list is empty, too long, not all text,
    or uses words the description does not contain (a hallucinated action)."""
    if not 1 <= len(items) <= max_subactions:
        raise _InvalidAnswer(f"{len(items)} sub-actions (expected 1 to {max_subactions})")
    known = set().union(*(stems(w) for w in _words(text)))
    out = []
    for item in items:
        if not isinstance(item, str):
            raise _InvalidAnswer("a sub-action is not text")
        sentence = re.sub(r"\s+", " ", item.replace("\u2019", "'")).strip().rstrip(".!?;,").strip().lower()
        content = [w for w in _words(sentence) if w not in _FREE_WORDS]
        if not content:
            raise _InvalidAnswer(f"{sentence[:60]!r} names no action")
        invented = [w for w in content if not stems(w) & known]
        if invented:
            raise _InvalidAnswer(f"{sentence[:60]!r} uses words not in the description ({', '.join(invented[:3])})")
        out.append(sentence)
    return out


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower().replace("\u2019", "'"))
