"""The on-disk response cache: what the key covers (and never covers), location, robustness."""

from __future__ import annotations

from pathlib import Path

import pytest

from gerbil_eval.cache import ResponseCache, cache_key, default_cache_dir

MESSAGES = [{"role": "user", "content": "iterate a hash table"}]
BASE = dict(base_url="http://h/v1", model="m", messages=MESSAGES, temperature=0.0, max_tokens=256, seed=1, sample=0)


@pytest.mark.parametrize("field,other", [
    ("base_url", "http://other/v1"), ("model", "m2"), ("messages", [{"role": "user", "content": "x"}]),
    ("temperature", 0.7), ("max_tokens", 512), ("seed", 2), ("sample", 1),
])
def test_every_request_parameter_changes_the_key(field, other):
    assert cache_key(**BASE) != cache_key(**{**BASE, field: other})


def test_key_is_stable_and_ignores_a_trailing_slash():
    assert cache_key(**BASE) == cache_key(**{**BASE, "base_url": "http://h/v1/"})
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
