"""Claims checked against facts (``facts``), argument order, and the no-credit-without-code rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gerbil_eval.assertions.registry import evaluate
from gerbil_eval.cases.loader import CaseFileError, assertion_from_dict, load_cases
from gerbil_eval.code_rule import asks_for_code, reads_as_scheme
from gerbil_eval.factcheck import FACTS
from gerbil_eval.reader import read
from gerbil_eval.scoring.score import NO_CODE, score_answer

CASES = load_cases(Path(__file__).resolve().parents[1] / "cases")
CODE_CASES = [c for c in CASES if asks_for_code(c.assertions)]


def check(facts: list[str], answer: str):
    return evaluate(assertion_from_dict({"type": "facts", "value": facts}), answer, {})


# --- the four facts of the original verify prompts, in many wordings -----------------------------------

@pytest.mark.parametrize("wrong", [
    "hash-ref returns #f for a missing key.",
    "`hash-ref` gives back `#f` when the key is absent.",
    "If the key isn't there, hash-ref simply returns void.",
    "Both behave the same; hash-ref also yields #f on a missing key",
    "```scheme\n(hash-ref h 'missing)   ; => #f\n```",
    "```scheme\n(hash-ref h 'zz) ;;=> #!void\n```",
    "```scheme\n> (hash-ref h 'zz)\n#f\n```",
])
def test_hash_ref_returning_nothing_is_caught(wrong):
    out = check(["hash-ref-missing-raises"], wrong)
    assert not out.passed and "raises" in out.reason


@pytest.mark.parametrize("right", [
    "hash-ref raises an error for a missing key unless you pass a default.",
    "`hash-ref` does not return #f for a missing key: it signals an error.",
    "Unlike hash-ref, which raises, hash-get returns #f.",
    "`(hash-ref h k #f)` returns #f when the key is missing, because #f is the default.",
    "hash-ref with a default returns the default, e.g. #f.",
    "```scheme\n(hash-ref h 'missing)   ; => error: unbound key\n(hash-ref h 'a)  ; => 1\n```",
    "```scheme\n> (hash-ref h 'zz)\n*** ERROR IN (stdin)@2.1 -- Unbound key\n```",
])
def test_correct_statements_about_hash_ref_pass(right):
    assert check(["hash-ref-missing-raises"], right).passed


@pytest.mark.parametrize("wrong, ok", [
    ("hash-get raises an error when the key is missing.", False),
    ("Careful: `hash-get` throws on unknown keys.", False),
    ("```scheme\n(hash-get h 'zz)  ; error\n```", False),
    ("hash-get never raises; it returns #f.", True),
    ("hash-get returns #f for a missing key, while hash-ref raises.", True),
    ("```scheme\n(hash-get h 'zz)  ; => #f\n```", True),
])
def test_hash_get_facts(wrong, ok):
    assert check(["hash-get-missing-false"], wrong).passed is ok


@pytest.mark.parametrize("text, ok", [
    ("JSON arrays parse to vectors.", False),
    ("Arrays become Scheme vectors and objects become hash tables.", False),
    ("```scheme\n(string->json-object \"[1,2]\")  ; => #(1 2)\n```", False),
    ("JSON arrays are read as lists by default, not vectors.", True),
    ("Arrays become lists; set read-json-array-as-vector? to #t if you want vectors.", True),
    ("In JSON, arrays are ordered; in Gerbil they are read as lists.", True),
    ("```scheme\n(string->json-object \"[1,2]\")  ; => (1 2)\n```", True),
])
def test_json_arrays_are_lists(text, ok):
    assert check(["json-arrays-are-lists"], text).passed is ok


@pytest.mark.parametrize("text, ok", [
    ("hash-merge combines tables; later tables override earlier ones.", False),
    ("With hash-merge the right table wins on conflicts.", False),
    ("hash-merge: values from the second table take precedence.", False),
    ("In hash-merge the leftmost table wins: later tables do not override it.", True),
    ("hash-merge keeps the first table's value for a key in both.", True),
    ("Use hash-merge-right if the right table should win.", True),
])
def test_hash_merge_left_wins(text, ok):
    assert check(["hash-merge-left-wins"], text).passed is ok


def test_unknown_fact_is_a_load_error():
    with pytest.raises(CaseFileError, match="unknown fact"):
        assertion_from_dict({"type": "facts", "value": ["hash-ref-is-fast"]})


# --- argument order --------------------------------------------------------------------------------

@pytest.mark.parametrize("code, ok", [
    ("(def cfg '((port . 80)))\n(assgetq cfg 'port)", False),
    ("(def cfg '((port . 80)))\n(assgetq 'port cfg)", True),
    ("(import :std/pregexp)\n(pregexp-match str pattern)", False),
    ("(import :std/pregexp)\n(pregexp-match pattern str)", True),
    ("(hash-get key table)", False),
    ("(hash-get table key)", True),
    ("(def (show k v) (displayln k v))\n(hash-for-each h show)", False),
    ("(def (show k v) (displayln k v))\n(hash-for-each show h)", True),
    ("(with-catch thunk handler)", False),
    ("(def m (make-mutex))\n(with-lock (lambda () 1) m)", False),
    ("(raise-parse-error \"unexpected\" tok)", False),
    ("(raise-parse-error parse-token \"unexpected\" tok)", True),
    ("(hash-ref s 'x)", True),  # a table called s: unknown kinds are never blamed
])
def test_argument_order(code, ok):
    out = evaluate(assertion_from_dict({"type": "argument-order"}), code, {})
    assert out.passed is ok, out.reason


# --- no credit without Gerbil code -------------------------------------------------------------------

def test_python_answer_scores_zero_on_a_code_case():
    case = next(c for c in CASES if c.id == "hash-iteration")
    result = score_answer(case, "Use a dict:\n\n```python\nfor k, v in d.items():\n    print(k, v)\n```\n")
    assert (result.score, result.passed, result.reason) == (0.0, False, NO_CODE)


def test_repl_transcript_is_code():
    case = next(c for c in CASES if c.id == "hash-get-vs-hash-ref")
    result = score_answer(case, "```\n> (hash-get h 'zz)\n#f\n> (hash-ref h 'zz 0)\n0\n```\n")
    assert result.reason != NO_CODE


@pytest.mark.parametrize("text, scheme", [
    ("(f x) abcd", True),            # 4 of 8 visible characters inside a form: exactly half is enough
    ("(f x) abcde", False),          # 4 of 9: less than half is prose with a form in it
    ("p(len x)", False),             # a name glued to its bracket is a call in another language
    ("print(len(x))", False),
    ("f((g x) (h y))", False),
    ("ab (f ; cdefgh\n y)", False),  # a comment inside a form is not code either
    ("abcdef (f ; c\n y z w v u)", True),  # ... but only the comment: the rest of the form still is
    ("> (f x)\n-12345678\n", True),  # REPL prompts and printed values count for neither side
    ("> (f x)\n-1.5e-300\n+7\n#t\n\"some text\"\n", True),
    ("#(f x)", False),               # a printed vector alone is output, not code
    ("`$(ls -la src)`", False),      # shell command substitution in inline code: a call glued to $
    ("`${format(name count)}`", False),  # a JavaScript template: glued to $ after a backtick
    ("Gerbil v0.18 or v0.19: (gerbil-version)", False),  # version numbers are prose, not printed values
    ("no brackets at all", False),
    ("'0", False),                   # a quoted atom is no form (found by the property below)
    ("'(1 2 3)", True),              # a quoted list is
])
def test_code_reads_as_scheme_when_at_least_half_its_text_is_in_forms(text, scheme):
    assert reads_as_scheme(text, read(text).data) is scheme


def test_a_case_asks_for_code_only_through_a_weighted_parses_assertion():
    def a(type_: str, **extra):
        return assertion_from_dict({"type": type_, **extra})

    assert asks_for_code([a("contains", value="x"), a("parses")])
    assert not asks_for_code([a("contains", value="x"), a("calls", value="f")])
    assert not asks_for_code([a("parses", weight=0)])


_PROSE = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="()[]{}"), max_size=200)
_PYTHON = st.sampled_from(["def f(x):\n    return x + 1", "print(len(xs))", "for k, v in d.items():\n    print(k)",
                           "import json\njson.loads(s)", "x = {'a': 1}\nx.get('b')"])


@st.composite
def answers_without_scheme(draw) -> str:
    """Prose (no brackets), and code blocks that are not Scheme: Python, shell, JSON."""
    parts = [draw(_PROSE)]
    for _ in range(draw(st.integers(0, 3))):
        lang = draw(st.sampled_from(["python", "sh", "json", "py", ""]))
        body = draw(_PYTHON) if lang in ("python", "py", "") else draw(st.sampled_from(
            ["gxc -exe main.ss", "$ gxi main.ss", '{"a": [1, 2]}']))
        parts.append(f"```{lang}\n{body}\n```")
        parts.append(draw(_PROSE))
    return "\n\n".join(parts)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answer=answers_without_scheme())
def test_any_answer_without_scheme_code_scores_zero_on_every_code_case(answer):
    for case in CODE_CASES:
        result = score_answer(case, answer)
        assert result.score == 0.0 and not result.passed, (case.id, result.reason)


# --- argument order: what each argument holds, read from the code's own definitions -----------------

def argument_order(code: str):
    return evaluate(assertion_from_dict({"type": "argument-order"}), code, {})


@pytest.mark.parametrize("swapped, right, reason", [
    # a procedure the code defines, whatever its name, is not a table
    ("(def (emit k v) (displayln k \" \" v))\n(hash-for-each inventory emit)",
     "(def (emit k v) (displayln k \" \" v))\n(hash-for-each emit inventory)", "hash-for-each takes (procedure, table)"),
    # a mutex made by make-mutex, whatever its name, goes first
    ("(def guard (make-mutex))\n(with-lock update-state guard)", "(def guard (make-mutex))\n(with-lock guard update-state)",
     "with-lock takes (mutex, procedure)"),
    # a list built by map is the list to join, not the separator
    ("(def labels (map symbol->string names))\n(string-join \", \" labels)",
     "(def labels (map symbol->string names))\n(string-join labels \", \")", "string-join takes (list, separator)"),
    # a quoted alist literal is the list, whatever the key is called
    ("(assgetq '((port . 80) (host . \"localhost\")) wanted)", "(assgetq wanted '((port . 80) (host . \"localhost\")))",
     "assgetq takes (key, list)"),
    # the prelude string-split takes the string first and a character separator
    ("(string-split #\\, line)", "(string-split line #\\,)", "string-split takes the string first, then the separator"),
])
def test_argument_order_reads_what_each_argument_holds(swapped, right, reason):
    out = argument_order(swapped)
    assert not out.passed and reason in out.reason, out.reason
    assert out.score == 0.0
    assert argument_order(right).passed


@pytest.mark.parametrize("code", [
    # a raise- procedure the code defines itself takes the message as it says
    "(def (raise-bad msg) (error msg))\n(raise-bad \"oops\")",
    # a raise- helper called with no arguments has no message to misplace
    "(def (check! x) (unless x (raise-invalid)))",
])
def test_argument_order_leaves_the_codes_own_raise_helpers_alone(code):
    out = argument_order(code)
    assert out.passed, out.reason


# --- facts: claims in code, on every kind of expression --------------------------------------------

@pytest.mark.parametrize("fact, text, claimed", [
    # let-hash: .key is (hash-ref h 'key), so a missing strong key raises; .?key gives #f
    ("let-hash-dot-raises", "(let-hash h .zzz)   ; => #f", "(let-hash h .zzz) => #f"),
    ("let-hash-dot-raises", "(let-hash h .?zzz)  ; => #f", None),
    ("let-hash-dot-raises", "(let-hash h .zzz)   ; error: unbound key", None),
    ("let-hash-dot-raises", "(let-hash h ..zzz)  ; => #f", None),  # ..x is a variable of the enclosing scope
    ("let-hash-dot-raises", "(let-hash .zzz)     ; => #f", None),  # no body: .zzz is the table expression here
    # keyword->string drops the trailing colon
    ("keyword-string-without-colon", "(keyword->string port:)   ; => \"port:\"", "(keyword->string port:) => \"port:\""),
    ("keyword-string-without-colon", "port:                     ; => port:\n(keyword->string port:)   ; => \"port\"", None),
    # the table expression may be any form, not only a variable
    ("hash-ref-missing-raises", "(hash-ref (current-config) 'port)  ; => #f", "(hash-ref (current-config) 'port) => #f"),
    # an error demonstration is shown as "raises", whatever the comment says
    ("hash-get-missing-false", "(hash-get h 'zz)  ; error: key not found", "(hash-get h 'zz) => raises"),
    # a claim on a plain variable is about no call
    ("hash-get-missing-false", "(def v (hash-get h 'zz))\nv   ; => #f", None),
])
def test_code_claims_against_facts(fact, text, claimed):
    out = check([fact], f"```scheme\n{text}\n```")
    if claimed is None:
        assert out.passed, out.reason
    else:
        assert not out.passed and out.reason == f"line 2 claims {claimed}, but {FACTS[fact].truth}"


def test_a_wrong_belief_in_a_code_comment_is_caught():
    out = check(["hash-ref-missing-raises"], "```scheme\n;; hash-ref gives #f when the key is missing\n(hash-ref h 'k)\n```")
    assert not out.passed
    assert out.reason == '"hash-ref gives #f when the key is missing" contradicts: hash-ref without a default raises on a missing key'


@pytest.mark.parametrize("fact, sentence, ok", [
    # a trailing "not" in the same clause takes back a claim about JSON arrays ...
    ("json-arrays-are-lists", "JSON arrays become vectors only if you ask for it, not by default.", True),
    # ... as far as 40 characters after it (this "not" ends on the 40th)
    ("json-arrays-are-lists", "JSON arrays become vectors only if you ask for those, which is not the default.", True),
    # ... and no farther: this "not" (on the 41st) is about objects, and arrays are lists
    ("json-arrays-are-lists", "JSON arrays become vectors and JSON objects become hash tables, not alists.", False),
    # ... but after a hash-ref claim it denies the alternative, not the claim
    ("hash-ref-missing-raises", "hash-ref returns #f for a missing key, not an error.", False),
])
def test_a_trailing_negation_takes_back_only_a_json_claim(fact, sentence, ok):
    assert check([fact], sentence).passed is ok
