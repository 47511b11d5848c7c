"""Lint of case files: prove they measure what they claim (``python -m gerbil_eval lint`` prints it).

A case is only trustworthy if its known-good ``reference`` passes and each
known-bad ``counterexample`` fails; otherwise a model's score says more about
the case than about the model. Lint loads every file (all load errors, not just
the first), scores references and counterexamples with the real scorer, and with
``--facts`` checks that every topic of a facts file is covered by some case.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from .loader import Case, CaseFileError, case_files, duplicate_errors, parse_file
from ..errors import CaseError
from .markers import marker_problems
from ..scoring.score import CaseScore, score_answer

#: ``(case, answer) -> CaseScore``: in-process by default; ``lint`` on the command line scores in
#: worker processes with a time limit (see :mod:`gerbil_eval.scoring.pool`).
Scorer = Callable[[Case, str], CaseScore]

_FACT_TOPIC = re.compile(r"^###\s+(\d+)\.\s+([A-Za-z0-9][\w/-]*)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class LintProblem:
    """One problem, printed as ``file:line: case-id: message``."""

    file: str
    case_id: str | None
    message: str
    line: int = 0

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return ": ".join([where] + ([self.case_id] if self.case_id else []) + [self.message])


def read_fact_topics(path: Path) -> dict[str, str]:
    """Topic ids of a facts file (lines like ``### 4. hash-iteration``) -> their number."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseError(f"{path}: cannot read the facts file: {exc}") from None
    topics = {m.group(2): m.group(1) for m in _FACT_TOPIC.finditer(text)}
    if not topics:
        raise CaseError(f"{path}: no topic headings like '### 4. hash-iteration' in this facts file")
    return topics


def _reference_problem(case: Case, result: CaseScore) -> LintProblem:
    """Which assertions the reference fails, each with its number, and the line of the first."""
    failed = [(i, a, r) for i, (a, r) in enumerate(zip(case.assertions, result.assertions), 1)
              if r.weight > 0 and not r.passed]
    verdict = f" (score {result.score:.2f} < threshold {case.threshold:g})" if case.threshold is not None else ""
    detail = "; ".join(f"assert #{i} ({a.type}): {r.reason}" for i, a, r in failed)
    line = failed[0][1].line if failed and failed[0][1].line else case.line
    return LintProblem(case.source, case.id, f"reference fails{verdict}: {detail}", line)


#: Types whose plain list form means "all of them", so ``not-`` of it means "not all of them".
_ALL_OF_LIST = ("calls", "mentions", "imports", "defines", "form")


def _negated_all_lists(case: Case) -> list[LintProblem]:
    """``not-calls: [a, b]`` passes when just one is absent: almost always meant as ``not-calls-any``."""
    return [LintProblem(case.source, case.id, f"assert #{i} ({a.type}) with {len(a.value)} values passes when any one "
                                              f"is absent; to forbid each, use {a.type}-any", a.line or case.line)
            for i, a in enumerate(case.assertions, 1)
            if a.negated and a.base_type in _ALL_OF_LIST and isinstance(a.value, tuple) and len(a.value) > 1]


def check_case(case: Case, strict: bool = False, score: Scorer = score_answer) -> list[LintProblem]:
    """The reference passes, every counterexample fails; with ``strict``, both are present; every
    category and tag can be a marker (the checks collection makes)."""
    problems = _negated_all_lists(case)
    here = lambda message: LintProblem(case.source, case.id, message, case.line)  # noqa: E731
    problems += [here(problem) for problem in marker_problems(case)]
    if all(a.weight == 0 for a in case.assertions):
        problems.append(here("every assertion has weight 0, so the case can never fail"))
    if case.reference is None:
        if strict:
            problems.append(here("no reference answer (required with --strict)"))
    else:
        result = score(case, case.reference)
        if not result.passed:
            problems.append(_reference_problem(case, result))
    for i, bad in enumerate(case.counterexamples, 1):
        result = score(case, bad)
        if result.passed:
            problems.append(here(f"counterexample #{i} passes ({result.reason}); add an assertion it fails"))
    if strict and len(case.counterexamples) < 2:
        problems.append(here(f"has {len(case.counterexamples)} counterexample(s); --strict needs at least 2"))
    return problems


def check_topics(cases: list[Case], facts: Path) -> list[LintProblem]:
    """Every facts topic has a case, and every case topic is a facts topic."""
    topics = read_fact_topics(facts)
    covered = {c.topic for c in cases if c.topic}
    problems = [LintProblem(str(facts), None, f"topic {t} (### {n}) has no case with 'topic: {t}'")
                for t, n in topics.items() if t not in covered]
    for c in cases:
        if c.topic and c.topic not in topics:
            close = difflib.get_close_matches(c.topic, list(topics), n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(LintProblem(c.source, c.id, f"topic '{c.topic}' is not a topic of {facts}{hint}", c.line))
    return problems


_LIST_TYPES = frozenset({"contains-any", "contains-all", "icontains-any", "icontains-all"})


def empty_item_warnings(case: Case) -> list[LintProblem]:
    """A ``contains-any``/``-all`` list with an empty item (it is in every answer) or with no item at
    all (``-any`` can then never pass, ``-all`` never fail): loaded as promptfoo loads it, but
    almost certainly a typo in a comma-separated value."""
    out = []
    for i, a in enumerate(case.assertions, 1):
        if a.base_type not in _LIST_TYPES:
            continue
        items = tuple(a.value)
        if not items:
            out.append(LintProblem(case.source, case.id, f"assert #{i} ({a.type}): the value has no items", a.line))
        elif "" in items:
            out.append(LintProblem(case.source, case.id, f"assert #{i} ({a.type}): the value has an empty item, "
                                   "which every answer contains", a.line))
    return out


@dataclass(frozen=True)
class LintReport:
    """What lint looked at and what it found."""

    problems: list[LintProblem]
    cases: list[Case]
    files: list[Path]


def lint_report(paths: Iterable[str | Path] | str | Path, strict: bool = False,
                facts: str | Path | None = None, *, allow_python: bool = False,
                score: Scorer = score_answer) -> LintReport:
    """Lint ``paths`` and keep the loaded cases, for the summary line. Nothing in a case file
    runs unless ``allow_python``."""
    problems: list[LintProblem] = []
    cases: list[Case] = []
    all_files: list[Path] = []
    for p in [paths] if isinstance(paths, (str, Path)) else paths:
        try:
            files = case_files([p])
        except CaseFileError as exc:
            problems.append(LintProblem(exc.file, None, exc.message))
            continue
        all_files += files
        for f in files:
            file_cases, errors = parse_file(f, allow_python=allow_python)
            problems += [LintProblem(e.file, e.case_id, f"{e.field}: {e.message}" if e.field else e.message, e.line)
                         for e in errors]
            cases += file_cases
    problems += [LintProblem(e.file, e.case_id, f"{e.field}: {e.message}", e.line) for e in duplicate_errors(cases)]
    for case in cases:
        problems += check_case(case, strict, score) + empty_item_warnings(case)
    if facts is not None:
        problems += check_topics(cases, Path(facts))
    return LintReport(problems, cases, all_files)


def lint_cases(paths: Iterable[str | Path] | str | Path, strict: bool = False,
               facts: str | Path | None = None) -> list[LintProblem]:
    """All problems of the case files under ``paths`` (empty list = all good)."""
    return lint_report(paths, strict, facts).problems


def explain(case: Case, score: Scorer = score_answer) -> list[str]:
    """Each assertion's verdict on the reference and on every counterexample: the table to tune a case by."""
    rule = f"threshold {case.threshold:g}" if case.threshold is not None else "every weighted assertion must pass"
    out = [f"{case.id} ({case.source}:{case.line}; {rule})"]
    answers = [("reference", case.reference, True)] if case.reference is not None else []
    answers += [(f"counterexample #{i}", text, False) for i, text in enumerate(case.counterexamples, 1)]
    for label, text, should_pass in answers:
        result = score(case, text)
        wrong = "" if result.passed is should_pass else f"   <-- should {'pass' if should_pass else 'fail'}"
        out.append(f"  {label}: {'passes' if result.passed else 'fails'}, score {result.score:.2f}{wrong}")
        out += [f"    {'ok  ' if r.passed else 'FAIL'} #{i} {r.type} (weight {r.weight:g}): {r.reason}"
                for i, r in enumerate(result.assertions, 1)]
    return out
