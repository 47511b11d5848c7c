"""Every assertion type: promptfoo's documented semantics, its quirks fixed, and the prose-vs-code rule."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from gerbil_eval.answer import analyse
from gerbil_eval.assertions.codeindex import code_index
from gerbil_eval.assertions.registry import REGISTRY, evaluate
from gerbil_eval.code_rule import CODE_TYPES
from gerbil_eval.cases.loader import Case, CaseFileError, assertion_from_dict


def run(type_: str, value=None, answer: str = "", *, base: Path = Path("."), context: dict | None = None, **extra):
    """Validate an assertion as the loader does, then evaluate it on ``answer``."""
    raw = {"type": type_, **({"value": value} if value is not None else {}), **extra}
    assertion = assertion_from_dict(raw, base, allow_python=True)
    return evaluate(assertion, answer, context or {"case": None, "model": None, "vars": {}})


def passes(type_: str, value=None, answer: str = "", **extra) -> bool:
    return run(type_, value, answer, **extra).passed


def fenced(code: str, lang: str = "scheme", prose: str = "Here you go:") -> str:
    return f"{prose}\n\n```{lang}\n{textwrap.dedent(code).strip()}\n```\n"


# --- promptfoo text assertions ---------------------------------------------------------------------

def test_equals_is_exact_text_with_no_trimming():
    assert passes("equals", "hello", "hello")
    assert not passes("equals", "hello", "hello\n")
    assert not passes("equals", "hello", "Hello")
    assert run("equals", "hello", "help").reason == "answer differs from the expected text at character 3"


def test_equals_number_value_compares_as_text():
    assert passes("equals", 42, "42")


def test_equals_object_value_is_json_deep_equality():
    assert passes("equals", {"a": [1, 2], "b": True}, '{"b": true, "a": [1, 2.0]}')
    assert not passes("equals", {"a": 1}, '{"a": true}')  # JSON true is not 1
    assert not passes("equals", {"a": 1}, '{"a": 1, "b": 2}')
    assert passes("equals", {"a": "x"}, '{"a": "x"}')  # strings inside JSON compare by value
    assert not passes("equals", {"a": "x"}, '{"a": "y"}')
    assert not passes("equals", [1, 2], "[1, 3]")  # same length, one item differs
    assert not passes("equals", ["a", "b"], '"ab"')  # a list is not a string
    assert not passes("equals", {"a": 1}, "[1]")  # nor an object a list
    assert run("equals", {"a": 1}, '{"a": 1}').reason == "answer equals the expected JSON"
    assert run("equals", {"a": 1}, '{"a": 2}').reason == "answer's JSON differs from the expected JSON"


def test_equals_boolean_value_is_the_json_word():
    assert passes("equals", True, "true") and passes("equals", False, "false")
    assert not passes("equals", True, "True")


def test_not_equals_with_object_passes_on_non_json_answer():
    """Fixed promptfoo quirk (@6a59dfe0): not-equals is the exact negation even when the answer is not JSON."""
    assert not passes("equals", {"a": 1}, "not json")
    assert passes("not-equals", {"a": 1}, "not json")


def test_contains_is_case_sensitive_and_accepts_zero():
    assert passes("contains", "hash-ref", "use hash-ref here")
    assert not passes("contains", "Hash-Ref", "use hash-ref here")
    assert passes("contains", 0, "exit code 0")
    assert passes("icontains", "Hash-Ref", "use hash-ref here")


def test_contains_any_splits_a_comma_string_like_promptfoo():
    assert passes("contains-any", "foo, hash-map ,bar", "call hash-map")
    assert run("contains-any", "foo, bar", "baz").reason == "contains none of 'foo', 'bar'"


def test_comma_string_keeps_quoted_items_whole():
    assertion = assertion_from_dict({"type": "contains-any", "value": '"a, b", c'})
    assert assertion.value == ("a, b", "c")


@pytest.mark.parametrize("text, items", [
    ("a,,b, ,c", ("a", "b", "c")),               # repeated commas and blanks skipped
    ('"say ""hi""", x', ('say "hi"', "x")),      # doubled quotes inside a quoted item
])
def test_comma_string_edge_cases_follow_promptfoos_csv_rules(text, items):
    assert assertion_from_dict({"type": "icontains-all", "value": text}).value == items


def test_comma_string_with_an_unterminated_quote_is_a_load_error():
    with pytest.raises(CaseFileError, match=re.escape("""cannot split '"a, b' on commas: a quoted field is never closed""")):
        assertion_from_dict({"type": "contains-any", "value": '"a, b'})


@pytest.mark.parametrize("text, items", [
    (",a,,", ("a",)),                             # leading, trailing and doubled commas
    ('  "a"  , b', ("a", "b")),                   # spaces around a quoted item
    ('x, "y"', ("x", "y")),                       # a quoted item last
    ('"a\\"b", "c\\\\d"', ('a"b', "c\\d")),      # backslash-escaped quote and backslash
    ('"", a', ("", "a")),                         # a quoted item may be empty
])
def test_comma_string_quoting_follows_promptfoos_rules(text, items):
    assert assertion_from_dict({"type": "icontains-all", "value": text}).value == items


@pytest.mark.parametrize("text, message", [
    ('"a" b, c', "expected a comma after the quoted field at character 4"),
    ('x, "a\\"', "a quoted field is never closed"),   # an escaped quote does not close it
    ('"a\\', "a quoted field is never closed"),       # nor does a backslash at the very end
])
def test_comma_string_with_a_broken_quoted_item_is_a_load_error(text, message):
    with pytest.raises(CaseFileError, match=re.escape(message)):
        assertion_from_dict({"type": "contains-any", "value": text})


