"""How close each eval case is to the training data: leak detection in both directions.

A score on a case the model saw during training measures memorisation, not skill. Each case's
prompt is compared with every training question and its reference answer with every training
answer, and a case whose nearest training example scores at least the threshold is *seen*.
The pipeline's data builder uses the same comparison to drop (``--decontaminate``) or report
training examples that leak a case; the harness uses :func:`mark_seen` for
``pytest --train-data FILE`` so the report can show seen and unseen scores apart.

Scorer: ``rapidfuzz.fuzz.token_set_ratio`` on case-folded text with code-fence markers and
whitespace runs removed. Measured on the real cookbook + docs build (4,028 examples) against
the case library: answers built from a cookbook recipe (variables renamed, prose around it,
or only half of the code) score 92-99, while the library's independently written references
on the same topics score at most 84. ``ratio`` and ``token_sort_ratio`` put partial copies
(48-60) below unrelated text (up to 53); ``partial_token_set_ratio`` scores everything 100
(one shared token suffices); ``partial_ratio`` had not finished 10 answers x 4,028 examples
after 5 minutes. Hence the default threshold 0.88, between the two groups (a copy renaming
one identifier in all its 10 occurrences scores 0.88, right at the edge). All comparisons go
through ``rapidfuzz.process.cdist`` (C++, all cores).

Questions are compared with ``token_sort_ratio`` instead: a leaked question is the same
question (word order aside), while ``token_set_ratio`` scores a short question high against any
longer one that shares its template. Measured on the same build, the eleven verbatim verify
prompts (9-12 tokens) scored 85-94 against unrelated questions such as "Show me how to parse
XML string to SXML in Gerbil Scheme." under ``token_set_ratio`` and at most 77 under
``token_sort_ratio``.

``token_set_ratio`` is 100 whenever one token set contains the other — exactly what a copied
reference inside a longer training answer looks like, but also what a three-token text
("(def x 1)") gets against any long answer by chance. Case fields and training questions
and answers with fewer than ``MIN_TOKENS`` distinct tokens are therefore not compared (a
three-token training answer inside a case's long reference is a shared idiom, not a copy);
every case of the library has more (its shortest prompt has 9, its shortest reference 33).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
from rapidfuzz import fuzz, process

from ..errors import GerbilEvalError
from ..safety.inputs import parse_json, read_text

SCORER = fuzz.token_set_ratio
SCORER_NAME = "token_sort_ratio (questions), token_set_ratio (answers)"
QUESTION_SCORER = fuzz.token_sort_ratio
DEFAULT_THRESHOLD = 0.88
MIN_TOKENS = 8
_ROLE_OF = {"human": "user", "gpt": "assistant", "system": "system",
            "user": "user", "assistant": "assistant"}


@dataclass(frozen=True)
class TrainingText:
    """The question and the answer of one training example, as plain text."""

    prompt: str
    answer: str


@dataclass(frozen=True)
class Match:
    """A case field and the training example closest to it."""

    case_id: str
    field: str        # "prompt" (vs training questions) or "reference" (vs training answers)
    example: int      # index into the training texts
    score: float      # 0..1


def normalise(text: str) -> str:
    """Case-folded, fence markers and whitespace runs removed: formatting is not content."""
    return " ".join(text.replace("```scheme", " ").replace("```", " ").casefold().split())


def case_fields(case: Any) -> list[tuple[str, str]]:
    """``[("prompt", text), ("reference", text)]`` of a :class:`~gerbil_eval.cases.loader.Case`, long enough to compare."""
    prompt = case.prompt or next((m["content"] for m in reversed(case.messages) if m.get("role") == "user"), "")
    fields = [("prompt", prompt)]
    if case.reference:
        fields.append(("reference", case.reference))
    return [(name, text) for name, text in fields if len(set(normalise(text or "").split())) >= MIN_TOKENS]


def token_set(text: str) -> str:
    """The sorted distinct tokens of :func:`normalise`'d text, joined.

    ``token_set_ratio`` only looks at token sets, so handing it this form gives identical
    scores (checked on the real data) while it no longer re-splits and re-sorts every long
    training answer once per case: about 2x faster.
    """
    return " ".join(sorted(set(normalise(text).split())))


def _comparable(text: str) -> str:
    """:func:`token_set` of ``text``, or "" (which scores 0) below ``MIN_TOKENS`` distinct tokens."""
    tokens = token_set(text)
    return tokens if tokens.count(" ") + 1 >= MIN_TOKENS else ""


def _comparable_question(text: str) -> str:
    """:func:`normalise`'d text for the question scorer, or "" below ``MIN_TOKENS`` distinct tokens."""
    return normalise(text) if _comparable(text) else ""


