"""runs / checks / output / claims with the real ``gxi``: passing and failing answers, Gerbil's own
error messages in the reasons, the per-block fallback, ``function:`` binding, and "not run"."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gerbil_eval.answer import analyse
from gerbil_eval.assertions.registry import evaluate
from gerbil_eval.cases.loader import Case, assertion_from_dict
from gerbil_eval.errors import CaseError
from gerbil_eval.execution.executor import ExecSettings
from gerbil_eval.execution.sandbox import Limits
from gerbil_eval.scoring.score import score_answer

from .gerbil_support import gerbil_home


@pytest.fixture(scope="module")
def ctx() -> dict:
    home = gerbil_home()
    return {"execution": ExecSettings(gxi=str(home / "bin" / "gxi"), limits=Limits(timeout=5, cpu_seconds=5), cache=False)}


def judge(raw: dict, code: str, ctx: dict, fenced: bool = True):
    text = f"```scheme\n{code}\n```" if fenced else code
    return evaluate(assertion_from_dict(raw), analyse(text), ctx)


# --- runs ------------------------------------------------------------------------------------------

def test_runs_passes_a_program_that_runs(ctx: dict) -> None:
    out = judge({"type": "runs"}, "(import :std/sugar)\n(def h (hash (a 1)))\n(displayln (hash-ref h 'a))", ctx)
    assert out.passed, out.reason


@pytest.mark.parametrize("code, gerbil_says", [
    ("(def (load-config p) (read-file p))\n(load-config \"x\")", "Unbound variable: read-file"),
    ("(def (f x) x)\n(f 1 2)", "Wrong number of arguments passed to procedure"),
    ("(error \"port must be a number\" 'abc)", "[Error]: port must be a number"),
    ("(def h (make-hash-table))\n(hash-ref h 'missing)", "Unbound key"),
    ("(while #t (displayln 1))", "Unbound variable: while"),  # v0.18.1: while needs :std/sugar
    ("(display \"result: \")\n(car '())", "run failed: (Argument 1, pair) PAIR expected (car '())"),  # no newline first
])
def test_runs_fails_with_gerbils_own_message(code: str, gerbil_says: str, ctx: dict) -> None:
    out = judge({"type": "runs"}, code, ctx)
    assert not out.passed
    assert gerbil_says in out.reason, out.reason


@pytest.mark.parametrize("raw", [{"type": "runs"}, {"type": "claims"}, {"type": "output", "value": "3"},
                                 {"type": "checks", "value": "(check (f) => 3)\n(check (f) => 4)"}])
@pytest.mark.parametrize("code", ["(def (f) 3)\n(displayln (f)) ; => #!void", "(def (f) 4)\n(f) ; => 3\n(car '())"])
def test_not_negates_pass_and_score_of_a_real_run(raw: dict, code: str, ctx: dict) -> None:
    base = judge(raw, code, ctx)
    neg = judge({**raw, "type": "not-" + raw["type"]}, code, ctx)
    assert neg.passed is (not base.passed) and neg.score == pytest.approx(1 - base.score)


def test_alternative_blocks_that_fail_together_each_run_alone(ctx: dict) -> None:
    """Two alternatives that cannot coexist: the first rebinds a name the second uses as the
    standard procedure. Together the second fails; each block alone (with all imports) runs."""
    answer = ("Either keep a counter:\n```scheme\n(def length 3)\n(displayln length)\n```\n"
              "or measure the list:\n```scheme\n(displayln (length '(1 2)))\n```\n")
    out = judge({"type": "runs"}, answer, ctx, fenced=False)
    assert out.passed and "each runs on its own" in out.reason and "not a PROCEDURE" in out.reason, out.reason
    broken = answer.replace("(length '(1 2))", "(lenght '(1 2))")
    out = judge({"type": "runs"}, broken, ctx, fenced=False)
    assert not out.passed and "Unbound variable: lenght" in out.reason, out.reason


# --- checks ----------------------------------------------------------------------------------------

CHECKS = "(check (add 2 3) => 5)\n(check (add -1 1) ? zero?)\n(check-exception (add 1) true)\n(check (add 2 2) => 5)"


def test_checks_score_is_the_fraction_passing_with_actual_vs_expected(ctx: dict) -> None:
    out = judge({"type": "checks", "value": CHECKS}, "(def (add a b) (+ a b))", ctx)
    assert not out.passed and out.score == pytest.approx(0.75)
    assert "(check (add 2 2) => 5): got 4, expected 5" in out.reason


def test_checks_pass_and_report_gerbil_errors_per_check(ctx: dict) -> None:
    good = judge({"type": "checks", "value": CHECKS.rsplit("\n", 1)[0]}, "(def (add a b) (+ a b))", ctx)
    assert good.passed and good.score == 1.0, good.reason
    bad = judge({"type": "checks", "value": "(check (add 2 3) => 5)"}, "(def (add a b c) (+ a b c))", ctx)
    assert not bad.passed and "Wrong number of arguments" in bad.reason


def test_checks_bind_the_function_the_prompt_asked_for(ctx: dict) -> None:
    value = {"checks": "(check (sum-list '(1 2 3)) => 6)", "function": "sum-list"}
    out = judge({"type": "checks", "value": value}, "(def (helper x) x)\n(def (my-sum xs) (apply + xs))", ctx)
    assert out.passed and "bound sum-list to the answer's my-sum" in out.reason
    named = judge({"type": "checks", "value": value}, "(def (sum-list xs) (apply + xs))\n(def (other) 0)", ctx)
    assert named.passed and "bound" not in named.reason


def test_checks_fail_when_the_program_does_not_load(ctx: dict) -> None:
    out = judge({"type": "checks", "value": "(check (f) => 1)"}, "(def (f) 1)\n(undefined-call)", ctx)
    assert out.score == 0 and "Unbound variable: undefined-call" in out.reason


def test_checks_that_do_not_read_are_a_case_error() -> None:
    with pytest.raises(CaseError, match="do not read"):
        assertion_from_dict({"type": "checks", "value": "(check (f) => 1"})


# --- output ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, passed", [
    ({"equals": "port: 8080"}, True), ({"equals": "port: 80"}, False),
    ("8080", True), ({"contains": "9090"}, False),
    ({"matches": r"port: \d{4}$"}, True), ({"matches": r"^\d+$"}, False),
])
def test_output(value: object, passed: bool, ctx: dict) -> None:
    out = judge({"type": "output", "value": value}, '(display "port: ") (displayln 8080)', ctx)
    assert out.passed is passed, out.reason


# --- claims ----------------------------------------------------------------------------------------

def test_claims_hold_when_the_annotations_are_true(ctx: dict) -> None:
    code = ("(import :std/sugar)\n(def h (hash (port 8080)))\n(hash-ref h 'port)   ; => 8080\n"
            "(hash-get h 'host)   ;; => #f\n(hash-ref h 'host)   ; error: key not found\n(list 1 \"a\")  ; => (1 \"a\")")
    out = judge({"type": "claims"}, code, ctx)
    assert out.passed and "4/4 claims hold" in out.reason, out.reason


def test_a_false_claim_fails_with_the_real_value(ctx: dict) -> None:
    code = "(def cfg '((port . 80)))\n(cdr (assq 'port cfg)) ; => 8080"
    out = judge({"type": "claims"}, code, ctx)
    assert not out.passed and "gives 80, claimed 8080" in out.reason


def test_an_error_demonstration_must_raise(ctx: dict) -> None:
    out = judge({"type": "claims"}, "(import :std/sugar)\n(def h (hash (a 1)))\n(hash-ref h 'a) ; error", ctx)
    assert not out.passed and "claimed to raise, returned 1" in out.reason


def test_repl_transcripts_are_claims(ctx: dict) -> None:
    answer = "```\n> (def (sq x) (* x x))\n> (sq 4)\n16\n> (vector? (list 1 2))\n#t\n```"
    out = judge({"type": "claims"}, answer, ctx, fenced=False)
    assert not out.passed and "1/2 claims hold" in out.reason and "gives #f, claimed #t" in out.reason


def test_a_claim_that_raises_unexpectedly_fails_and_the_run_fails(ctx: dict) -> None:
    code = "(import :std/sugar)\n(def h (hash))\n(hash-ref h 'missing) ; => #f"
    assert "Unbound key" in judge({"type": "claims"}, code, ctx).reason
    assert not judge({"type": "runs"}, code, ctx).passed


def test_an_answer_without_claims_passes_claims_without_a_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing to evaluate, so nothing runs (the library self-test scores hundreds of such answers):
    no run lands in the execution cache, while an answer with a claim does run."""
    monkeypatch.setenv("GERBIL_EVAL_CACHE", str(tmp_path))
    cached = ExecSettings(gxi=str(gerbil_home() / "bin" / "gxi"), limits=Limits(timeout=5, cpu_seconds=5))
    silent = judge({"type": "claims"}, "(def (sq x) (* x x))\n(car '())", {"execution": cached})
    assert silent.passed and "no claims to check" in silent.reason
    assert not list(tmp_path.rglob("*.json"))
    claimed = judge({"type": "claims"}, "(def (sq x) (* x x))\n(sq 3) ; => 9", {"execution": cached})
    assert claimed.passed and "1/1 claims hold" in claimed.reason
    assert len(list(tmp_path.rglob("*.json"))) == 1