def test_a_bad_value_is_echoed_in_the_error_cut_to_40_characters():
    """A long wrong value must not flood the one-line load error."""
    with pytest.raises(CaseFileError, match=re.escape("got ['" + "x" * 36 + "'];")):
        assertion_from_dict({"type": "parses", "value": ["x" * 36]})  # repr is exactly 40 characters
    with pytest.raises(CaseFileError, match=re.escape("got ['" + "x" * 35 + "...;")):
        assertion_from_dict({"type": "parses", "value": ["x" * 37]})


def test_contains_all_reports_what_is_missing():
    out = run("contains-all", ["def", "hash-put!", "for"], "(def h ...) (for ...)")
    assert not out.passed and out.reason == "missing 'hash-put!'"


def test_a_failing_check_scores_zero_and_a_passing_one_scores_one():
    assert (run("contains", "hash-ref", "nothing here").score, run("contains", "hash-ref", "hash-ref").score) == (0.0, 1.0)


def test_long_values_are_cut_to_40_characters_in_reasons():
    reason = run("contains", "x" * 60, "short answer").reason
    assert reason == "does not contain '" + "x" * 35 + "...'"  # 40 characters, quotes included
    assert run("contains", "x" * 38, "short answer").reason == "does not contain '" + "x" * 38 + "'"  # fits


def test_reasons_are_cut_to_300_characters():
    """``does not match /<pattern>/`` is 17 characters around the pattern."""
    assert len(run("regex", "a" * 283, "b").reason) == 300 and run("regex", "a" * 283, "b").reason.endswith("a/")
    long = run("regex", "a" * 284, "b").reason
    assert len(long) == 300 and long.endswith("a...")


def test_thresholds_of_0_and_1_are_accepted_and_others_refused():
    for threshold in (0, 1):
        assert assertion_from_dict({"type": "fuzzy", "value": "x", "threshold": threshold}).threshold == threshold
    for threshold in (-0.1, 1.5):
        with pytest.raises(CaseFileError, match="threshold"):
            assertion_from_dict({"type": "fuzzy", "value": "x", "threshold": threshold})


def test_not_contains_all_means_at_least_one_missing():
    """promptfoo: not-contains-all negates 'all present', it is not 'none present'."""
    assert passes("not-contains-all", ["a", "zzz"], "a b c")
    assert not passes("not-contains-all", ["a", "b"], "a b c")


def test_not_contains_any_means_none_present():
    assert passes("not-contains-any", ["x", "y"], "a b c")
    assert not passes("not-contains-any", ["x", "b"], "a b c")


def test_icontains_any_and_all_fold_case():
    assert passes("icontains-any", ["HASH-MAP"], "hash-map")
    assert passes("icontains-all", ["A", "b"], "a B")
    assert not passes("icontains-all", ["A", "z"], "a B")


def test_regex_searches_anywhere_without_flags():
    assert passes("regex", r"hash-(ref|get)", "use (hash-get h k)")
    assert not passes("regex", r"HASH", "hash")
    assert not passes("regex", r"^foo", "bar\nfoo")  # ^ anchors the whole answer, no multiline flag
    assert passes("regex", r"(?m)^foo", "bar\nfoo")  # inline flags are the way to ask for them


def test_invalid_regex_is_a_load_error_so_not_regex_cannot_hide_it():
    with pytest.raises(CaseFileError, match=r"value: invalid regex '\(unclosed': missing \), unterminated subpattern"):
        assertion_from_dict({"type": "not-regex", "value": "(unclosed"})


def test_starts_with_counts_leading_whitespace():
    assert passes("starts-with", "(def", "(def x 1)")
    assert not passes("starts-with", "(def", " (def x 1)")


def test_levenshtein_default_threshold_is_5():
    assert passes("levenshtein", "hash-for-each", "hash-for-eaXXXX")  # distance 4
    assert run("levenshtein", "hash-for-each", "hash-for-eXXXXX").reason == "edit distance 5 <= 5"
    assert not passes("levenshtein", "hash-for-each", "hash-XXXXXXach")


def test_levenshtein_threshold_zero_is_honoured():
    """promptfoo's `threshold || 5` turned 0 into 5; here 0 means identical."""
    assert passes("levenshtein", "abc", "abc", threshold=0)
    out = run("levenshtein", "abc", "abd", threshold=0)
    assert not out.passed and out.reason == "edit distance 1 > 0"


def test_not_levenshtein_really_negates():
    assert not passes("not-levenshtein", "abc", "abd")
    assert passes("not-levenshtein", "abc", "completely different")


# --- code extraction: prose never trips a code check -----------------------------------------------

WARNING_IN_PROSE = (
    "Unlike Racket, do not write (hash-table-walk h f) or (import :srfi/69).\n\n"
    + fenced("(import :std/iter)\n(hash-for-each (lambda (k v) (displayln k)) h)", prose="")
)


@pytest.mark.parametrize("type_, value", [
    ("not-calls", "hash-table-walk"),
    ("not-mentions", "hash-table-walk"),
    ("not-imports", ":srfi/69"),
    ("calls", "hash-for-each"),
    ("imports", ":std/iter"),
])
def test_code_checks_ignore_prose_when_the_answer_has_code_blocks(type_, value):
    assert passes(type_, value, WARNING_IN_PROSE)


def test_answer_without_fences_is_all_code():
    assert passes("calls", "hash-for-each", "just (hash-for-each f h) inline")


def test_shell_and_json_blocks_are_not_code():
    answer = fenced("gxi -e '(hash-table-walk h f)'", "bash") + fenced('{"x": "(hash-set! h 1 2)"}', "json")
    assert not passes("calls-any", ["hash-table-walk", "hash-set!"], answer)
    # and a not- check has nothing to inspect there, so it earns nothing either
    assert run("not-calls-any", ["hash-table-walk"], answer).reason == "no Scheme code to inspect"


