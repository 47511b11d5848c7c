"""The on-disk response cache: what the key covers (and never covers), location, robustness."""

from __future__ import annotations

from pathlib import Path

import pytest

from gerbil_eval.fetch.cache import ResponseCache, cache_key, default_cache_dir
from gerbil_eval.cases.loader import Assertion, Case
from gerbil_eval.plugin.options import RunOptions
from gerbil_eval.run.models import ModelSpec
from gerbil_eval.fetch.fetcher import Job, job_cache_key
from gerbil_eval.server import DEFAULT_CTX, served_model

MESSAGES = [{"role": "user", "content": "iterate a hash table"}]
BASE = dict(endpoint="http://h/v1", model="m", messages=MESSAGES, temperature=0.0, max_tokens=256, seed=1, sample=0)


@pytest.mark.parametrize("field,other", [
    ("endpoint", "http://other/v1"), ("model", "m2"), ("messages", [{"role": "user", "content": "x"}]),
    ("temperature", 0.7), ("max_tokens", 512), ("seed", 2), ("sample", 1),
])
def test_every_request_parameter_changes_the_key(field, other):
    assert cache_key(**BASE) != cache_key(**{**BASE, field: other})


def test_key_is_stable_and_ignores_a_trailing_slash():
    assert cache_key(**BASE) == cache_key(**{**BASE, "endpoint": "http://h/v1/"})
    assert len(cache_key(**BASE)) == 64


def test_key_takes_no_api_key_argument():
    with pytest.raises(TypeError):
        cache_key(**BASE, api_key="sk-x")  # type: ignore[call-arg]


def test_put_then_get_round_trips_only_the_stored_fields(tmp_path: Path):
    cache = ResponseCache(tmp_path)
    key = cache_key(**BASE)
    assert cache.get(key) is None
    cache.put(key, {"content": "(hash-for-each f h)", "latency_s": 0.2, "error": "x", "model": "m"})
    entry = cache.get(key)
    assert entry["content"] == "(hash-for-each f h)" and entry["latency_s"] == 0.2
    assert "error" not in entry and "model" not in entry
    assert not list(tmp_path.rglob("*.tmp"))  # written by rename, nothing left behind


def test_a_corrupt_entry_is_a_miss_not_a_crash(tmp_path: Path):
    cache = ResponseCache(tmp_path)
    key = cache_key(**BASE)
    cache.put(key, {"content": "ok"})
    next(tmp_path.rglob(f"{key}.json")).write_text('{"content": "trunc')
    assert cache.get(key) is None


def test_cache_location_env_then_xdg_then_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("GERBIL_EVAL_CACHE", str(tmp_path / "a"))
    assert default_cache_dir() == tmp_path / "a"
    monkeypatch.delenv("GERBIL_EVAL_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "gerbil-eval"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "gerbil-eval"


def served_key(gguf: Path, port: int, lora: Path | None = None, alias: str | None = None, ctx: int = DEFAULT_CTX) -> str:
    """The cache key of one request to a model served by --serve on ``port``."""
    spec = ModelSpec("m", f"http://127.0.0.1:{port}/v1", served=served_model(gguf, lora, alias).identity(ctx))
    case = Case(id="c", messages=tuple(MESSAGES), category="x", tags=(), assertions=(Assertion("contains", "a"),))
    return job_cache_key(Job(spec, case, 0), RunOptions(api_key="sk-SECRET"))


def gguf_file(path: Path, payload: bytes = b"weights") -> Path:
    path.write_bytes(b"GGUF" + payload)
    return path


def test_a_served_model_keys_by_its_files_and_alias_not_its_port(tmp_path: Path):
    """--serve gets a new free port every run; its answers are keyed by what is served instead."""
    gguf, other = gguf_file(tmp_path / "a.gguf"), gguf_file(tmp_path / "b.gguf")
    lora, other_lora = gguf_file(tmp_path / "l1.gguf"), gguf_file(tmp_path / "l2.gguf")
    key = served_key(gguf, 40001)
    assert served_key(gguf, 40002) == key
    different = {served_key(other, 40001), served_key(gguf, 40001, lora), served_key(gguf, 40001, other_lora),
                 served_key(gguf, 40001, alias="other-name"), served_key(gguf, 40001, ctx=2048)}
    assert len(different) == 5 and key not in different
    assert "sk-SECRET" not in served_model(gguf, lora).identity(DEFAULT_CTX)


def test_a_rewritten_gguf_at_the_same_path_is_a_new_model(tmp_path: Path):
    """A re-converted model (same file name, new weights) must not get the old model's answers."""
    gguf = gguf_file(tmp_path / "model.gguf")
    before = served_key(gguf, 40001)
    gguf_file(gguf, b"new weights, longer")
    assert served_key(gguf, 40001) != before
