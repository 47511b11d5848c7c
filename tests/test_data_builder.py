"""``python -m pipeline data``: the training-data builder on the real cookbook and docs.

Real inputs come from ``../shared/data`` beside the project (skipped when absent); small
hand-made inputs cover the error paths and the .ss extractor (no Gerbil source tree ships
with the shared data).
"""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.__main__ import main as pipeline_main
from pipeline.data import DataError
from pipeline.data.build import BuildConfig, build
from pipeline.data.clean import clean
from pipeline.data.cookbook import load_cookbook, repair_code
from pipeline.data.generate import Example, generate, recipe_examples
from pipeline.data.gerbil_sources import definitions
from pipeline.data.split import split
from pipeline.data.validate import validate_examples, validate_together_file

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
COOKBOOK = DATA / "gerbil-mcp" / "cookbooks.json"
DOCS = DATA / "gerbil-docs"
RESOURCES = DATA / "gerbil-mcp" / "resources"
needs_data = pytest.mark.skipif(not COOKBOOK.is_file(), reason=f"real data absent: {DATA}")
FILES = ("training_data_together.jsonl", "training_data.jsonl", "training_data_alpaca.jsonl",
         "train.jsonl", "validation.jsonl", "manifest.json")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def run_cli(*argv: str) -> int:
    return pipeline_main(["data", *argv])