def test_fence_variants_are_recognised():
    from gerbil_eval.answer import code_blocks

    answer = ("1. First:\n   ```scheme title=x\n   (a)\n   ```\n"
              "~~~gerbil\n(b)\n~~~\n"
              "````\n(c \"```\")\n```\n(d)\n````\n")
    blocks = code_blocks(answer)
    assert [(b.lang, b.text, b.line) for b in blocks] == [
        ("scheme", "   (a)", 2), ("gerbil", "(b)", 5), ("", '(c "```")\n```\n(d)', 8)]
    assert passes("calls", ["a", "b", "c"], answer)


def test_crlf_answers_close_their_fences():
    answer = "Use:\r\n```scheme\r\n(hash-map f h)\r\n```\r\nNot (hash-table-walk h f).\r\n"
    assert passes("not-calls", "hash-table-walk", answer)
    assert passes("calls", "hash-map", answer)


def test_unclosed_last_fence_still_counts_as_code():
    assert passes("calls", "hash-map", "Try:\n```scheme\n(hash-map f h)")


# --- calls / mentions ------------------------------------------------------------------------------

def test_calls_is_the_head_of_a_form_only():
    code = fenced("""
        (apply hash-ref args)          ; hash-ref is an argument here
        (display "(hash-set! h k v)")  ; in a string
        #;(hash-update! h k f)         ; datum comment
        '(hash-clear! h)               ; quoted data
        [hash-copy h]                  ; [..] is @list, not a call
        (char=? c #\\()                ; a character, not an open paren
        """)
    assert passes("calls-any", ["apply", "display"], code)
    for name in ("hash-ref", "hash-set!", "hash-update!", "hash-clear!", "hash-copy"):
        assert passes("not-calls", name, code), name
    assert passes("mentions", ["hash-ref", "hash-copy", "hash-clear!"], code)
    assert passes("not-mentions-any", ["hash-set!", "hash-update!"], code)


@pytest.mark.parametrize("code, called, not_called", [
    ("(def (main args) (displayln args))", ["def", "displayln"], ["main"]),
    ("(def ((adder n) x) (+ n x))", ["+"], ["adder"]),
    ("(def (f (x (default-x)) key: (k 1) . rest) x)", ["default-x"], ["f", "x", "k"]),
    ("(lambda (k v) (hash-put! t k v))", ["lambda", "hash-put!"], ["k"]),
    ("(case-lambda ((x) (one x)) ((x y) (two x y)))", ["one", "two"], ["x"]),
    ("(def* area ((r) (* r r)) ((w h) (* w h)))", ["*"], ["r", "w"]),
    ("(let ((list (iota 3)) (str (get))) (length list))", ["iota", "get", "length"], ["list", "str"]),
    ("(let (x (compute)) x)", ["compute"], ["x"]),
    ("(let loop ((i 0)) (when (< i 3) (loop (+ i 1))))", ["loop", "when", "<"], ["i"]),
    ("(for ((values k v) (in-hash h)) (show k))", ["for", "in-hash", "show"], ["values"]),
    ("(for/fold ((acc 0)) ((x xs)) (+ acc x))", ["+"], ["acc", "x"]),
    ("(for ([k . v] (get-alist)) (show k))", ["get-alist", "show"], ["k"]),
    ("(for ((x (get-xs)) (y (get-ys))) (show x y))", ["get-xs", "get-ys", "show"], ["x", "y"]),
    ("(match v ((list a b) (pair a b)) ([x . y] (cons x y)))", ["match", "pair", "cons"], ["list"]),
    ("(case c ((a b) (vowel)) (else (other)))", ["vowel", "other"], ["a", "else"]),
    ("(cond (done? (finish)) ((ready? x) (go x)) (else (wait)))", ["finish", "ready?", "go", "wait"], ["done?", "else"]),
    ("(defstruct point (x y))", ["defstruct"], ["x"]),
    ("(defrules swap! () ((_ a b) (let ((tmp a)) (set! a b) (set! b tmp))))", ["set!"], ["_", "tmp"]),
    ("(syntax-case stx () ((_ e) #'(begin e)))", ["syntax-case", "begin"], ["_"]),
    ("(do ((i 0 (+ i 1))) ((= i 5)) (display i))", ["+", "=", "display"], ["i"]),
    ("(match (parse x) ((f y) (g y)))", ["match", "parse", "g"], ["f"]),   # the matched expression is code
    ("(case (kind x) ((1) (one)))", ["case", "kind", "one"], ["x"]),
    ("(let loop ((i 0)))", ["let"], ["i", "loop"]),                       # even without a body
    ("(syntax-rules (else) ((_ a) (f a)))", ["syntax-rules", "f"], ["else"]),  # literals are names
    ("(syntax-case stx (else) ((_ a) (f a)))", ["syntax-case", "f"], ["else"]),
    ("(ast-case (get-stx) (else) ((_ a) (f a)))", ["ast-case", "get-stx", "f"], ["else"]),
    ("(case-lambda ((a (b (dflt 1))) (g a b)))", ["dflt", "g"], ["a", "b"]),  # a default is code
])
def test_calls_skip_formals_bindings_and_patterns(code, called, not_called):
    """Naming a helper or a variable like a forbidden procedure is not calling it."""
    assert passes("calls", called, code)
    assert passes("not-calls-any", not_called, code)
    assert passes("mentions", not_called, code)


def test_a_bare_binding_form_is_read_without_error_and_its_head_is_mentioned():
    """Hostile answers: ``(lambda)`` alone must score, not crash; ``cond`` is a symbol of its form."""
    assert passes("calls", "lambda", "(lambda)")
    assert passes("mentions", "cond", "(cond ((f x) 1))")


