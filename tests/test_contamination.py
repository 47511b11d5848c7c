"""Leak detection between eval cases and training data (gerbil_eval.analysis.contamination).

The acceptance test builds the real training data (gerbil-mcp cookbook + Gerbil docs from
``../shared/data``), writes a small case folder whose seed cases answer with cookbook recipes
the way a case author copying them would (prose around the code, a variable renamed), plus
one case on a topic the data lacks, and checks ``mark_seen`` flags exactly the seeds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gerbil_eval.cases.loader import load_cases
from gerbil_eval.analysis.contamination import (
    DEFAULT_THRESHOLD, TrainingText, leaks, mark_seen, read_training_file, record_text,
)
from gerbil_eval.errors import GerbilEvalError
from pipeline.data.build import BuildConfig, build
from pipeline.data.cookbook import load_cookbook

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
COOKBOOK = DATA / "gerbil-mcp" / "cookbooks.json"
DOCS = DATA / "gerbil-docs"
CASES = Path(__file__).resolve().parents[1] / "cases"
needs_data = pytest.mark.skipif(not COOKBOOK.is_file(), reason=f"real data absent: {DATA}")

#: (case id, prompt, recipe whose code answers it, identifier renamed in the copy)
SEEDS = [
    ("hash-iteration", "How do I iterate over all key/value pairs of a hash table in Gerbil Scheme?",
     "iteration-pattern-selection", ("table", "ht")),
    ("hash-get-vs-hash-ref", "What is the difference between hash-get and hash-ref in Gerbil?",
     "hash-table-basics", ("ht", "tbl")),
    ("deferror-class", "How do I define a custom error class with deferror-class and raise it?",
     "deferror-class-defraise", ("MyServiceError", "AppError")),
    ("static-exe", "How do I build a static executable with build.ss and exe:?",
     "exe-build-static-modules", ("my-app", "hello")),
    ("ffi-u8vector", "How do I pass a u8vector to a C function through the FFI without copying?",
     "gambit-ffi-u8vector-to-c", ("errptr", "err")),
]
ABSENT_TOPIC = """\
  - id: levenshtein-distance
    prompt: Write a Gerbil Scheme function that computes the Levenshtein edit distance of two strings.
    assert:
      - {type: code-block}
    reference: |
      Dynamic programming over one row of the table, with vectors:

      ```scheme
      (def (edit-distance a b)
        (let* ((n (string-length a)) (m (string-length b))
               (row (make-vector (+ m 1) 0)))
          (do ((j 0 (+ j 1))) ((> j m)) (vector-set! row j j))
          (do ((i 1 (+ i 1))) ((> i n) (vector-ref row m))
            (let loop ((j 1) (diag (- i 1)))
              (vector-set! row 0 i)
              (when (<= j m)
                (let ((up (vector-ref row j))
                      (cost (if (char=? (string-ref a (- i 1)) (string-ref b (- j 1))) 0 1)))
                  (vector-set! row j (min (+ up 1) (+ (vector-ref row (- j 1)) 1) (+ diag cost)))
                  (loop (+ j 1) up)))))))
      ```
"""


def _indent(text: str, spaces: int) -> str:
    return "".join(" " * spaces + line + "\n" for line in text.splitlines())


def write_case_folder(folder: Path) -> None:
    """Seed cases answered with (lightly edited) cookbook recipes, and one absent topic."""
    recipes = {r.id: r for r in load_cookbook(COOKBOOK)}
    parts = ["cases:\n"]
    for case_id, prompt, recipe_id, (old, new) in SEEDS:
        code = recipes[recipe_id].code.replace(old, new)
        reference = f"Here is the usual way to do it:\n\n```scheme\n{code}\n```\n\nAdapt the names to your program.\n"
        parts.append(f"  - id: {case_id}\n    tags: [seed]\n    prompt: {json.dumps(prompt)}\n"
                     f"    assert:\n      - {{type: code-block}}\n    reference: |\n{_indent(reference, 6)}")
    parts.append(ABSENT_TOPIC)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "seeds.yaml").write_text("".join(parts), encoding="utf-8")


@pytest.fixture(scope="module")
def real_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real cookbook + docs built once for this module (no decontamination)."""
    if not COOKBOOK.is_file():
        pytest.skip(f"real data absent: {DATA}")
    out = tmp_path_factory.mktemp("data")
    build(BuildConfig(cookbook=COOKBOOK, docs=(DOCS,), out_dir=out))
    return out


@pytest.fixture()
def seed_cases(tmp_path: Path) -> Path:
    if not COOKBOOK.is_file():
        pytest.skip(f"real data absent: {DATA}")
    write_case_folder(tmp_path / "cases")
    return tmp_path / "cases"


@needs_data
@pytest.mark.parametrize("file_name", ["training_data_together.jsonl", "training_data.jsonl", "training_data_alpaca.jsonl"])
def test_seed_prompts_are_seen_and_an_absent_topic_is_unseen(real_build: Path, seed_cases: Path, file_name: str) -> None:
    cases = load_cases([seed_cases])
    seen = mark_seen(cases, real_build / file_name, DEFAULT_THRESHOLD)
    assert seen == {**{case_id: True for case_id, *_ in SEEDS}, "levenshtein-distance": False}


