"""Property tests: whatever YAML or answer comes in, the result is a clear CaseError or a score in [0, 1]."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gerbil_eval import CaseError, load_cases, score_answer
from gerbil_eval.answer import analyse
from gerbil_eval.assertions.registry import REGISTRY, evaluate
from gerbil_eval.code_rule import CODE_TYPES, has_scheme_code
from gerbil_eval.cases.loader import CASE_KEYS, Case, assertion_from_dict
from gerbil_eval.reader import Form, Keyword, Symbol, read, write_datum

SETTINGS = settings(max_examples=int(__import__("os").environ.get("H1_EXAMPLES", 150)), deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- random case files -----------------------------------------------------------------------------

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["hash-ref", "(x", ":std/iter", "a, b", "[", "0.5"]))
type_names = st.sampled_from(sorted(REGISTRY) + [f"not-{t}" for t in REGISTRY] + ["calls-ary", "", "not-"])
assertions = st.fixed_dictionaries(
    {"type": st.one_of(type_names, scalars)},
    optional={"value": st.one_of(scalars, st.lists(scalars, max_size=3)),
              "weight": scalars, "threshold": scalars, "vaule": scalars},
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                           max_size=3), max_leaves=8)
cases = st.fixed_dictionaries(
    {},
    optional={**{k: values for k in CASE_KEYS},
              "id": st.one_of(st.sampled_from(["a", "b-c", "Bad_Id"]), scalars),
              "prompt": st.one_of(st.text(max_size=20), scalars),
              "assert": st.one_of(st.lists(st.one_of(assertions, scalars), max_size=4), scalars),
              "counterexamples": st.one_of(st.lists(st.text(max_size=20), max_size=2), scalars),
              "asserts": values},
)
documents = st.one_of(
    st.lists(st.one_of(cases, scalars), max_size=4),
    st.fixed_dictionaries({"cases": st.one_of(st.lists(cases, max_size=3), scalars)},
                          optional={"defaults": st.one_of(st.dictionaries(
                              st.sampled_from(["category", "tags", "threshold", "system", "tag"]), values), scalars)}),
    values,
)


def load_text(text: str) -> list[Case] | CaseError:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cases.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            return load_cases([path])
        except CaseError as exc:
            return exc


@SETTINGS
@given(documents)
def test_random_yaml_documents_load_or_give_one_line_case_errors(doc):
    out = load_text(yaml.safe_dump(doc, allow_unicode=True))
    if isinstance(out, CaseError):
        assert str(out) and "\n" not in str(out)
        assert "cases.yaml" in str(out)
    else:
        for case in out:
            assert case.assertions and case.messages[-1]["content"]
            assert case.threshold is None or 0.0 <= case.threshold <= 1.0


@SETTINGS
@given(st.text(alphabet=st.sampled_from(list("-:[]{}#&*!|>'\"%@` \n\tabc1.,?")), max_size=80))
def test_random_text_files_load_or_give_case_errors(text):
    out = load_text(text)
    assert isinstance(out, (list, CaseError))


# --- random answers --------------------------------------------------------------------------------

EVERY_TYPE = [
    {"type": "equals", "value": {"a": 1}}, {"type": "equals", "value": "x"}, {"type": "contains", "value": "("},
    {"type": "icontains-any", "value": "def, lambda"}, {"type": "contains-all", "value": ["(", ")"]},
    {"type": "regex", "value": r"\(def\b"}, {"type": "starts-with", "value": "```"},
    {"type": "levenshtein", "value": "(def x 1)", "threshold": 0}, {"type": "imports", "value": ":std/iter"},
    {"type": "calls-any", "value": ["def", "hash-ref"]}, {"type": "mentions", "value": "x"},
    {"type": "defines-any", "value": ["x", "f"]}, {"type": "form", "value": "(def _ ...)"},
    {"type": "form-any", "value": ["[_ ...]", "{_ _}"]}, {"type": "parses"}, {"type": "code-block"},
    {"type": "fuzzy", "value": "(hash-for-each f h)", "weight": 2},
]
CASE = Case(id="p", messages=(), category="p", tags=(), threshold=0.5,
            assertions=tuple(assertion_from_dict(a) for a in EVERY_TYPE + [{"type": "not-" + a["type"],
                                                                         **{k: v for k, v in a.items() if k != "type"}}
                                                                        for a in EVERY_TYPE]))
TOKENS = list("()[]{}#\\;|'`,@\"\n :.-_x1") + ["def", "import", "hash-ref", "```", "```scheme\n", "#|", "|#", "#;",
                                                "#\\(", "#u8(", "#!void", "port:", ":std/iter"]
gerbilish = st.lists(st.sampled_from(TOKENS), max_size=60).map("".join)


@SETTINGS
@given(st.one_of(gerbilish, st.text(max_size=200)))
def test_random_answers_score_within_bounds(answer):
    result = score_answer(CASE, answer)
    assert 0.0 <= result.score <= 1.0 and not math.isnan(result.score)
    assert isinstance(result.passed, bool) and result.reason
    for row in result.assertions:
        assert 0.0 <= row.score <= 1.0 and isinstance(row.passed, bool) and row.reason


@SETTINGS
@given(gerbilish)
def test_negation_is_exact_on_random_answers(answer):
    for raw in EVERY_TYPE:
        base = evaluate(assertion_from_dict(raw), answer, {})
        neg = evaluate(assertion_from_dict({**raw, "type": "not-" + raw["type"]}), answer, {})
        if raw["type"] in CODE_TYPES and not has_scheme_code(analyse(answer)):  # no code: nothing earned
            assert not neg.passed and neg.score == 0.0
            continue
        assert neg.passed is (not base.passed)
        assert math.isclose(neg.score, 1.0 - base.score)


CASES_DIR = Path(__file__).resolve().parents[1] / "cases"
LIBRARY = load_cases([CASES_DIR]) if CASES_DIR.is_dir() else []


@pytest.mark.skipif(not LIBRARY, reason="no case library in cases/")
@SETTINGS
@given(st.one_of(gerbilish, st.text(max_size=200)), st.integers(min_value=0))
def test_library_cases_score_random_answers_within_bounds(answer, pick):
    """The shipped cases, with every assertion type they use, never crash on a strange answer."""
    case = LIBRARY[pick % len(LIBRARY)]
    result = score_answer(case, answer)
    assert 0.0 <= result.score <= 1.0 and isinstance(result.passed, bool)


MARKDOWN = st.lists(st.sampled_from(["```", "```scheme", "~~~", "````", "  ```sh", "(a b)", "text", "", "\r",
                                      "$ gxi", "```\r"]), max_size=25).map("\n".join)


@SETTINGS
@given(MARKDOWN)
def test_code_blocks_come_from_the_answer_in_order(text):
    from gerbil_eval.answer import code_blocks

    lines = text.split("\n")
    for block in code_blocks(text):
        body = block.text.split("\n") if block.text else []
        assert lines[block.line: block.line + len(body)] == body
    assert [b.line for b in code_blocks(text)] == sorted(b.line for b in code_blocks(text))


# --- the reader ------------------------------------------------------------------------------------

@SETTINGS
@given(st.one_of(gerbilish, st.text(max_size=300)))
def test_reader_never_raises_and_reports_lines_inside_the_text(text):
    result = read(text)
    last_line = text.count("\n") + 1
    assert all(1 <= e.line <= last_line for e in result.errors)


symbols = st.from_regex(r"[a-z!?*<>=/+-][a-z0-9!?*<>=/+.-]{0,8}", fullmatch=True).map(Symbol)
atoms = st.one_of(symbols, st.integers(-10**6, 10**6), st.text(max_size=8), st.booleans(),
                  st.from_regex(r"[a-z]{1,6}:", fullmatch=True).map(Keyword))
datums = st.recursive(atoms, lambda inner: st.builds(Form, st.sampled_from(["(", "[", "{", "#("]),
                                                     st.lists(inner, max_size=4).map(tuple)), max_leaves=20)


@SETTINGS
@given(datums)
def test_written_datums_read_back_equal(datum):
    result = read(write_datum(datum, limit=10_000))
    assert result.complete, result.errors
    [back] = result.data

    def strip(d):  # lines are positions, not content
        return (d.open, tuple(strip(x) for x in d.items)) if isinstance(d, Form) else (type(d), d)

    assert strip(back) == strip(datum)