def test_quasiquoted_forms_are_data_but_unquoted_ones_are_code():
    code = "(def (page x) `(html (body ,(render x) ,@(map item xs))))"
    assert passes("calls", ["render", "map"], code)
    assert passes("not-calls-any", ["html", "body", "item"], code)
    assert passes("mentions", ["html", "item"], code)


def test_calls_list_means_all_and_names_what_is_missing_with_near_misses():
    out = run("calls", ["hash-for-each", "hash-map"], "(hash-for-each f h) (hash-walk h f)")
    assert not out.passed
    assert out.reason == "does not call hash-map (code has: hash-walk)"


def test_calls_any_failure_reason_lists_candidates_and_near_misses():
    out = run("calls-any", ["hash-for-each", "hash-map"], fenced("(hash-walk h f)"))
    assert out.reason == "calls none of hash-for-each, hash-map (code has: hash-walk)"


def test_not_calls_any_fails_naming_the_forbidden_call():
    out = run("not-calls-any", ["hash-table-walk", "maphash"], "(maphash f h)")
    assert not out.passed and out.score == 0.0 and out.reason == "calls maphash"


def test_mentions_compares_whole_symbols():
    answer = "(hash-ref/default h k (lambda () 0))"
    assert passes("not-mentions", "hash-ref", answer)
    assert passes("mentions", "hash-ref/default", answer)


def test_mentions_sees_keywords_only_when_asked_with_their_colon():
    answer = "(make-hash-table weak-keys: #t port: 80)"
    assert passes("mentions", ["weak-keys:", "port:"], answer)
    assert passes("not-mentions-any", ["weak-keys", "port"], answer)


def test_symbol_value_may_list_several_names_with_commas():
    assertion = assertion_from_dict({"type": "calls-any", "value": "hash-map, hash-for-each"})
    assert assertion.value == ("hash-map", "hash-for-each")


# --- imports / defines -----------------------------------------------------------------------------

IMPORTS = fenced("""
    (import :std/iter
            (only-in :std/sugar try catch)
            (except-in :std/misc/list flatten)
            (rename-in :std/text/json (read-json rj))
            (prefix-in :std/net/request http.)
            (group-in :std/misc hash string)
            "./util")
    """)


@pytest.mark.parametrize("module", [":std/iter", "std/iter", ":std/sugar", ":std/misc/list", ":std/text/json",
                                    ":std/net/request", ":std/misc/hash", ":std/misc/string", "./util"])
def test_imports_sees_modules_in_every_import_spec(module):
    assert passes("imports", module, IMPORTS)


def test_imports_ignores_symbols_that_are_not_modules_of_the_spec():
    assert passes("not-imports-any", ["try", "flatten", "read-json", "http.", ":std/iterx"], IMPORTS)


def test_imports_any_and_negation():
    assert passes("imports-any", [":srfi/1", ":std/iter"], IMPORTS)
    assert passes("not-imports-any", [":srfi/1", ":srfi/69"], IMPORTS)


def test_imports_count_exactly_the_modules_each_spec_names_in_order():
    """No selector, phase word, imported name or prefix is ever taken for a module."""
    from gerbil_eval.answer import analyse
    from gerbil_eval.assertions.gerbil import imported_modules

    code = ("(import (only-in :std/sugar when-let) (except-in :std/iter for) (group-in :std misc/list sort (x))"
            " (for-syntax :std/stxutil :std/stxparam) :gerbil/gambit (only-in))")
    assert list(imported_modules(analyse(code))) == [
        "std/sugar", "std/iter", "std/misc/list", "std/sort", "std/stxutil", "std/stxparam", "gerbil/gambit"]


def test_defines_counts_exactly_the_names_each_definition_binds_in_order():
    """Parameters, values and struct fields are not definitions; a struct adds its accessors."""
    from gerbil_eval.answer import analyse
    from gerbil_eval.assertions.gerbil import defined_names

    code = ("(define x) (def (f a) a) (defvalues (q r) (values 1 2)) (define-values (a . rest) (values 1 2))"
            " (defstruct point (x y)) (def n 1)")
    assert list(defined_names(analyse(code))) == [
        "x", "f", "q", "r", "a", "rest", "point", "make-point", "point?", "point-x", "point-x-set!", "point-y",
        "point-y-set!", "n"]


DEFS = fenced("""
    (def x 1)
    (def (f a . rest) a)
    (def ((curried a) b) b)
    (define (g) 2)
    (defstruct point (x y))
    (defclass (colored-point point) (color))
    (defmethod {describe point} (lambda (self) "p"))
    (defvalues (q r) (values 1 2))
    (defrules my-when () ((_ c e) (if c e #!void)))
    (defsyntax (my-mac stx) #'1)
    (deferror-class MyError () my-error?)
    """)


@pytest.mark.parametrize("name", ["x", "f", "curried", "g", "point", "make-point", "point?", "point-x",
                                  "point-y-set!", "colored-point", "colored-point-color", "describe", "q", "r",
                                  "my-when", "my-mac", "MyError"])
def test_defines_recognises_each_definition_form(name):
    assert passes("defines", name, DEFS)


def test_defines_does_not_count_uses_or_parameters():
    assert passes("not-defines-any", ["a", "rest", "self", "stx", "values", "lambda"], DEFS)


# --- form patterns ---------------------------------------------------------------------------------

def test_form_wildcards_catch_arity_near_misses():
    three_args = "(hash-get h k #f)"
    assert passes("form", "(hash-get _ _ _ ...)", three_args)
    assert not passes("form", "(hash-get _ _ _ ...)", "(hash-get h k)")
    out = run("not-form", "(hash-get _ _ _ ...)", three_args)
    assert not out.passed and out.reason == "(hash-get h k #f) matches (hash-get _ _ _ ...)"