# --- without Gerbil --------------------------------------------------------------------------------

def test_without_gerbil_execution_is_not_run_and_left_out_of_the_score(monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    monkeypatch.delenv("GERBIL_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    case = Case(id="c", messages=({"role": "user", "content": "q"},), category="x", tags=(),
                assertions=(assertion_from_dict({"type": "contains", "value": "hash"}),
                            assertion_from_dict({"type": "runs"}),
                            assertion_from_dict({"type": "checks", "value": "(check 1 => 1)"})))
    score = score_answer(case, "```scheme\n(hash-ref h 'a)\n```")
    assert score.passed and score.score == 1.0 and not score.not_run
    runs = score.assertions[1]
    assert runs.not_run and "not run: no Gerbil found" in runs.reason
    only_exec = Case(id="d", messages=case.messages, category="x", tags=(), assertions=case.assertions[1:])
    assert score_answer(only_exec, "```scheme\n1\n```").not_run


# --- how answers are turned into a program, and what the case's values mean -----------------------

@pytest.mark.parametrize("kind", ["runs", "claims"])
def test_an_answer_without_scheme_code_fails(kind: str, ctx: dict) -> None:
    out = judge({"type": kind}, "```python\nprint(1)\n```", ctx, fenced=False)
    assert not out.passed and out.reason == "no Scheme code to run"


def test_an_import_below_its_first_use_still_counts(ctx: dict) -> None:
    """Gerbil's expander sees a module's imports wherever they are: so does the harness."""
    out = judge({"type": "runs"}, "(displayln (hash-ref (hash (a 1)) 'a))\n(import :std/sugar)", ctx)
    assert out.passed, out.reason


def test_a_claim_on_a_definition_leaves_the_definition_in_place(ctx: dict) -> None:
    out = judge({"type": "runs"}, "(def x (+ 2 3)) ; => 5\n(displayln (* x 2))", ctx)
    assert out.passed, out.reason


def test_claims_written_the_ways_answers_write_them(ctx: dict) -> None:
    """A quoted value, a value then a remark, a number in another notation; a claim inside a
    procedure that is never called cannot be judged and is left out."""
    code = ("(list 1 2) ; => '(1 2)\n(list 1 2) ; => (1 2) (a list)\n(/ 4 2) ; => 2.0\n"
            "(def (never) (car '(1)) ; => 9\n  0)\n(def x 5)\nx ; => 5\n\"host:\" ; => \"host:\"")
    out = judge({"type": "claims"}, code, ctx)
    assert out.passed and out.reason == "5/5 claims hold", out.reason


def test_checks_take_the_best_block_when_the_blocks_fail_together(ctx: dict) -> None:
    answer = ("Either:\n```scheme\n(def (add a b) (+ a b))\n```\n"
              "or, with a helper:\n```scheme\n(def (add a b) (plus a b))\n(add 1 2)\n```\n")
    out = judge({"type": "checks", "value": "(check (add 2 3) => 5)"}, answer, ctx, fenced=False)
    assert out.passed and out.reason == "1/1 checks pass", out.reason


def test_a_claim_inside_a_claimed_expression(ctx: dict) -> None:
    code = "(list 1 ; => 1\n      2) ; => (1 2)"
    out = judge({"type": "claims"}, code, ctx)
    assert out.passed and out.reason == "2/2 claims hold", out.reason
    assert judge({"type": "runs"}, code, ctx).passed


def test_a_false_claim_names_its_line_in_the_answer(ctx: dict) -> None:
    answer = ("Set it up:\n\n```scheme\n(def cfg 1)\n(+ cfg 1) ; => 3\n```\n\nIn the REPL:\n\n"
              "```\n> (* 2 3)\n7\n```\n")
    out = judge({"type": "claims"}, answer, ctx, fenced=False)
    assert out.reason == "0/2 claims hold; line 5: (+ cfg 1) gives 2, claimed 3; line 12: (* 2 3) gives 6, claimed 7", out.reason


def test_claims_in_every_block_are_judged(ctx: dict) -> None:
    answer = "```scheme\n(def (sq x) (* x x))\n(sq 3) ; => 9\n```\nand\n```scheme\n(sq 4) ; => 16\n(sq 5) ; => 25\n```"
    out = judge({"type": "claims"}, answer, ctx, fenced=False)
    assert out.passed and out.reason == "3/3 claims hold", out.reason


def test_claims_about_a_snippets_free_variables_are_not_judged_but_an_unbound_procedure_is(ctx: dict) -> None:
    snippet = judge({"type": "claims"}, "(hash-ref h 'a) ; => 1", ctx)
    assert snippet.passed and snippet.reason.startswith("none of the 1 claims can be judged"), snippet.reason
    wrong = judge({"type": "claims"}, '(read-file "x") ; => "data"', ctx)
    assert not wrong.passed
    assert wrong.reason == '0/1 claims hold; line 2: (read-file "x") raised Unbound variable: read-file; claimed "data"', wrong.reason


def test_a_script_line_on_top_is_ignored(ctx: dict) -> None:
    out = judge({"type": "output", "value": {"equals": "hi"}}, '#!/usr/bin/env gxi\n(displayln "hi")', ctx)
    assert out.passed, out.reason


def test_blocks_past_the_eighth_are_not_run(ctx: dict) -> None:
    answer = "\n".join(f'Step {i}:\n```scheme\n(display "{i}")\n```' for i in range(1, 10))
    out = judge({"type": "output", "value": {"equals": "12345678"}}, answer, ctx, fenced=False)
    assert out.passed, out.reason


def test_a_repl_line_without_a_shown_result_is_no_claim(ctx: dict) -> None:
    answer = "```\n> (def v (vector 1 2))\n> (vector-set! v 0 9)\n> v\n#(9 2)\n```"
    out = judge({"type": "claims"}, answer, ctx, fenced=False)
    assert out.passed and out.reason == "1/1 claims hold", out.reason


def test_a_check_that_is_a_plain_predicate_must_return_true(ctx: dict) -> None:
    forms = "(= (add 2 2) 4)\n(= (add 2 2) 5)"
    out = judge({"type": "checks", "value": forms}, "(def (add a b) (+ a b))", ctx)
    assert not out.passed and out.score == 0.5
    assert out.reason == "1/2 checks pass; (= (add 2 2) 5): (= (add 2 2) 5) returned #f", out.reason


def test_a_long_predicate_is_quoted_up_to_200_characters(ctx: dict) -> None:
    exact = f'(equal? "{"a" * 185}" "b")'
    longer = f'(equal? "{"a" * 186}" "b")'
    assert (len(exact), len(longer)) == (200, 201)
    out = judge({"type": "checks", "value": exact}, "(def x 1)", ctx)
    assert out.reason == f"0/1 checks pass; {exact[:57]}...: {exact} returned #f", out.reason
    out = judge({"type": "checks", "value": longer}, "(def x 1)", ctx)
    assert out.reason == f"0/1 checks pass; {longer[:57]}...: {longer[:197]}... returned #f", out.reason


def test_function_binds_an_answer_that_defines_its_procedure_with_lambda(ctx: dict) -> None:
    value = {"checks": "(check (sum-list '(1 2 3)) => 6)", "function": "sum-list"}
    out = judge({"type": "checks", "value": value}, "(define my-sum (lambda (xs) (apply + xs)))", ctx)
    assert out.passed and "bound sum-list to the answer's my-sum" in out.reason, out.reason
    optional = judge({"type": "checks", "value": value},
                     "(def (my-sum (xs '()) (start 0)) (apply + start xs))\n(def limit 10)\n(def broken)", ctx)
    assert "bound sum-list to the answer's my-sum" in optional.reason, optional.reason  # not limit, no crash
    none = judge({"type": "checks", "value": value}, "(def total 6)", ctx)  # no procedure to bind
    assert not none.passed and "Unbound variable: sum-list" in none.reason and "bound sum-list" not in none.reason


def test_setup_binds_what_the_prompt_talks_about(ctx: dict) -> None:
    snippet = "(hash-put! h 'a 1)\n(displayln (hash-ref h 'a))"
    assert not judge({"type": "runs"}, snippet, ctx).passed
    out = judge({"type": "runs", "value": {"setup": "(def h (make-hash-table))"}}, snippet, ctx)
    assert out.passed, out.reason


@pytest.mark.parametrize("raw, message", [
    ({"type": "runs", "value": {"setup": "  "}}, "setup: needs Gerbil forms"),
    ({"type": "runs", "value": {"setup": 42}}, "setup: needs Gerbil forms"),
    ({"type": "runs", "value": {"setup": "(def h"}}, "setup: forms do not read"),
    ({"type": "runs", "value": {"setup": f"(def h {'1' * 3993})"}}, "at most 4000 characters"),
    ({"type": "checks", "value": {"checks": "(check 1 => 1)", "function": "add two"}}, "must be a Gerbil identifier"),
    ({"type": "checks", "value": {"checks": "(check (add 1 2) => 3)", "fuction": "add"}}, "needs check forms as a string"),
    ({"type": "checks", "value": {"checks": 42}}, "needs check forms as a string"),
    ({"type": "output", "value": {"equals": "a", "contains": "b"}}, "needs {equals: TEXT}"),
])
def test_case_values_that_cannot_work_are_case_errors(raw: dict, message: str) -> None:
    with pytest.raises(CaseError, match=re.escape(message)):
        assertion_from_dict(raw)


def test_a_setup_of_4000_characters_is_accepted() -> None:
    setup = f"(def h {'1' * 3992})"
    assert len(setup) == 4000 and assertion_from_dict({"type": "runs", "value": {"setup": setup}})


def test_output_quotes_at_most_80_characters_and_names_a_failed_run(ctx: dict) -> None:
    exact = judge({"type": "output", "value": "zzz"}, f'(display "{"x" * 80}")', ctx)
    assert exact.reason == f"output does not contain 'zzz': {'x' * 80!r}", exact.reason
    longer = judge({"type": "output", "value": "zzz"}, f'(display "{"x" * 81}")', ctx)
    assert longer.reason == f"output does not contain 'zzz': {'x' * 77 + '...'!r}", longer.reason
    failed = judge({"type": "output", "value": "result:"}, "(display \"result: \")\n(car '())", ctx)
    assert failed.passed and failed.reason.startswith("output contains 'result:': 'result: *** ERROR IN"), failed.reason
    assert failed.reason.endswith("(the run failed: (Argument 1, pair) PAIR expected (car '()))"), failed.reason


def test_blocks_that_fail_alone_are_each_named_with_their_line(ctx: dict) -> None:
    answer = ("First:\n```scheme\n(def length 3)\n(displayln length)\n```\n"
              "then:\n```scheme\n(displayln (lenght '(1 2)))\n```\n")
    out = judge({"type": "runs"}, answer, ctx, fenced=False)
    assert not out.passed
    assert out.reason.endswith("; alone, block at line 7: Unbound variable: lenght"), out.reason
