"""Step 1 of ZOMG, language semantic partition: a description -> ordered, self-contained sub-actions.

`partition(text, backend="rules", **cfg)`: "rules" works offline and is the default; "openai" and
"ollama" ask an LLM server (llm.py) and fall back to rules, with a warning, whenever that fails.

Options (all optional; "rules" ignores them so callers can pass one config for every backend):
base_url, model, api_key_env (the NAME of the variable holding the key), timeout (s, connect and read),
retries, backoff (s), cache_dir, use_cache, online (False: no network at all), max_subactions.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ZomgError
from .rules import rules_partition

BACKENDS = ("rules", "openai", "ollama")
OPTIONS = ("base_url", "model", "api_key_env", "timeout", "retries", "backoff", "cache_dir", "use_cache",
           "online", "max_subactions")


@dataclass
class Partition:
    subactions: list[str]
    backend: str                      # the backend that actually produced the answer
    warnings: list[str] = field(default_factory=list)
    model: str | None = None


def partition(text: str, backend: str = "rules", **cfg) -> Partition:
    """Split `text` into sub-action sentences with `backend`; never raises for network problems."""
    if not isinstance(text, str) or not text.strip():
        raise ZomgError("the description is empty: describe the actions in the take")
    if backend not in BACKENDS:
        raise ZomgError(f"unknown partition backend {backend!r}: use one of {', '.join(BACKENDS)}")
    unknown = sorted(set(cfg) - set(OPTIONS))
    if unknown:
        raise ZomgError(f"unknown partition option(s) {', '.join(unknown)}: use {', '.join(OPTIONS)}")
    if backend == "rules":
        subactions, warnings = rules_partition(text)
        return Partition(subactions, "rules", warnings)
    from .llm import llm_partition

    return llm_partition(text, backend, **cfg)