def test_form_ellipsis_matches_zero_or_more_in_the_middle():
    assert passes("form", "(for (... (_ (in-range _)) ...) ...)", "(for ((x xs) (i (in-range 3))) (display i))")
    assert passes("form", "(f ... last)", "(f last)")
    assert not passes("form", "(f ... last)", "(f a b)")


def test_form_nested_pattern_matches_argument_order():
    assert passes("form", "(hash-for-each (lambda _ ...) _)", "(hash-for-each (lambda (k v) (p k)) h)")
    assert not passes("form", "(hash-for-each (lambda _ ...) _)", "(hash-for-each h (lambda (k v) (p k)))")


def test_form_failure_shows_forms_with_the_same_head():
    out = run("form", "(hash-for-each (lambda _ ...) _)", "(hash-for-each h (lambda (k v) k))")
    assert out.reason == "no form matches (hash-for-each (lambda _ ...) _) (code has: (hash-for-each h (lambda (k v) k)))"


def test_form_round_pattern_matches_brackets_but_bracket_pattern_only_brackets():
    racket_let = "(let ([x 1]) x)"
    assert passes("form", "(let ((_ _)) ...)", racket_let)
    assert passes("form", "(let ([_ _] ...) ...)", racket_let)
    assert not passes("form", "(let ([_ _] ...) ...)", "(let ((x 1)) x)")


def test_form_literals_match_by_value_and_type():
    assert passes("form", '(connect "h" port: 80)', '(connect "h" port: 80)')
    assert not passes("form", "(connect _ port: 80)", '(connect "h" port: "80")')
    assert not passes("form", "(f #t)", "(f 1)")


def test_form_any_and_all():
    code = "(hash-put! h k v) (hash-remove! h k)"
    assert passes("form", ["(hash-put! _ _ _)", "(hash-remove! _ _)"], code)
    assert not passes("form", ["(hash-put! _ _ _)", "(hash-clear! _)"], code)
    assert passes("form-any", ["(hash-clear! _)", "(hash-remove! _ _)"], code)


@pytest.mark.parametrize("pattern, message", [
    ("(hash-get _ _", "does not read: line 1: '(' is never closed"),
    ("hash-get", "must be one bracketed form"),
    ("(a) (b)", "must be one bracketed form"),
])
def test_bad_form_pattern_is_a_load_error(pattern, message):
    with pytest.raises(CaseFileError, match=re.escape(message)):
        assertion_from_dict({"type": "form", "value": pattern})


@pytest.mark.parametrize("value", [[], [1], ["(f _)", 2]])
def test_form_value_must_be_pattern_strings(value):
    with pytest.raises(CaseFileError, match=re.escape("needs a pattern string or a list of them")):
        assertion_from_dict({"type": "form", "value": value})


# --- parses / code-block ---------------------------------------------------------------------------

def test_parses_accepts_tricky_but_valid_gerbil():
    code = fenced(r"""
        #!/usr/bin/env gxi
        (import :std/iter)
        #| block #| nested |# |#
        (def (f x (y 2) key: (k #f) . rest)
          #;(debug x)
          (let ((c #\() (s "a ) ; b") (v #u8(1 2)) (w #(1 2)))
            `(,x ,@rest {m obj} [1 2] #!void |odd sym| 'q #'stx)))
        """)
    out = run("parses", None, code)
    assert out.passed and out.reason == "1 code block read completely"


def test_parses_fails_naming_block_line_and_problem():
    answer = fenced("(ok)") + "\nand\n" + fenced("(def (f x)\n  (g x)")
    out = run("parses", None, answer)
    assert not out.passed
    assert out.reason == "code block at line 10 does not read: line 1: '(' is never closed"


def test_parses_names_the_answer_not_a_block_when_the_answer_has_no_fence():
    out = run("parses", None, "Define it like this: (def (f x)\n  (g x)")
    assert not out.passed
    assert out.reason == "the answer does not read: line 1: '(' is never closed"
    assert run("parses", None, "(def (f x) x)").reason == "the answer reads completely"


def test_a_closing_fence_on_the_last_line_ends_its_block_without_a_trailing_newline():
    from gerbil_eval.answer import CodeBlock, code_blocks

    assert code_blocks("```scheme\n(a)\n```") == (CodeBlock("scheme", "(a)", 1),)
    assert code_blocks("See:\n```\n(a)\n```\n\n```scheme\n(b)\n```") == (
        CodeBlock("", "(a)", 2), CodeBlock("scheme", "(b)", 6))


def test_parses_skips_blocks_that_are_clearly_not_scheme():
    answer = fenced("(ok)") + fenced("$ gxi (oops", "console") + fenced('{"a": [1,', "json")
    assert passes("parses", None, answer)


def test_parses_fails_when_there_is_no_scheme_code():
    assert run("parses", None, "").reason == "no Scheme code to read"
    assert not passes("parses", None, fenced("echo hi", "sh"))


def test_code_block_needs_a_fence():
    assert passes("code-block", None, fenced("(x)"))
    assert run("code-block", None, fenced("(x)") + fenced("(y)")).reason == "has 2 fenced code blocks"
    assert not passes("code-block", None, "(x) inline only")
    assert passes("not-code-block", None, "prose only")


# --- fuzzy -----------------------------------------------------------------------------------------

def test_fuzzy_scores_fractionally_and_passes_at_threshold():
    exact = run("fuzzy", "hash-for-each", "then call hash-for-each on it")
    assert exact.passed and exact.score == 1.0
    near = run("fuzzy", "hash-for-each", "then call hash-for-eech on it")
    assert 0.8 <= near.score < 1.0 and near.passed
    far = run("fuzzy", "hash-for-each", "something unrelated entirely")
    assert far.score < 0.8 and not far.passed
    assert not passes("fuzzy", "hash-for-each", "then call hash-for-eech on it", threshold=0.99)


