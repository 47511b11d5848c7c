"""The binding index (built from the real Gerbil sources) and the ``resolves`` assertion."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gerbil_eval.assertions.registry import evaluate
from gerbil_eval.commands.bindings import encode
from gerbil_eval.bindings.build import build_index
from gerbil_eval.bindings.index import DATA_FILE, PRELUDE, load_index
from gerbil_eval.cases.loader import assertion_from_dict, CaseFileError

#: ../shared beside the project (CI has it); GERBIL_EVAL_SHARED points elsewhere (a worktree).
SHARED = Path(os.environ.get("GERBIL_EVAL_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))
DATA = SHARED / "data"

INDEX = load_index()


def resolves(code: str, **options) -> tuple[bool, str]:
    a = assertion_from_dict({"type": "resolves", **({"value": options} if options else {})})
    out = evaluate(a, code, {})
    return out.passed, out.reason


# --- the index -------------------------------------------------------------------------------------

def test_spot_checks_of_the_committed_index():
    assert PRELUDE in INDEX.homes("hash-ref", "master") and PRELUDE in INDEX.homes("hash-ref", "v0.18.1")
    assert ":std/misc/ports" in INDEX.homes("read-file-string", "v0.18.1")
    assert ":std/iter" in INDEX.homes("for/collect", "master")
    assert ":std/text/json" in INDEX.homes("string->json-object", "v0.18.1")
    assert not INDEX.known("read-file")
    # the facts sheet's version facts: try/while/hash moved from :std/sugar into the prelude
    assert INDEX.homes("try", "v0.18.1")[0] == ":std/sugar" and PRELUDE in INDEX.homes("try", "master")
    assert INDEX.homes("agetq", "v0.18.1") == [] and INDEX.homes("agetq", "master")
    assert "hash?" not in INDEX.prelude["master"] and "hash?" not in INDEX.prelude["v0.18.1"]


def test_export_forms_are_followed():
    # struct-out of a struct defined in an imported module (defmessage !ok in actor-v18/proto)
    assert {"!ok", "!ok?", "!ok-value"} <= INDEX.exports(":std/actor", "master")
    # (export (import: ./json/api)) re-exports
    assert "read-json" in INDEX.exports(":std/text/json", "master")
    # a .ssi interface of a Scheme-written module
    assert "u8vector->base64-string" in INDEX.exports(":std/text/base64", "v0.18.1")
    # names made by a library macro: (define-digest sha256)
    assert "sha256" in INDEX.exports(":std/crypto/digest", "master")
    # except-out: :std/sugar's prelude-overlapping names stay, defrules from deferror-class etc.
    assert "deferror-class" in INDEX.exports(":std/error", "v0.18.1")


def test_index_file_is_small():
    assert DATA_FILE.stat().st_size < 1_000_000


@pytest.mark.skipif(not DATA.is_dir() and not os.environ.get("CI"), reason=f"{DATA} not present")
def test_index_regenerates_identically_from_the_sources():
    """The committed file is exactly what ``bindings build ../shared/data`` writes."""
    assert DATA.is_dir(), f"CI must have the shared data at {DATA}"
    assert encode(build_index(DATA)) == DATA_FILE.read_bytes(), \
        "gerbil-bindings.json.gz is stale: run python -m gerbil_eval bindings build ../shared/data"


def test_build_command_writes_an_index(tmp_path, capsys):
    from gerbil_eval.__main__ import main
    if not DATA.is_dir():
        assert main(["bindings", "build", str(tmp_path)]) == 4
        assert "no gerbil-src" in capsys.readouterr().err
        return
    out = tmp_path / "idx.json.gz"
    assert main(["bindings", "build", str(DATA), "-o", str(out)]) == 0
    assert out.read_bytes() == DATA_FILE.read_bytes()


# --- resolves: the reasons -------------------------------------------------------------------------

def test_unknown_procedure_names_the_nearest_real_one():
    ok, why = resolves("(def text (read-file \"notes.txt\"))")
    assert not ok and why == "`read-file` is not defined by Gerbil (nearest: `read-file-string` in :std/misc/ports)"


def test_known_name_without_its_import():
    ok, why = resolves("(for/collect (x [1 2 3]) (* x x))")
    assert not ok and why == "`for/collect` is exported by :std/iter, which the code does not import"
    assert resolves("(for/collect (x [1 2 3]) (* x x))", imports="optional")[0]
    assert resolves("(import :std/iter)\n(for/collect (x [1 2 3]) (* x x))")[0]


def test_unknown_module_names_the_nearest():
    ok, why = resolves("(import :std/json)\n(read-json (current-input-port))")
    assert not ok and why.startswith("`:std/json` is not a module (nearest: :std/text/json)")


def test_version_difference_is_named_and_either_version_suffices():
    ok, why = resolves("(agetq 'port cfg)")
    assert ok and "master" in why and "v0.18.1" not in why
    ok, why = resolves("(agetq 'port cfg)", version="v0.18.1")
    assert not ok and why == "`agetq` is not defined in v0.18.1 (only in master)"
    ok, why = resolves("(try (risky) (catch (e) e))", version="v0.18.1")
    assert not ok and "`try` is exported by :std/sugar" in why
    assert resolves("(import :std/sugar)\n(try (risky) (catch (e) e))", version="v0.18.1")[0]


def test_bad_options_are_load_errors():
    for bad in ({"imports": "sometimes"}, {"version": "v0.17"}, {"strict": True}, "optional"):
        with pytest.raises(CaseFileError):
            assertion_from_dict({"type": "resolves", "value": bad})


def test_no_code_has_nothing_to_resolve():
    assert resolves("```sh\ngxc -exe main.ss\n```")[0]


# --- resolves: local bindings ----------------------------------------------------------------------

@pytest.mark.parametrize("code", [
    # shadowing a missing name by a local definition, used before its definition
    "(def (main) (read-file \"x\"))\n(def (read-file path) (read-file-string path))\n(import :std/misc/ports)",
    # nested defs visible in the whole body
    "(def (outer) (def (helper-thing x) (* x 2)) (helper-thing 3))",
    # a macro the answer defines, and its use binding a new name
    "(defrules my-let () ((_ (v e) body) (let ((v e)) body)))\n(my-let (zork 1) (display zork))",
    # defstruct generated names and match patterns
    "(defstruct point (x y))\n(def p (make-point 1 2))\n(match p ((point ax ay) (+ ax ay)))\n(point-x-set! p 3)",
    # for clauses with a pattern and a filter
    "(import :std/iter)\n(for ((values k v) (in-hash h)) (displayln k v))\n(for (x xs when (odd? x)) (displayln x))",
    # keywords, optional and rest parameters, and their defaults seeing earlier parameters
    "(def (connect host (port 80) timeout: (timeout (* port 2)) . more) (list host port timeout more))",
    # quasiquote: only unquoted parts are references; quoted data never
    "(def v 1)\n`(read-file ,v (json-parse))\n'(read-file json-parse)",
    # import with only-in / prefix-in / rename-in
    "(import (only-in :std/iter for in-range) (prefix-in :std/text/json j:) (rename-in :std/misc/ports (read-file-string slurp)))\n"
    "(for (i (in-range 3)) (j:read-json (slurp \"f\")))",
    # receive, with, let-values, named let, let/cc, try/catch binding
    "(receive (q r) (values 1 2) (+ q r))\n(with ([a b . c] (iota 4)) (list a b c))\n"
    "(let-values (((lo hi) (values 1 2))) lo)\n(let loop ((i 0)) (when (< i 3) (loop (+ i 1))))\n"
    "(let/cc return (return 1))\n(import :std/sugar)\n(try (error \"x\") (catch (e) (error-message e)))",
    # deferror-class generated names and its predicate alias; {method obj} calls
    "(import :std/error)\n(deferror-class MyError () my-error?)\n(def e (MyError \"m\"))\n(my-error? e)\n(MyError? e)\n"
    "(defmethod {area circle} (lambda (self) 1))\n{area c}",
])
def test_tricky_code_resolves(code):
    ok, why = resolves(code)
    assert ok, why


@pytest.mark.parametrize("code, offender", [
    ("(def (f x) x)\n(read-file \"x\")", "read-file"),  # a local def of another name does not help
    ("(let ((read-file-string 1)) read-file-string)\n(read-file \"x\")", "read-file"),
    ("(import (only-in :std/iter for))\n(for/collect (x xs) x)", "for/collect"),
    ("(import (prefix-in :std/text/json j:))\n(read-json p)", "read-json"),
    ("(import (only-in :std/iter for for/list))", "for/list"),
    ("(match x ([a b] (json-parse a)))", "json-parse"),
    ("(json-parse-file \"config.json\")", "json-parse-file"),  # a Gerbil family, however far from a real name
])
def test_near_misses_do_not_resolve(code, offender):
    ok, why = resolves(code)
    assert not ok and f"`{offender}`" in why, why


# --- resolves: import specs and the reasons per version -------------------------------------------

@pytest.mark.parametrize("code", [
    # group-in: every member under the group's prefix
    "(import (group-in :std iter misc/ports))\n(for/collect (x [1 2]) (read-file-string x))",
    # the answer's own modules may define anything: a relative path, a file name
    "(import ./util)\n(json-parse s)",
    "(import \"util\")\n(json-parse s)",
    # a helper of the answer's own that extends no real name
    "(def (run) (with-catch-all (lambda (e) #f) (lambda () 1)))",
])
def test_imports_that_resolve(code):
    ok, why = resolves(code)
    assert ok, why


@pytest.mark.parametrize("code, options, reason", [
    # a module path without its colon is no module to Gerbil (gxi: "Bad syntax; illegal import")
    ("(import std/iter)\n(for/collect (x [1 2]) x)", {},
     "`std/iter` is not a module path (library modules start with a colon: `:std/iter`); "
     "`for/collect` is exported by :std/iter, which the code does not import"),
    ("(import (except-in :std/iter for/collect))\n(for/collect (x [1 2]) x)", {},
     "`for/collect` is exported by :std/iter, which the code does not import"),
    # a module of the other version only
    ("(import :std/xml/sxml)", {"version": "master"}, "`:std/xml/sxml` is not a module in master"),
    # the missing module is the offender, not the names renamed from it
    ("(import (rename-in :std/xml/sxml (sxml-select xml-select)))\n(xml-select doc pred)", {"version": "master"},
     "`:std/xml/sxml` is not a module in master"),
    # each version's own problems, after the ones that name their version
    ("(import :std/xml/sxml)\n(try (risky) (catch (e) e))", {},
     "`:std/xml/sxml` is not a module in master; on v0.18.1: `try` is exported by :std/sugar, which the code does not import"),
    ("(import :std/xml/sxml)\n(agetq 'port cfg)", {},
     "`:std/xml/sxml` is not a module in master; `agetq` is not defined in v0.18.1 (only in master)"),
    # unknown operators that extend a real name, or are spelled within 85% of one
    ("(with-exception (lambda (e) #f) (lambda () 1))", {},
     "`with-exception` is not defined by Gerbil (nearest: `with-exception-handler` in the prelude)"),
    ("(dispaly \"hi\")", {}, "`dispaly` is not defined by Gerbil (nearest: `display` in the prelude)"),
])
def test_reasons_name_each_offender(code, options, reason):
    ok, why = resolves(code, **options)
    assert not ok and why == reason


@pytest.mark.parametrize("spec", ["(prefix-in :std/iter)", "(rename-in :std/misc/ports slurp)", "()", "42"])
def test_malformed_import_specs_get_a_verdict_not_a_crash(spec):
    assert resolves(f"(import {spec})")[0]


def judge_with(code: str, modules: dict[str, dict[str, list[str]]], prelude: dict[str, list[str]], **options):
    """``resolves``' verdict on ``code`` against a hand-made index of versions ``new`` and ``old``."""
    from gerbil_eval.answer import analyse
    from gerbil_eval.assertions.resolves import judge
    from gerbil_eval.bindings.index import BindingIndex
    from gerbil_eval.bindings.scope import usage_of
    index = BindingIndex.from_data({"versions": ["new", "old"], "prelude": prelude, "modules": modules, "uses": {}})
    out = judge(usage_of(analyse(code).data), index, options)
    return out.passed, out.reason


