"""The binding index's answers to ``resolves``: where a name lives, which home to tell users,
and the nearest real name or module for a wrong one.

The committed index (built from the Gerbil sources) gives the real cases; a small hand-made
index pins the tie-breaks a real one only shows by accident.
"""

from __future__ import annotations

from gerbil_eval.bindings.index import PRELUDE, BindingIndex, is_internal, load_index
from tests.test_bindings import resolves

INDEX = load_index()


def small_index(modules: dict[str, list[str]], uses: dict[str, int] | None = None,
                prelude: dict[str, list[str]] | None = None) -> BindingIndex:
    """Two versions, ``old`` and ``new``; every module has the same names in both."""
    versions = ["new", "old"]
    return BindingIndex.from_data({
        "versions": versions,
        "prelude": prelude or {v: [] for v in versions},
        "modules": {m: {v: names for v in versions} for m, names in modules.items()},
        "uses": uses or {},
    })


def test_runtime_internals_are_not_for_answers_but_the_public_gerbil_modules_are():
    assert is_internal(":gerbil/runtime/hash") and is_internal(":gerbil/expander")
    assert not is_internal(":gerbil/gambit") and not is_internal(":gerbil/core") and not is_internal(":std/iter")
    assert not is_internal(PRELUDE)  # a name in the prelude is always reachable


def test_homes_list_the_prelude_then_std_modules_shortest_first():
    idx = small_index({":gerbil/gambit": ["x"], ":std/text/json/api": ["x"], ":std/misc/ports": ["x"]},
                      prelude={"new": ["x"], "old": []})
    assert idx.homes("x", "new") == [PRELUDE, ":std/misc/ports", ":std/text/json/api", ":gerbil/gambit"]
    assert idx.homes("x", "old") == [":std/misc/ports", ":std/text/json/api", ":gerbil/gambit"]
    assert idx.homes("x") == [PRELUDE, ":std/misc/ports", ":std/text/json/api", ":gerbil/gambit"]
    assert idx.homes("y") == [] and idx.homes("y", "new") == [] and not idx.known("y") and idx.known("x")
    assert INDEX.homes("read-json", "master")[0] == ":std/text/json"


def test_exports_of_a_module_and_of_no_module():
    assert "for/collect" in INDEX.exports(":std/iter", "v0.18.1")
    assert INDEX.exports(":std/no-such-module", "master") == frozenset()
    assert INDEX.has_module(":std/iter", "master") and not INDEX.has_module(":std/no-such-module", "master")


def test_best_home_is_the_prelude_only_when_every_version_has_it_there():
    assert INDEX.best_home("hash-ref") == PRELUDE
    assert INDEX.best_home("read-file-string") == ":std/misc/ports"  # master's prelude has it, v0.18.1's not
    assert INDEX.best_home("for/collect") == ":std/iter"
    idx = small_index({":std/a": ["x"], ":std/b/c": ["x"]})
    assert idx.best_home("x") == ":std/a" and idx.best_home("unknown") == PRELUDE


def test_best_home_is_a_module_every_version_has_and_never_an_internal_one():
    # master's :std/parser/grammar re-exports the prelude; v0.18.1 has string-contains in :std/srfi/13 only
    assert INDEX.best_home("string-contains") == ":std/srfi/13"
    ok, why = resolves("(string-contians s \"a\")")
    assert not ok and why == "`string-contians` is not defined by Gerbil (nearest: `string-contains` in :std/srfi/13)"
    idx = small_index({":gerbil/expander": ["x"]}, prelude={"new": ["x"], "old": []})
    assert idx.best_home("x") == PRELUDE


def test_names_only_the_runtime_internals_define_are_never_suggested():
    idx = small_index({":gerbil/expander": ["core-list"], ":std/sort": ["sort"]})
    assert idx.nearest_name("core-lst") is None and idx.nearest_name("sortt") == ("sort", ":std/sort")


def test_nearest_name_prefers_an_extension_then_the_most_used_then_the_shortest():
    idx = small_index({":std/misc/ports": ["read-file-string", "read-file-lines", "read-file-u8vector"]},
                      uses={"read-file-string": 1})
    assert idx.nearest_name("read-file") == ("read-file-string", ":std/misc/ports")
    idx = small_index({":std/misc/ports": ["read-file-string", "read-file-lines"]})
    assert idx.nearest_name("read-file")[0] == "read-file-lines"  # no uses either: the shorter


def test_nearest_name_prefers_the_closest_spelling_then_the_most_used():
    idx = small_index({":std/text/json": ["json-read", "json-reid", "json-write"]},
                      uses={"json-reid": 1, "json-write": 50})
    # json-read and json-reid are equally close: the one used in the sources wins
    assert idx.nearest_name("json-reed") == ("json-reid", ":std/text/json")
    # a closer spelling beats a more used but farther one
    idx = small_index({":std/text/json": ["json-read", "json-write"]}, uses={"json-write": 50})
    assert idx.nearest_name("json-reed")[0] == "json-read"
    assert idx.nearest_name("zzzzzz") is None


def test_nearest_module_by_last_component_then_by_spelling():
    def nearest(module: str) -> str:
        ok, why = resolves(f"(import {module})")
        assert not ok
        return why

    # the last component names the module (a spelling match would say :std/sort)
    assert nearest(":std/ports") == "`:std/ports` is not a module (nearest: :std/misc/ports)"
    # several modules end in /string: the best ranked one
    assert nearest(":std/string") == "`:std/string` is not a module (nearest: :std/misc/string)"
    # no module ends in /regex: the closest spelling
    assert nearest(":std/regex") == "`:std/regex` is not a module (nearest: :std/pregexp)"
    assert nearest(":zzzz/qqqq/wwww") == "`:zzzz/qqqq/wwww` is not a module"


def test_a_hint_needs_a_name_or_module_at_least_60_percent_similar():
    # rapidfuzz ratios: 60.0 and 59.3 for the names, 60.5 and 59.1 for the modules
    assert small_index({":std/a": ["abcdefwxyz"]}).nearest_name("abcdefghij") == ("abcdefwxyz", ":std/a")
    assert small_index({":std/a": ["abcdefghqrstuvwxy"]}).nearest_name("abcdefghij") is None
    near = ":std/abcdefgh" + "q" * 17
    assert small_index({near: ["x"]}).nearest_module(":std/abcdefgh") == near
    assert small_index({near + "q": ["x"]}).nearest_module(":std/abcdefgh") is None