def test_fuzzy_score_is_the_share_of_matching_characters_and_the_default_threshold_is_inclusive():
    """One changed character in a 13-character name: 2 edits over 26 characters, 24/26 similar."""
    assert run("fuzzy", "hash-for-each", "call hash-for-eech").score == pytest.approx(24 / 26)
    at_limit = run("fuzzy", "abcde", "say abxde now")  # 8/10 = exactly the default 0.8
    assert at_limit.score == pytest.approx(0.8) and at_limit.passed
    assert at_limit.reason == "similarity 0.80 >= 0.8"


def test_not_fuzzy_negates_score_exactly():
    base = run("fuzzy", "hash-for-each", "call hash-for-eech")
    neg = run("not-fuzzy", "hash-for-each", "call hash-for-eech")
    assert neg.passed is not base.passed and neg.score == pytest.approx(1 - base.score)


# --- python ----------------------------------------------------------------------------------------

CHECKS = '''
def is_short(answer, context):
    return len(answer) < 10

def half(answer, context):
    return 0.5

def detailed(answer, context):
    return {"pass": "ok" in answer, "score": 0.25, "reason": "model=" + str(context["model"])}

def explodes(answer, context):
    raise RuntimeError("boom")

def odd(answer, context):
    return "yes"

def sees_case(answer, context):
    return context["case"].id == "c1" and context["vars"] == {"k": 1}

def constant(answer, context):
    import ast
    return ast.literal_eval(answer)  # the test passes the value to return as the answer text
'''


@pytest.fixture
def checks_dir(tmp_path: Path) -> Path:
    (tmp_path / "my_checks.py").write_text(CHECKS)
    return tmp_path


def test_python_bool_float_and_mapping_results(checks_dir):
    assert run("python", "my_checks:is_short", "short", base=checks_dir).passed
    half = run("python", "my_checks:half", "x", base=checks_dir)
    assert half.passed and half.score == 0.5  # default threshold 0.5
    assert not run("python", "my_checks:half", "x", base=checks_dir, threshold=0.6).passed
    out = run("python", "my_checks:detailed", "ok", base=checks_dir, context={"case": None, "model": "m1", "vars": {}})
    assert (out.passed, out.score, out.reason) == (True, 0.25, "model=m1")


def test_python_function_gets_case_model_and_vars(checks_dir):
    case = Case(id="c1", messages=(), category="x", tags=(), assertions=(), source=str(checks_dir / "c.yaml"))
    out = run("python", "my_checks:sees_case", "a", base=checks_dir, context={"case": case, "model": "m", "vars": {"k": 1}})
    assert out.passed


def test_python_errors_and_bad_returns_fail_with_a_reason(checks_dir):
    boom = run("python", "my_checks:explodes", "a", base=checks_dir)
    assert not boom.passed and boom.reason == "python check my_checks:explodes raised RuntimeError: boom"
    odd = run("python", "my_checks:odd", "a", base=checks_dir)
    assert not odd.passed and "returned 'yes'; expected a bool" in odd.reason
    for spec in ("my_checks:explodes", "my_checks:odd"):  # a broken check is no evidence either way
        negated = run("not-python", spec, "a", base=checks_dir)
        assert (negated.passed, negated.score) == (False, 0.0) and spec in negated.reason


@pytest.mark.parametrize("returned, passed, score, reason", [
    ("0.4", False, 0.4, "python score 0.40 < 0.5"),       # below the default threshold 0.5
    ("0", False, 0.0, "python score 0.00 < 0.5"),         # 0 is a score, not a bad return
    ("1", True, 1.0, "python score 1.00 >= 0.5"),
    ("{'pass': False}", False, 0.0, "python check returned pass=False"),  # score defaults to the verdict
    ("{'pass': True}", True, 1.0, "python check returned pass=True"),
    ("{'pass': False, 'score': 0}", False, 0.0, "python check returned pass=False"),
])
def test_python_numbers_and_verdicts_score_as_documented(checks_dir, returned, passed, score, reason):
    out = run("python", "my_checks:constant", returned, base=checks_dir)
    assert (out.passed, out.score, out.reason) == (passed, score, reason)


@pytest.mark.parametrize("returned", ["1.5", "-0.1", "{'pass': True, 'score': 2}", "{'pass': True, 'score': -1}",
                                      "{'pass': True, 'score': 'high'}", "{'pass': True, 'score': True}"])
def test_python_scores_outside_0_to_1_fail_as_bad_returns(checks_dir, returned):
    out = run("python", "my_checks:constant", returned, base=checks_dir)
    assert (out.passed, out.score) == (False, 0.0) and "expected a bool, a number in [0, 1]" in out.reason


@pytest.mark.parametrize("spec, message", [
    ("no_such_module_xyz:f", "no file no_such_module_xyz.py in the case file's folder"),
    ("my_checks:missing", "my_checks.py has no function 'missing'"),
    ("my_checks", "needs 'module:function'"),
    ("builtins:exec", "no file builtins.py in the case file's folder"),
    ("os:system", "no file os.py"),
    ("/tmp/evil:f", "absolute paths are not allowed"),
    ("C:/evil.py:f", "absolute paths are not allowed"),   # a Windows drive
    ("../my_checks:is_short", "'..' is not allowed"),
    ("sub/../../x.py:f", "'..' is not allowed"),
])
def test_python_module_must_be_a_file_under_the_case_folder(checks_dir, spec, message):
    """With --allow-python a python check still names a .py file in or under the case folder:
    never an importable module (builtins:exec would run the answer), an absolute path or '..'."""
    with pytest.raises(CaseFileError, match=re.escape(message)):
        assertion_from_dict({"type": "python", "value": spec}, checks_dir, allow_python=True)