def test_names_only_the_runtime_internals_define_count_as_undefined():
    """User code does not import :gerbil/expander: its names are the answer's own, or missing."""
    modules = {":gerbil/expander": {"new": ["make-binding-id", "stx-car"], "old": ["make-binding-id", "stx-car"]},
               ":std/misc/list": {"new": ["flatten"], "old": ["flatten"]}}
    prelude = {"new": ["displayln", "stx-car"], "old": ["displayln"]}
    assert judge_with("(def (f x) (displayln (make-binding-id x) make-binding-id))", modules, prelude)[0]
    # in the prelude of new only; old has it in an internal module alone
    assert judge_with("(stx-car x)", modules, prelude, version="old") == \
        (False, "`stx-car` is not defined in old (only in new)")


def test_a_near_miss_is_spelled_at_least_85_percent_like_a_real_name():
    modules = {":std/a": {v: ["pqrstuvwxyzab", "display"] for v in ("new", "old")}}
    prelude = {"new": [], "old": []}
    assert judge_with("(pqrstuvwxyzcd 1)", modules, prelude)[0]  # 84.6%: the answer's own helper
    ok, why = judge_with("(dispaly 1)", modules, prelude)  # 85.7%
    assert not ok and why == "`dispaly` is not defined by Gerbil (nearest: `display` in :std/a)"