def build_real(out: Path) -> int:
    """The real cookbook + docs + gerbil-mcp guides through the CLI, from a folder with no cases/
    (the CLI would check the project's case library; test_contamination.py covers that)."""
    cwd = Path.cwd()
    os.chdir(out.parent)
    try:
        return run_cli("--cookbook", str(COOKBOOK), "--docs", str(DOCS), "--docs", str(RESOURCES), "-o", str(out))
    finally:
        os.chdir(cwd)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The full cookbook + docs tree (+ the gerbil-mcp guides), built once through the CLI."""
    if not COOKBOOK.is_file():
        pytest.skip(f"real data absent: {DATA}")
    out = tmp_path_factory.mktemp("built") / "out"
    assert build_real(out) == 0
    return out, json.loads((out / "manifest.json").read_text(encoding="utf-8"))


@needs_data
def test_full_build_counts_entries_per_source_in_the_manifest(built: tuple[Path, dict]) -> None:
    out, manifest = built
    counts = manifest["counts"]
    assert counts["inputs"]["cookbook"] == 752
    assert counts["inputs"]["docs"] > 2000  # one section per heading of ~190 pages
    assert set(counts["kept"]) == {"cookbook", "docs"}
    total = sum(counts["kept"].values())
    excluded = [d for d in manifest["dropped"] if d["reason"] == "excluded"]
    assert len(excluded) == counts["dropped"]["excluded"]
    recipes_left = 752 - sum(d["id"].startswith("cookbook:") for d in excluded)
    assert recipes_left <= counts["generated"]["cookbook"] <= 2 * recipes_left  # howto + explain when notes
    for name in FILES[:3]:
        assert counts["formats"][name] == total == len(read_jsonl(out / name))
    assert counts["split"]["train"] + counts["split"]["validation"] == total
    assert 0.03 < counts["split"]["validation"] / total < 0.07
    assert manifest["tokens"]["all"] == sum(len(m["content"]) for r in read_jsonl(out / FILES[0])
                                            for m in r["messages"]) // 4
    assert {i["kind"] for i in manifest["inputs"]} == {"cookbook", "docs"}
    assert all(re.fullmatch(r"[0-9a-f]{64}", i["sha256"]) for i in manifest["inputs"])


@needs_data
def test_all_three_files_are_valid_in_their_formats(built: tuple[Path, dict]) -> None:
    out, _ = built
    assert validate_together_file(out / "training_data_together.jsonl") > 3000
    for row in read_jsonl(out / "training_data.jsonl"):
        roles = [turn["from"] for turn in row["conversations"]]
        assert roles == ["system", "human", "gpt"] and all(t["value"].strip() for t in row["conversations"])
    for row in read_jsonl(out / "training_data_alpaca.jsonl"):
        assert set(row) == {"instruction", "input", "output"} and row["instruction"].strip() and row["output"].strip()


@needs_data
def test_the_together_sdk_file_checker_accepts_the_together_file(built: tuple[Path, dict]) -> None:
    from together.lib.utils.files import check_file  # the SDK's own pre-upload checker

    out, _ = built
    for name in ("training_data_together.jsonl", "train.jsonl", "validation.jsonl"):
        report = check_file(out / name)
        assert report["is_check_passed"], report["message"]


@functools.lru_cache(maxsize=None)
def howto_question(recipe_id: str) -> str:
    """The recipe-howto question of a recipe (the output files carry no ids; the generator is deterministic)."""
    recipe = next(r for r in load_cookbook(COOKBOOK) if r.id == recipe_id)
    return next(recipe_examples(recipe, "S")).prompt


@needs_data
@pytest.mark.parametrize("recipe_id,expected", [
    ("crypto-digest-sha256-md5", '\n(def hash256-str (sha256 (string->bytes "hello")))\n'),
    ("parse-ini-file", "(import :std/sugar"),
    ("fuzzy-filter-sort-file-completion", "\n    path))\n```"),  # stray closing quote of the 1st encoding gone
])
def test_double_escaped_recipes_are_fixed(built: tuple[Path, dict], recipe_id: str, expected: str) -> None:
    out, manifest = built
    assert recipe_id in manifest["repaired_recipes"]
    question = howto_question(recipe_id)
    answer = next(r["output"] for r in read_jsonl(out / "training_data_alpaca.jsonl") if r["instruction"] == question)
    assert expected in answer
    code = answer.split("```scheme\n", 1)[1].split("\n```", 1)[0]
    assert "\\n" not in code and '\\"' not in code
    assert code.count("\n") >= 5


def test_repair_keeps_real_string_escapes_and_fixes_double_escaped_code() -> None:
    one_liner = '(display "done\\n")'  # a correct recipe: \n inside a Scheme string
    assert repair_code(one_liner) == (one_liner, False)
    multi_line = '(def (f)\n  (display "a\\n"))'
    assert repair_code(multi_line) == (multi_line, False)
    stored_twice = '(import :std/format)\\n\\n(printf \\"~a\\\\n\\" x)"'
    assert repair_code(stored_twice) == ('(import :std/format)\n\n(printf "~a\\n" x)', True)


@needs_data
def test_recipes_and_sections_the_sources_contradict_are_left_out_with_the_reason(built: tuple[Path, dict]) -> None:
    out, manifest = built
    excluded = {d["id"]: d["detail"] for d in manifest["dropped"] if d["reason"] == "excluded"}
    assert "hash-ref without default" in excluded["cookbook:void-is-truthy-use-hash-get-not-hash-ref"]
    assert ":std/sync/barrier" in excluded["cookbook:barrier-synchronization-v19"]
    assert "deprecated" in excluded["cookbook:list-head-not-builtin"]
    assert ":gerbil/gambit/threads" in excluded["docs:gerbil-docs/reference/std/misc/barrier.md#make-barrier"]
    text = (out / "training_data_together.jsonl").read_text(encoding="utf-8")
    assert "(base64-encode \\\"hello\\\")" not in text and ":std/sync/barrier" not in text


@needs_data
def test_code_fences_are_tagged_scheme(built: tuple[Path, dict]) -> None:
    out, _ = built
    openings = []
    for row in read_jsonl(out / "training_data_together.jsonl"):
        inside = False
        for line in row["messages"][2]["content"].splitlines():
            if line.lstrip().startswith("```"):
                if not inside:
                    openings.append(line.strip())
                inside = not inside
        assert not inside, row["messages"][1]["content"]  # every fence is closed
    assert openings.count("```scheme") > 0.9 * len(openings)
    assert "```" not in openings and "``` scheme" not in openings  # bare or spaced tags normalised


@needs_data
def test_rerun_is_byte_identical(built: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = built
    assert build_real(tmp_path / "again") == 0
    for name in FILES:
        assert (tmp_path / "again" / name).read_bytes() == (out / name).read_bytes(), name


@needs_data
def test_split_keeps_each_recipe_on_one_side_and_follows_the_seed(built: tuple[Path, dict]) -> None:
    out, _ = built
    train = {r["messages"][2]["content"] for r in read_jsonl(out / "train.jsonl")}
    validation = read_jsonl(out / "validation.jsonl")
    # a held-out recipe's howto and explain examples are both held out: its code is in no training answer
    held_code = [r["messages"][2]["content"] for r in validation if r["messages"][2]["content"].startswith("```scheme")]
    assert held_code and not any(code in train for code in held_code)


def _example(origin: str, answer: str, subject: str = "", generator: str = "doc-section") -> Example:
    messages = ({"role": "system", "content": "S"}, {"role": "user", "content": f"About {subject or origin}?"},
                {"role": "assistant", "content": answer})
    return Example(f"{origin}/{generator}", "docs", origin, generator, messages, subject)


def test_split_is_seeded_and_grouped_by_origin() -> None:
    examples = [_example(f"o{i}", "x" * 30) for i in range(100)] + [_example("o1", "y" * 30, generator="other")]
    a_train, a_val = split(examples, 0.1, seed=1)
    b_train, b_val = split(examples, 0.1, seed=1)
    _, c_val = split(examples, 0.1, seed=2)
    assert a_val == b_val and a_train == b_train and a_val != c_val
    assert {e.origin for e in a_val}.isdisjoint({e.origin for e in a_train})
    assert len({e.origin for e in a_val}) == 10


def test_near_duplicates_are_dropped_but_near_identical_docs_of_different_bindings_kept() -> None:
    body = "Returns the SHA-1 digest of the u8vector `bytes` as a u8vector. " * 5
    examples = [
        _example("docs:a/sha.md#sha1", body, subject="sha1"),
        _example("docs:a/sha.md#sha224", body.replace("SHA-1", "SHA-224"), subject="sha224"),  # distinct fact
        _example("docs:b/copy.md#sha1", body.replace("Returns", "Gives", 1), subject="sha1"),  # copied page, one word edited
        _example("docs:a/empty.md#x", "   ", subject="x"),
    ]
    kept, dropped = clean(examples)
    assert [e.origin for e in kept] == ["docs:a/sha.md#sha1", "docs:a/sha.md#sha224"]
    assert {(d.origin, d.reason) for d in dropped} == {("docs:b/copy.md#sha1", "near-duplicate"), ("docs:a/empty.md#x", "empty")}


def test_together_rule_violation_names_the_entry_and_its_source() -> None:
    example = _example("cookbook:my-recipe", "fine answer here, long enough")
    bad = {"messages": [{"role": "user", "content": "Q"}, {"role": "user", "content": "Q again"}]}
    with pytest.raises(DataError, match=r"training entry 1 \(cookbook:my-recipe/doc-section, from cookbook:my-recipe\): "
                                        r"message 1: expected role assistant"):
        validate_examples([bad], [example])


def test_source_definitions_become_examples_with_their_comments(tmp_path: Path) -> None:
    text = (';;; module header\n\n;; Add two numbers.\n;; Returns their sum.\n(def (add a b)\n  (+ a b))\n\n'
            '(def s "(not a form")\n#| (def hidden 1) |#\n(defstruct point (x y))\n(export add)\n')
    found = definitions(text, "src", "std/math.ss")
    assert [(d.kind, d.name, d.comment) for d in found] == [
        ("def", "add", "Add two numbers.\nReturns their sum."), ("def", "s", ""), ("defstruct", "point", "")]
    examples = generate([], [], found, "S")
    explain = next(e for e in examples if e.generator == "source-explain")
    assert explain.prompt == "What does `add` in Gerbil's `std/math.ss` do?"
    assert explain.answer.startswith("Add two numbers.") and "```scheme\n(def (add a b)" in explain.answer


@needs_data
def test_sources_tree_counts_in_the_manifest(tmp_path: Path) -> None:
    src = tmp_path / "src" / "std"
    src.mkdir(parents=True)
    (src / "util.ss").write_text(";; Double it.\n(def (double x) (* 2 x))\n", encoding="utf-8")
    manifest = build(BuildConfig(cookbook=COOKBOOK, docs=(RESOURCES,), sources=(tmp_path / "src",), out_dir=tmp_path / "out"))
    assert manifest["counts"]["inputs"]["sources"] == 1 and manifest["counts"]["kept"]["sources"] == 2


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _cookbook(tmp_path: Path, text: str) -> Path:
    return _write(tmp_path / "cookbooks.json", text)


GOOD_RECIPE = ('{"id": "r1", "title": "Add numbers", "tags": [], "imports": [], "code": "(+ 1 2)", '
               '"notes": "+ takes any number of arguments."}')


@pytest.mark.parametrize("make_args,message", [
    (lambda t: ["--cookbook", str(t / "nope.json"), "--docs", str(t / "docs")], r"nope\.json: cookbook file not found"),
    (lambda t: ["--cookbook", str(_cookbook(t, '[\n  {"id": "r1",\n   "title": }\n]')), "--docs", str(t / "docs")],
     r"cookbooks\.json: invalid JSON at line 3 column 13"),
    (lambda t: ["--cookbook", str(_cookbook(t, f'[{GOOD_RECIPE[:-1]}, "titel": "x"}}]')), "--docs", str(t / "docs")],
     r"entry 0 \(id 'r1'\): unknown field\(s\) titel"),
    (lambda t: ["--cookbook", str(_cookbook(t, f"[{GOOD_RECIPE}]")), "--docs", str(t / "empty")],
     r"empty: no Markdown \(\.md\) files in this --docs folder"),
    (lambda t: ["--cookbook", str(_cookbook(t, f"[{GOOD_RECIPE}]")), "--docs", str(t / "docs"), "--sources", str(t / "empty")],
     r"empty: no Gerbil source \(\.ss\) files in this --sources folder"),
    (lambda t: ["--cookbook", str(_cookbook(t, f"[{GOOD_RECIPE}]")), "--docs", str(t / "docs"),
                "--exclude-ids", str(_write(t / "skip.txt", "r1 wrong arity\nr9  # typo\n"))],
     r"--exclude-ids .*skip\.txt: no recipe with id r9 in "),
    (lambda t: ["--cookbook", str(_cookbook(t, f"[{GOOD_RECIPE}]")), "--docs", str(t / "docs"), "--decontaminate",
                "--cases", str(t / "nocases")], r"nocases"),
])
def test_bad_input_is_one_clear_error_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         make_args, message: str) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text("# Page\n\nSome text about `hash-get` in Gerbil.\n", encoding="utf-8")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not markdown", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("earlier content", encoding="utf-8")
    status = run_cli(*make_args(tmp_path), "-o", str(out))
    err = capsys.readouterr().err
    assert status == 4
    assert re.search(message, err), err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]  # nothing written, no temp file left


def test_small_build_end_to_end(tmp_path: Path) -> None:
    """A two-recipe cookbook and one page build without the shared data, with every output."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "hash.md").write_text("# Hash tables\n\n## hash-get\n```\n(hash-get h k)\n```\nReturns the value or #f.\n",
                                  encoding="utf-8")
    second = (GOOD_RECIPE.replace('"r1"', '"r2"').replace("Add numbers", "Multiply").replace("(+ 1 2)", "(* 3 4)")
              .replace("+ takes any", "* also takes any"))
    third = GOOD_RECIPE.replace('"r1"', '"r3"').replace("Add numbers", "Subtract").replace("(+ 1 2)", "(- 5 4)")
    manifest = build(BuildConfig(cookbook=_cookbook(tmp_path, f"[{GOOD_RECIPE}, {second}, {third}]"), docs=(docs,),
                                 out_dir=tmp_path / "out", val_fraction=0.3, system_prompt="Be brief.",
                                 exclude_ids=_write(tmp_path / "skip.txt", "# reviewed by hand\nr3 wrong operator\n")))
    assert manifest["counts"]["kept"] == {"cookbook": 4, "docs": 1}
    assert {"id": "cookbook:r3", "origin": "cookbook:r3", "reason": "excluded",
            "detail": "excluded by skip.txt: wrong operator"} in manifest["dropped"]
    rows = read_jsonl(tmp_path / "out" / "training_data_together.jsonl")
    assert rows[0]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert "add numbers" in rows[0]["messages"][1]["content"]
    assert rows[0]["messages"][2]["content"] == "```scheme\n(+ 1 2)\n```\n\n+ takes any number of arguments."
    doc = rows[-1]["messages"]
    assert doc[1]["content"].startswith(("What does `hash-get` do", "Explain `hash-get`"))
    assert doc[2]["content"].startswith("```scheme\n(hash-get h k)\n```")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(FILES)


_STRING_PIECES = st.sampled_from(["a", "b ", "\\n", '\\"', "\\\\", "(", ")", ";", "é", "#\\\\x"])
_FORMS = st.builds(lambda name, pieces: f'({name} "{"".join(pieces)}")',
                   st.sampled_from(["display", "def x", "print", "error"]), st.lists(_STRING_PIECES, max_size=6))


@given(st.lists(_FORMS, min_size=2, max_size=5), st.sampled_from(["\n", "\n\n", "\n  ", "\n;; comment\n"]),
       st.booleans())
def test_repair_round_trips_any_double_escaped_multi_line_code(forms: list[str], sep: str, ascii_only: bool) -> None:
    """Encoding multi-line Scheme once more as a JSON string body is undone exactly; the
    correctly stored original (real line breaks, string escapes inside) is never touched."""
    code = sep.join(forms)
    assert repair_code(code) == (code, False)
    assert repair_code(json.dumps(code, ensure_ascii=ascii_only)[1:-1]) == (code, True)