def _scores(queries: Sequence[str], choices: Sequence[str], threshold: float, questions: bool = False) -> np.ndarray:
    """Similarity 0..1 of every query to every choice; scores under ``threshold`` are 0, and so
    are the scores of a choice too short to compare. ``questions`` compares whole questions
    (``QUESTION_SCORER``) instead of token sets."""
    if not queries or not choices:
        return np.zeros((len(queries), len(choices)), dtype=np.float32)
    if questions:
        prepared = ([normalise(q) for q in queries], [_comparable_question(c) for c in choices], QUESTION_SCORER)
    else:
        prepared = ([token_set(q) for q in queries], [_comparable(c) for c in choices], SCORER)
    return process.cdist(prepared[0], prepared[1], scorer=prepared[2],
                         score_cutoff=threshold * 100.0, dtype=np.float32, workers=-1) / 100.0


def leaks(cases: Iterable[Any], texts: Sequence[TrainingText], threshold: float) -> list[Match]:
    """Every (case field, training example) pair scoring at least ``threshold`` (0..1), best first.

    Prompts are compared with training questions, references with training answers.
    """
    rows: dict[str, list[tuple[str, str]]] = {"prompt": [], "reference": []}
    for case in cases:
        for name, text in case_fields(case):
            rows[name].append((case.id, text))
    found = []
    for name, choices in (("prompt", [t.prompt for t in texts]), ("reference", [t.answer for t in texts])):
        scores = _scores([text for _, text in rows[name]], choices, threshold, questions=name == "prompt")
        found += [Match(rows[name][r][0], name, int(e), round(float(scores[r, e]), 4))
                  for r, e in zip(*np.nonzero(scores >= threshold))]
    return sorted(found, key=lambda m: (-m.score, m.case_id, m.field, m.example))


def record_text(record: Any, where: str) -> TrainingText:
    """Question and answer of one record in the Together, ShareGPT or Alpaca format."""
    if isinstance(record, dict) and isinstance(record.get("instruction"), str):
        prompt = "\n".join(filter(None, (record["instruction"], record.get("input") or "")))
        return TrainingText(prompt, str(record.get("output") or ""))
    turns = record.get("messages", record.get("conversations")) if isinstance(record, dict) else None
    if not isinstance(turns, list):
        raise GerbilEvalError(f"{where}: not a training record: expected messages (Together), "
                              "conversations (ShareGPT) or instruction/output (Alpaca)")
    by_role: dict[str, list[str]] = {"user": [], "assistant": []}
    for turn in turns:
        if isinstance(turn, dict):
            role = _ROLE_OF.get(str(turn.get("role", turn.get("from"))))
            if role in by_role:
                by_role[role].append(str(turn.get("content", turn.get("value")) or ""))
    return TrainingText("\n".join(by_role["user"]), "\n".join(by_role["assistant"]))


def read_training_file(path: Path) -> list[TrainingText]:
    """All examples of a JSONL training file in any of the three formats (detected per line)."""
    if not path.is_file():
        raise GerbilEvalError(f"--train-data {path}: file not found")
    texts = []
    for line_no, line in enumerate(read_text(path, f"--train-data {path}").splitlines(), 1):
        if line.strip():
            record = parse_json(line, f"--train-data {path}: line {line_no}")
            texts.append(record_text(record, f"{path}: line {line_no}"))
    if not texts:
        raise GerbilEvalError(f"--train-data {path}: no training records")
    return texts


def mark_seen(cases: Sequence[Any], train_file: Path, threshold: float = DEFAULT_THRESHOLD) -> dict[str, bool]:
    """``{case_id: seen}``: True when some training example scores at least ``threshold`` (0..1)
    against the case's prompt or reference, i.e. the nearest one is above the threshold."""
    seen = {m.case_id for m in leaks(cases, read_training_file(train_file), threshold)}
    return {case.id: case.id in seen for case in cases}