def test_python_file_in_a_subfolder_by_path_or_dotted_name(checks_dir):
    (checks_dir / "sub").mkdir()
    (checks_dir / "sub" / "more.py").write_text("def ok(answer, context):\n    return True\n")
    for spec in ("sub/more.py:ok", "sub.more:ok"):
        assert run("python", spec, "x", base=checks_dir).passed


def test_python_symlink_out_of_the_case_folder_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "evil.py").write_text("def f(answer, context):\n    return True\n")
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "evil.py").symlink_to(outside / "evil.py")
    with pytest.raises(CaseFileError, match="resolves outside the case file's folder"):
        assertion_from_dict({"type": "python", "value": "evil:f"}, cases, allow_python=True)


def test_python_is_refused_without_allow_python_and_nothing_is_imported(tmp_path):
    """A case file is data: without the opt-in a python check is a load error, and the module is not run."""
    marker = tmp_path / "imported"
    (tmp_path / "checks.py").write_text(f"open({str(marker)!r}, 'w').close()\ndef f(answer, context):\n    return True\n")
    with pytest.raises(CaseFileError, match="pass --allow-python"):
        assertion_from_dict({"type": "python", "value": "checks:f"}, tmp_path)
    assert not marker.exists()
    assertion_from_dict({"type": "python", "value": "checks:f"}, tmp_path, allow_python=True)
    assert marker.exists()


# --- value shapes and negation ---------------------------------------------------------------------

@pytest.mark.parametrize("raw, message", [
    ({"type": "calls", "value": 3}, "needs a name or a list of names, got 3"),
    ({"type": "calls", "value": ["a b"]}, "needs names without spaces"),
    ({"type": "calls"}, "needs a name or a list of names, got None"),
    ({"type": "contains", "value": ""}, "needs a non-empty string"),
    ({"type": "contains-any", "value": []}, "needs at least one item"),
    ({"type": "calls-any", "value": ","}, "needs at least one item"),
    ({"type": "parses", "value": "x"}, "takes no value"),
    ({"type": "code-block", "value": True}, "takes no value"),
    ({"type": "equals"}, "needs a value"),
    ({"type": "calls", "value": "x", "threshold": 0.5}, "threshold: does not apply to calls"),
    ({"type": "fuzzy", "value": "x", "threshold": 2}, "threshold: must be a number between 0 and 1"),
    ({"type": "levenshtein", "value": "x", "threshold": -1}, "threshold: must be a number 0 or more"),
    ({"type": "calls", "value": "x", "weight": -1}, "weight: must be a number 0 or more"),
    ({"type": "calls-ary", "value": "x"}, "unknown assertion type 'calls-ary' \\(did you mean 'calls-any'\\?\\)"),
    ({"type": "calls", "value": "x", "vaule": 1}, "unknown assertion key 'vaule' \\(did you mean 'value'\\?\\)"),
])
def test_value_shapes_are_checked_at_load_time(raw, message):
    with pytest.raises(CaseFileError, match=message):
        assertion_from_dict(raw)


SAMPLE_VALUES = {
    "equals": "x", "contains": "hash", "icontains": "HASH", "contains-any": ["hash", "zz"],
    "contains-all": ["hash", "zz"], "icontains-any": ["HASH"], "icontains-all": ["HASH", "Z"], "regex": "h.sh",
    "starts-with": "(", "levenshtein": "(hash-map f h)", "imports": ":std/iter", "imports-any": [":std/iter"],
    "calls": "hash-map", "calls-any": ["hash-map", "x"], "mentions": "h", "mentions-any": ["h"], "defines": "f",
    "defines-any": ["f"], "form": "(hash-map _ _)", "form-any": ["(hash-map _ ...)"], "parses": None,
    "code-block": None, "fuzzy": "hash-map", "resolves": None, "argument-order": None,
    "facts": ["hash-ref-missing-raises"],
}


@pytest.mark.parametrize("answer", ["(hash-map f h)", "```scheme\n(def (f) (hash-map f h))\n```", "nothing (", ""])
@pytest.mark.parametrize("type_", sorted(SAMPLE_VALUES))
def test_not_prefix_negates_pass_and_score_exactly(type_, answer):
    base = run(type_, SAMPLE_VALUES[type_], answer)
    neg = run("not-" + type_, SAMPLE_VALUES[type_], answer)
    if type_ in CODE_TYPES and answer in ("nothing (", ""):  # no Scheme code: a not- check earns nothing
        assert (neg.passed, neg.score, neg.reason) == (False, 0.0, "no Scheme code to inspect")
        return
    assert neg.passed is (not base.passed)
    assert neg.score == pytest.approx(1.0 - base.score)
    # the same fact; near misses from the code are only added where the finding is a failure
    assert neg.reason == base.reason or base.reason.startswith(neg.reason + " (code has")


def test_long_reasons_are_cut_for_the_terminal():
    from gerbil_eval.assertions.registry import MAX_REASON

    names = [f"missing-procedure-{i}" for i in range(40)]
    out = run("calls-any", names, "(x)")
    assert len(out.reason) == MAX_REASON and out.reason.endswith("...")


def test_passing_negations_carry_no_near_miss_noise():
    code = "(hash-walk h f)"
    assert run("not-calls-any", ["hash-for-each", "maphash"], code).reason == "calls none of hash-for-each, maphash"
    assert run("not-form", "(hash-walk _ _ _)", code).reason == "no form matches (hash-walk _ _ _)"
    assert run("form", "(hash-walk _ _ _)", code).reason == "no form matches (hash-walk _ _ _) (code has: (hash-walk h f))"
    two = "(hash-walk h f) (hash-walk g k)"  # one near miss is shown, not every one
    assert run("form", "(hash-walk _ _ _)", two).reason == "no form matches (hash-walk _ _ _) (code has: (hash-walk h f))"