@needs_data
def test_independently_written_references_on_the_same_topics_stay_below_the_threshold(real_build: Path) -> None:
    """The case library is written from the Gerbil sources, not copied from the cookbook:
    topic overlap alone must not make a case 'seen' (this is what the scorer choice is for)."""
    if not CASES.is_dir():
        pytest.skip("no case library in cases/")
    cases = load_cases([CASES])
    seen = mark_seen(cases, real_build / "training_data_together.jsonl", DEFAULT_THRESHOLD)
    assert set(seen) == {c.id for c in cases}
    assert [case_id for case_id, flag in seen.items() if flag] == []


@needs_data
def test_decontaminate_drops_the_leaking_examples_and_lists_them(tmp_path: Path, seed_cases: Path) -> None:
    cases_dir = seed_cases
    reported = build(BuildConfig(cookbook=COOKBOOK, docs=(DOCS,), out_dir=tmp_path / "report", cases=(cases_dir,)))
    dropped = build(BuildConfig(cookbook=COOKBOOK, docs=(DOCS,), out_dir=tmp_path / "drop", cases=(cases_dir,),
                                decontaminate=True))
    flagged = {f["example"] for f in reported["contamination"]["flagged"]}
    leaked_recipes = {f"cookbook:{recipe_id}/recipe-howto" for _, _, recipe_id, _ in SEEDS}
    assert leaked_recipes <= flagged
    assert reported["contamination"]["action"] == "reported"
    assert {d["id"] for d in dropped["dropped"] if d["reason"] == "contaminated"} == flagged
    assert sum(dropped["counts"]["kept"].values()) == sum(reported["counts"]["kept"].values()) - len(flagged)
    kept_ids = [json.loads(line) for line in (tmp_path / "drop" / "training_data_alpaca.jsonl").open()]
    assert len(kept_ids) == sum(dropped["counts"]["kept"].values())
    # the seeds are unseen in the decontaminated data: the point of --decontaminate
    seen = mark_seen(load_cases([cases_dir]), tmp_path / "drop" / "training_data_together.jsonl", DEFAULT_THRESHOLD)
    assert not any(seen.values())


def test_the_three_formats_give_the_same_question_and_answer() -> None:
    together = {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"},
                             {"role": "assistant", "content": "A"}]}
    sharegpt = {"conversations": [{"from": "system", "value": "S"}, {"from": "human", "value": "Q"},
                                  {"from": "gpt", "value": "A"}]}
    alpaca = {"instruction": "Q", "input": "", "output": "A"}
    assert {record_text(r, "x") for r in (together, sharegpt, alpaca)} == {TrainingText("Q", "A")}


def test_a_file_in_no_known_format_is_one_clear_error_naming_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "train.jsonl"
    bad.write_text('{"messages": []}\n{"text": "plain"}\n', encoding="utf-8")
    with pytest.raises(GerbilEvalError, match=r"train\.jsonl: line 2: not a training record"):
        read_training_file(bad)
    with pytest.raises(GerbilEvalError, match="file not found"):
        read_training_file(tmp_path / "missing.jsonl")


def test_leaks_compare_prompts_with_questions_and_references_with_answers() -> None:
    """A copied question is caught on the prompt, a copied answer on the reference; a reference
    is never compared with a training *question* (that would flag every topic)."""

    class FakeCase:  # the fields contamination reads from a gerbil_eval.cases.loader.Case
        def __init__(self, id: str, prompt: str, reference: str | None) -> None:
            self.id, self.prompt, self.reference, self.messages = id, prompt, reference, ()

    sort_answer = "(import :std/sort)\n;; sort takes the list first, then the predicate\n(def names (sort lst string<?))"
    texts = [TrainingText("How do I sort a list of strings alphabetically in Gerbil Scheme?", sort_answer),
             TrainingText("What is a continuation in Scheme and when is it captured?",
                          "A continuation is the rest of the computation, captured by call/cc.")]
    cases = [FakeCase("copied-question", "How do I sort a list of strings alphabetically in Gerbil Scheme?", None),
             FakeCase("copied-answer", "Please put my list of names in order, as Gerbil code.",
                      f"```scheme\n{sort_answer.replace('names', 'sorted-names')}\n```"),
             FakeCase("fresh", "How do I open a TCP socket to a server in Gerbil Scheme?",
                      "(import :std/net/socket)\n(def sock (tcp-connect \"example.org:80\"))"),
             FakeCase("too-short", "How?", "(def x 1)")]  # any long text holds these tokens: not compared
    found = {(m.case_id, m.field, m.example) for m in leaks(cases, texts, DEFAULT_THRESHOLD)}
    assert found == {("copied-question", "prompt", 0), ("copied-answer", "reference", 0)}
    # A tiny training answer is a subset of many long references (token_set_ratio 100): not a copy.
    tiny = [TrainingText("How do I make a hash table?", "```scheme\n(def h (make-hash-table))\n```")]
    hash_case = FakeCase("hash-basics", "How do I create a hash table and put a key into it in Gerbil?",
                         "(def h (make-hash-table))\n(hash-put! h 'a 1)\n(hash-get h 'a) ; => 1, #f when absent")
    assert leaks([hash_case], tiny, DEFAULT_THRESHOLD) == []
