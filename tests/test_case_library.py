"""The case library tests itself: no model needed.

A case is only worth running against a model if it separates good answers from
bad ones. So every shipped case must: load; pass its own ``reference``; fail each
of its ``counterexamples`` (at least two); and behave on the alternative answers in
``tests/case_variants/<same file name>.yaml`` — correct answers in other styles
(terse code, prose that names a wrong token as a warning, other variable names,
another valid idiom) must pass and further wrong answers must fail. The library as
a whole must cover every topic of the Gerbil facts sheet and keep the original
verification prompts as ``seed`` cases.

Everything is parametrized per case id, so a failure names the case. The checks
themselves are the harness's (``parse_file``, ``check_case``, ``check_topics``,
``score_answer``), the same ones ``python -m gerbil_eval lint --strict`` runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gerbil_eval.cases.loader import Case, case_files, duplicate_errors, parse_file
from gerbil_eval.cases.lint import check_case, check_topics
from gerbil_eval.scoring.score import score_answer

ROOT = Path(__file__).resolve().parents[1]
CASES_DIR = ROOT / "cases"
VARIANTS_DIR = Path(__file__).resolve().parent / "case_variants"
FACTS = ROOT.parent / "shared" / "reference" / "gerbil-facts.md"

#: The topics of the five original verification prompts; each needs a case tagged ``seed``.
SEED_TOPICS = ("hash-iteration", "hash-get-vs-hash-ref", "deferror-class", "defraise-context-gotcha",
               "executables-and-static", "ffi-u8vector-gotcha")

#: The original verify script's prompts, word for word; each is the prompt of a case tagged seed.
VERIFY_PROMPTS = (
    "How do I iterate over a hash table in Gerbil Scheme?",
    "What's the difference between hash-get and hash-ref in Gerbil?",
    "Show me how to parse JSON in Gerbil Scheme.",
    "How do I define a custom error class in Gerbil?",
    "What's wrong with passing u8vector to a (pointer void) FFI parameter in Gerbil?",
    "How do I spawn an actor in Gerbil Scheme?",
    "Show me pattern matching with struct destructuring in Gerbil.",
    "How do I write unit tests in Gerbil Scheme?",
    "What imports do I need to use channels in Gerbil?",
    "How do I use the for/collect macro in Gerbil?",
    "How do I build a static executable in Gerbil?",
)

FILES = case_files([CASES_DIR])
PARSED = {f: parse_file(f) for f in FILES}
CASES: list[Case] = [c for cases, _errors in PARSED.values() for c in cases]
BY_ID = {c.id: c for c in CASES}


def _variants() -> dict[str, dict]:
    """case id -> {"pass": [...], "fail": [...]}, from every variants file."""
    out: dict[str, dict] = {}
    for path in sorted(VARIANTS_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for case_id, entry in data.items():
            out[case_id] = {**(entry or {}), "file": path.name}
    return out


VARIANTS = _variants()


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_case_file_loads(path: Path) -> None:
    """A case file with a schema error would stop every model run before the first request."""
    _cases, errors = PARSED[path]
    assert not errors, "\n".join(str(e) for e in errors)


def test_case_ids_are_unique_across_the_library() -> None:
    """Ids name pytest items and result rows; a duplicate would merge two cases' history."""
    assert not duplicate_errors(CASES), "\n".join(str(e) for e in duplicate_errors(CASES))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_reference_passes_and_counterexamples_fail(case: Case) -> None:
    """The case separates its known-good answer from its known-bad ones (lint --strict)."""
    problems = check_case(case, strict=True)
    assert not problems, "\n".join(str(p) for p in problems)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case_has_topic_and_prompt(case: Case) -> None:
    """Cases are traced to the facts sheet and send a real question."""
    assert case.topic, f"{case.source}: {case.id}: no 'topic:'"
    assert case.messages and case.messages[-1]["role"] == "user" and case.messages[-1]["content"].strip()


def test_every_facts_topic_is_covered() -> None:
    """Each source-checked topic of the facts sheet has at least one case, and no case names a topic it lacks."""
    if not FACTS.is_file():
        pytest.skip(f"facts sheet not present at {FACTS} (it lives in ../shared beside the project)")
    problems = check_topics(CASES, FACTS)
    assert not problems, "\n".join(str(p) for p in problems)


@pytest.mark.parametrize("topic", SEED_TOPICS)
def test_seed_prompt_is_in_the_library(topic: str) -> None:
    """The original verification prompts stay selectable with ``-m seed``."""
    seeds = [c.id for c in CASES if c.topic == topic and "seed" in c.tags]
    assert seeds, f"no case with topic {topic} tagged seed"


@pytest.mark.parametrize("prompt", VERIFY_PROMPTS)
def test_verbatim_verify_prompt_is_a_seed_case(prompt: str) -> None:
    """The original verification prompts run exactly as the verify script asked them."""
    assert [c.id for c in CASES if c.prompt == prompt and "seed" in c.tags], f"no seed case asks {prompt!r}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_every_case_checks_names_first(case: Case) -> None:
    """Every case judges the code against what Gerbil defines before anything else."""
    assert case.assertions[0].type == "resolves", f"{case.id}: first assertion is {case.assertions[0].type}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_alternative_answers_behave(case: Case) -> None:
    """Correct answers in other styles pass and further wrong answers fail (tests/case_variants)."""
    entry = VARIANTS.get(case.id)
    expected_file = Path(case.source).name
    assert entry is not None, f"no variants for {case.id} in tests/case_variants/{expected_file}"
    assert entry["file"] == expected_file, f"variants of {case.id} are in {entry['file']}, expected {expected_file}"
    good, bad = entry.get("pass") or [], entry.get("fail") or []
    assert len(good) >= 2 and len(bad) >= 1, f"{case.id}: needs >= 2 pass and >= 1 fail variants"
    wrong = []
    for kind, answers, want in (("pass", good, True), ("fail", bad, False)):
        for i, answer in enumerate(answers, 1):
            result = score_answer(case, answer)
            if result.passed != want:
                wrong.append(f"{kind} variant #{i} {'fails' if want else 'passes'}: {result.reason}")
    assert not wrong, f"{case.id}:\n" + "\n".join(wrong)


def test_every_variant_names_a_case() -> None:
    """A variant for a renamed or deleted case would silently test nothing."""
    unknown = sorted(set(VARIANTS) - set(BY_ID))
    assert not unknown, f"variants for unknown case ids: {unknown}"