def test_every_registered_type_is_covered_by_the_negation_test():
    """The execution types run gxi: tests/test_execution_assertions.py negates them with a real run."""
    from gerbil_eval.execution.runinfo import EXECUTION_TYPES

    assert set(REGISTRY) - {"python"} - EXECUTION_TYPES == set(SAMPLE_VALUES)


@pytest.mark.parametrize("pattern, code, expected", [
    ("(string-split _ _string)", '(string-split s ";")', True),
    ("(string-split _ _string)", "(string-split s #\\;)", False),
    ("(string-split _ _char)", "(string-split s #\\;)", True),
    ("(assgetq _symbol '_)", "(assgetq alist 'key)", True),
    ("(assgetq _ _quoted)", "(assgetq 'key alist)", False),
    ("(f _quoted)", "(f 'x)", True),
    ("(f _quoted)", "(f '\"s\")", True),
    ("(f _quoted)", "(f [quote x])", False),
    ("(expt _ 2)", "(expt x 2.0)", True),                 # numbers compare by value
    ("(f 1)", "(f #t)", False),                           # but a boolean is not a number
    ("(f _number _boolean _keyword)", "(f 1/2 #f port:)", True),
    ("(f _number)", "(f #t)", False),
    ("(let _list ...)", "(let [x 1] x)", True),
    ("(let _list ...)", "(let x 1)", False),
])
def test_typed_wildcards_match_one_datum_of_their_kind(pattern, code, expected):
    assert passes("form", pattern, code) is expected


def test_printed_objects_from_repl_output_read_as_one_datum():
    answer = fenced("> (make-point 1 2)\n#<point #12 x: 1 y: 2>\n> string->symbol\n#<procedure #2 string->symbol>")
    assert passes("parses", None, answer)
    assert passes("not-mentions", "string->symbol>", answer)


@pytest.mark.parametrize("lang", ["racket", "clojure", "elisp", "common-lisp"])
def test_blocks_of_other_lisps_are_not_code(lang):
    answer = fenced("(hash-set! h 'a 1)", lang, prose="In other Lisps:") + fenced("(hash-put! h 'a 1)")
    assert passes("not-calls", "hash-set!", answer)
    assert passes("calls", "hash-put!", answer)


def test_untagged_shell_session_block_is_not_code():
    answer = fenced("$ gerbil build   # builds .gerbil/bin/hello\n$ gxi -e '(displayln 1)'", "") + fenced("(def x 1)")
    assert passes("parses", None, answer)
    assert passes("not-calls", "displayln", answer)


def test_an_execution_check_without_gerbil_is_not_run_negated_or_not(tmp_path):
    """Not run means neither pass nor fail: a `not-runs` must not turn "no Gerbil" into a pass."""
    from gerbil_eval.execution.executor import ExecSettings

    context = {"case": None, "model": None, "vars": {}, "execution": ExecSettings(gxi=str(tmp_path / "no-gxi"))}
    for type_ in ("runs", "not-runs"):
        out = run(type_, None, fenced("(displayln 1)"), context=context)
        assert (out.passed, out.score, out.not_run) == (False, 0.0, True)
        assert out.reason.startswith("not run: --gxi ") and "not an executable file" in out.reason


# --- near misses in failing reasons, and which brackets a form pattern matches --------------------

def test_near_miss_hint_names_the_three_closest_calls_best_first():
    code = fenced("(hash-put! h 'a 1)\n(hash-update! h 'a 1+)\n(hash-get h 'a)\n(hash-key? h 'a)\n(hash-remove! h 'a)")
    assert run("calls", ["hash-ref"], code).reason == "does not call hash-ref (code has: hash-get, hash-key?, hash-remove!)"


def test_near_miss_hint_needs_names_at_least_60_percent_alike():
    # hash-update! is 60% like hash-ref: just close enough; hash-put! (58.8%) is not
    code = fenced("(hash-put! h 'a 1)\n(hash-update! h 'a 1+)")
    assert run("calls", ["hash-ref"], code).reason == "does not call hash-ref (code has: hash-update!)"


def test_near_miss_hint_leaves_out_a_name_just_under_60_percent_alike():
    # list->hash-table is 59.3% like hash-values
    code = fenced("(def h (list->hash-table '((a . 1))))\n(hash-keys h)")
    assert run("calls", ["hash-values"], code).reason == "does not call hash-values (code has: hash-keys)"


def test_round_pattern_does_not_match_a_method_call_in_braces():
    assert not passes("form", "(draw _)", fenced("{draw shape}"))  # Gerbil's {method obj} call, not (draw obj)
    assert not passes("form", "{draw _}", fenced("[draw shape]"))
    assert passes("form", "{draw _}", fenced("{draw shape}"))


# --- what the code calls: heads that are not names, vector literals, destructuring for bindings ----

def test_a_computed_head_is_no_named_call_but_the_call_computing_it_is():
    assert list(code_index(analyse("((make-adder 1) 2)")).calls) == ["make-adder"]


def test_vector_literals_are_data_not_calls():
    code = fenced("(def v #((f 1) 2))")
    assert passes("not-calls", "f", code) and not passes("calls", "f", code)


def test_for_with_a_destructuring_values_pattern_still_calls_its_iterator():
    code = fenced("(for ((values name [x y]) (in-hash points)) (displayln name \" \" x \" \" y))")
    assert passes("calls", ["in-hash", "displayln"], code)
    assert passes("not-calls", "values", code)


def test_a_pattern_headed_by_a_wildcard_shows_no_near_misses():
    # _ is no head name: the macro clause (_ c body) is not a "form with the same head"
    code = fenced("(defrules my-unless () ((_ c body) (when (not c) body)))")
    assert run("form", "(_ _ _ _ _)", code).reason == "no form matches (_ _ _ _ _)"
