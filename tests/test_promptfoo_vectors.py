"""promptfoo's own unit-test vectors for the assertion types we share, as our tests.

Reproduced (values, outputs and verdicts, not code) from promptfoo's
``test/assertions/contains.test.ts``, ``contains-multi.test.ts`` and ``levenshtein.test.ts``:
comma-separated ``contains-any``/``-all`` values are split exactly as promptfoo splits them
(quoted fields, ``\\"`` and ``""`` escapes, whitespace and tabs around commas, empty items),
and ``levenshtein`` compares empty strings. A value promptfoo rejects is a load error here.
"""

from __future__ import annotations

import pytest

from gerbil_eval.assertions.registry import evaluate
from gerbil_eval.cases.loader import CaseFileError, assertion_from_dict
from gerbil_eval.cases.lint import empty_item_warnings
from gerbil_eval.cases.loader import Case


def verdict(type_: str, value, output: str, **extra) -> bool:
    return evaluate(assertion_from_dict({"type": type_, "value": value, **extra}), output, {"case": None}).passed


# (type, value, output, promptfoo's verdict)
VECTORS = [
    ("contains", "world", "hello world", True),
    ("contains", "universe", "hello world", False),
    ("not-contains", "universe", "hello world", True),
    ("icontains", "WORLD", "hello world", True),
    ("icontains", "WoRlD", "Hello WORLD", True),
    ("contains", 0, "There are 0 errors", True),
    ("contains", 0, "no digits here", False),
    ("icontains", 0, "There are 0 errors", True),
    ("contains-any", ["world", "universe"], "hello world", True),
    ("contains-any", "world,universe", "hello world", True),
    ("contains-any", '"hello, world",universe', "hello, world", True),
    ("contains-any", '"hello, dear world", "goodbye, universe", simple', "hello, dear world is here", True),
    ("contains-any", '"",', "", True),
    ("contains-any", '"hello, world"\t,foo', "zzz", False),
    ("contains-any", '"hello, world"\t,\t"foo"', "foo", True),
    ("contains-any", '"a""b",c', 'a"b', True),
    ("contains-any", '"a""b",c', "b", False),
    ("contains-any", '"hello\\"world,test", "another,test"', 'hello"world,test', True),
    ("contains-any", '""', "test", True),
    ("contains-any", '"test"', "test", True),
    ("contains-any", '"test\\test"', "test\\test", True),
    ("contains-any", '"test\\\\test"', "test\\test", True),
    ("contains-any", '"hello\\"world,test", "another,test"', "another,test", True),
    ("contains-any", '"hello\\"world,test", "another,test"', "something completely different", False),
    ("contains-any", ["option1", "option2", "option3"], "This output contains option1", True),
    ("contains-any", ["option1", "option2", "option3"], "This output does not contain any option", False),
    ("icontains-any", '"hello\\"world,test", "another,test"', "ANOTHER,TEST", True),
    ("icontains-any", '"hello, world",universe', "HELLO, WORLD", True),
    ("icontains-any", ["WORLD", "UNIVERSE"], "hello world", True),
    ("icontains-any", "WORLD,UNIVERSE", "hello world", True),
    ("icontains-any", "HELLO,  WORLD  ,  UNIVERSE", "hello", True),
    ("icontains-any", ",WORLD,,", "", False),
    ("icontains-any", '"",WORLD', "", True),
    ("icontains-any", "  HELLO  ", "hello", True),
    ("icontains-any", "HELLO  ,  WORLD", "hello", True),
    ("icontains-any", "  HELLO  ,  WORLD  ", "hello", True),
    ("icontains-any", "  HELLO  ,  ,  WORLD  ", "hello", True),
    ("icontains-any", "HELLO,,,,WORLD", "hello", True),
    ("icontains-any", "  ,  ,  ", "", False),
    ("contains-all", '"hello, world","foo"', "hello, world and foo", True),
    ("contains-all", '"hello, world","bar"', "hello, world and foo", False),
    ("contains-all", "hello", "hello world", True),
    ("contains-all", '"say \\"hello\\"", "another,phrase"', 'say "hello" and another,phrase here', True),
    ("contains-all", '"say \\"hello\\"", "missing,value"', 'say "hello" only', False),
    ("contains-all", ["hello", "world"], "hello world", True),
    ("contains-all", ["hello", "world", "universe"], "hello world", False),
    ("contains-all", ["option1", "option2", "option3"], "This output contains option1, option2, and option3", True),
    ("contains-all", ["option1", "option2", "option3"], "This output contains only option1 and option2", False),
    ("icontains-all", '"say \\"hello\\"", "another,phrase"', 'SAY "HELLO" AND ANOTHER,PHRASE HERE', True),
    ("icontains-all", '"Hello, World","Foo"', "HELLO, WORLD AND FOO", True),
    ("icontains-all", '""', "hello", True),
    ("icontains-all", ["HELLO", "WORLD"], "hello world", True),
    ("icontains-all", ["HELLO", "WORLD", "UNIVERSE"], "hello world", False),
    ("icontains-all", ["HeLLo", "WoRLD"], "HELLO world", True),
]


@pytest.mark.parametrize("type_, value, output, expected", VECTORS, ids=[f"{t}:{v!r:.30}:{o!r:.20}" for t, v, o, _ in VECTORS])
def test_promptfoo_vector(type_, value, output, expected):
    assert verdict(type_, value, output) is expected


LEVENSHTEIN = [
    ("test", "test", None, True),
    ("test", "tast", None, True),
    ("test", "tist", 2, True),
    ("test", "completely different", None, False),
    ("test", "tast", 0, False),
    ("", "", None, True),
    ("test!@#$", "test!@#$", None, True),
]


@pytest.mark.parametrize("value, output, threshold, expected", LEVENSHTEIN)
def test_promptfoo_levenshtein_vector(value, output, threshold, expected):
    extra = {} if threshold is None else {"threshold": threshold}
    assert verdict("levenshtein", value, output, **extra) is expected


@pytest.mark.parametrize("value, message", [
    ('"test', "never closed"),
    ('"hello"world', "expected a comma after the quoted field"),
    ('"hello" world', "expected a comma after the quoted field"),
])
def test_values_promptfoo_rejects_are_load_errors(value, message):
    with pytest.raises(CaseFileError, match=message):
        assertion_from_dict({"type": "contains-any", "value": value})


def test_lint_warns_about_empty_items_instead_of_refusing_them():
    def case(value):
        a = assertion_from_dict({"type": "icontains-any", "value": value})
        return Case(id="c", messages=(), category="x", tags=(), assertions=(a,))
    assert ["empty item" in p.message for p in empty_item_warnings(case('"",WORLD'))] == [True]
    assert ["no items" in p.message for p in empty_item_warnings(case("  ,  ,  "))] == [True]
    assert empty_item_warnings(case("a, b")) == []
