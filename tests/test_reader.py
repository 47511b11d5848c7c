"""The Gerbil reader on tricky input: what the code-aware assertions stand on."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from gerbil_eval.answer import code_blocks
from gerbil_eval.reader import Char, Form, Keyword, Special, Symbol, read, read_gerbil, spans, walk_forms, write_datum

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def only(text: str):
    """The single datum of a text that must read completely."""
    result = read(text)
    assert result.complete, result.errors
    assert len(result.data) == 1
    return result.data[0]


def test_string_with_parens_and_semicolon_is_one_string():
    form = only('(display "a (b ; c) \\" d")')
    assert form.items == (Symbol("display"), 'a (b ; c) " d')


def test_char_literals_do_not_open_or_close_forms():
    form = only(r"(list #\( #\) #\; #\space #\x41 #\a #\\)")
    assert form.items[1:] == (Char("("), Char(")"), Char(";"), Char("space"), Char("x41"), Char("a"), Char("\\"))


def test_unknown_character_name_is_a_read_error():
    assert not read(r"#\spaec").complete


def test_nested_block_comments_are_skipped_whole():
    data = read_gerbil("(a #| outer #| inner (b |# still (c |# d)")
    assert data == (Form("(", (Symbol("a"), Symbol("d")), 1),)


def test_unterminated_block_comment_is_an_error():
    result = read("(a) #| never closed")
    assert [str(e) for e in result.errors] == ["line 1: unterminated block comment #| ... |#"]


def test_line_comment_hides_a_call():
    assert read_gerbil("; (hash-set! h k v)\n(ok)") == (Form("(", (Symbol("ok"),), 2),)


def test_datum_comment_drops_exactly_the_next_datum():
    assert read_gerbil("#;(hash-set! h k v) (kept)") == (Form("(", (Symbol("kept"),), 1),)
    assert read_gerbil("#; #; a b c") == (Symbol("c"),)
    assert read_gerbil("(x #;[1 2] y)")[0].items == (Symbol("x"), Symbol("y"))


def test_quote_then_datum_comment_quotes_the_datum_after_the_comment():
    assert write_datum(only("'#;a b")) == "'b"


def test_keywords_and_module_symbols():
    form = only("(connect host port: 80 :std/iter)")
    assert form.items[2] == "port:" and isinstance(form.items[2], Keyword)
    assert type(form.items[4]) is Symbol and form.items[4] == ":std/iter"


def test_bytevectors_vectors_and_bracket_kinds():
    form = only("[#u8(1 2) #(a b) {m obj}]")
    assert form.open == "["
    assert [f.open for f in form.items] == ["#u8(", "#(", "{"]
    assert form.items[0].items == (1, 2)


def test_mismatched_bracket_names_both_lines():
    result = read("(let ((x 1))\n  [x\n  )")
    assert "'[' opened on line 2 is closed by ')'" in str(result.errors[0])
    assert result.errors[0].line == 3


def test_dotted_pair_reads_with_the_dot_as_an_item():
    quoted = only("'(a . b)")
    assert quoted.items[0] == "quote"
    assert quoted.items[1].items == (Symbol("a"), Symbol("."), Symbol("b"))


def test_quasiquote_unquote_and_syntax_quotes_become_forms():
    form = only("`(x ,y ,@z #'s #`t #,u #,@v)")
    assert write_datum(form) == "`(x ,y ,@z #'s #`t #,u #,@v)"
    inner = form.items[1]
    assert [f.items[0] for f in inner.items[1:]] == ["unquote", "unquote-splicing", "syntax", "quasisyntax",
                                                    "unsyntax", "unsyntax-splicing"]


def test_specials_booleans_and_numbers():
    form = only("(#!void #!eof #!optional #t #f #true 42 -7 3.5 1/2 #x1F #b101 #e1.5 .5)")
    assert form.items[:3] == (Special("#!void"), Special("#!eof"), Special("#!optional"))
    assert form.items[3:6] == (True, False, True)
    assert form.items[6:] == (42, -7, 3.5, Fraction(1, 2), 31, 5, 1.5, 0.5)


def test_symbols_that_look_like_numbers_stay_symbols():
    form = only("(+ - ... 1+ ->string a.b)")
    assert all(type(x) is Symbol for x in form.items)


def test_pipe_symbol_with_spaces():
    assert only("|sym with space|") == "sym with space"


def test_gambit_primitives_heredocs_and_shebang():
    data = read_gerbil('#!/usr/bin/env gxi\n(##gc)\n(c-declare #<<END\nint f() { return ")"; }\nEND\n)')
    assert data[0].items == (Symbol("##gc"),)
    assert data[1].items == (Symbol("c-declare"), 'int f() { return ")"; }')


def test_repl_transcripts_read():
    """Answers paste REPL sessions: prompts, printed objects and #N object references are all fine."""
    result = read("> (atom 42)\n#<Atom #8>\n> (atom? #8)\n#t\n> string->symbol\n#<procedure #2 string->symbol>")
    assert result.complete
    assert [type(d).__name__ for d in result.data] == ["Symbol", "Form", "Special", "Symbol", "Form", "bool",
                                                      "Symbol", "Symbol", "Special"]


def test_string_escapes_are_decoded():
    assert only(r'"a\nb\t\x41;\\"') == "a\nb\tA\\"


def test_tolerant_read_keeps_what_precedes_an_unclosed_form():
    result = read("(import :std/iter)\n(def (f x)\n  (hash-for-each")
    assert not result.complete
    assert [str(e) for e in result.errors] == ["line 3: '(' is never closed", "line 2: '(' is never closed"]
    heads = [f.items[0] for f in walk_forms(result.data) if f.items]
    assert heads == ["import", "def", "f", "hash-for-each"]


def test_stray_closer_is_reported_and_reading_goes_on():
    result = read(") (after)")
    assert [str(e) for e in result.errors] == ["line 1: unbalanced ')' with no open bracket"]
    assert result.data == (Form("(", (Symbol("after"),), 1),)


def test_unterminated_string_is_an_error_with_its_line():
    result = read('(a)\n(display "oops)')
    assert [str(e) for e in result.errors][0] == "line 2: unterminated string"


def test_quote_with_nothing_after_it_is_an_error():
    assert "' has no datum after it before ')'" in str(read("(a ')").errors[0])


def test_unknown_hash_syntax_is_an_error_but_racket_keywords_do_not_crash():
    result = read("(define (f #:key k) k)")
    assert "unknown # syntax '#:key'" in str(result.errors[0])
    assert walk_forms(result.data)[0].items[0] == "define"


def test_deep_nesting_does_not_hit_the_recursion_limit():
    depth = 50_000
    result = read("(" * depth + ")" * depth)
    assert result.complete
    assert len(walk_forms(result.data)) == depth
    assert write_datum(result.data[0], limit=20).endswith("...")


def test_write_datum_round_trips_through_read():
    text = "(def (f x . rest) [1 \"s\\\"q\" #\\( port: {m o} #u8(1) '(a . b) `(,x) #!void |a b| #t 1/2])"
    datum = only(text)
    assert only(write_datum(datum, limit=1000)) == datum


@pytest.mark.skipif(not (SHARED / "data" / "gerbil-docs").is_dir(), reason="../shared/data not present")
def test_real_gerbil_docs_scheme_blocks_read():
    """Nearly every scheme block of the real Gerbil docs reads; the rest are REPL transcripts and signatures."""
    total = ok = 0
    for md in sorted((SHARED / "data" / "gerbil-docs").rglob("*.md")):
        for block in code_blocks(md.read_text(encoding="utf-8")):
            if block.lang == "scheme":
                total += 1
                ok += read(block.text).complete
    assert total > 1000
    assert ok / total > 0.9, f"{ok}/{total}"


@pytest.mark.skipif(not (SHARED / "data" / "gerbil-mcp").is_dir(), reason="../shared/data not present")
def test_real_cookbook_recipes_read():
    recipes = json.loads((SHARED / "data" / "gerbil-mcp" / "cookbooks.json").read_text(encoding="utf-8"))
    complete = sum(read(r["code"]).complete for r in recipes)
    assert complete / len(recipes) > 0.85, f"{complete}/{len(recipes)}"


def test_exactness_prefixes_combine_with_one_radix_prefix_only():
    assert only("#e#x10") == 16
    result = read("#e" * 5000 + "1")  # no recursion blow-up on adversarial input
    assert not result.complete


def test_a_plain_string_and_a_one_digit_hex_escape():
    assert read_gerbil('"abc"') == ("abc",)
    assert only(r'"a\x9;b"') == "a\tb"


def test_an_integer_too_long_for_python_stays_one_symbol_token():
    """A 5,000-digit literal must neither crash scoring nor split into several data."""
    digits = "9" * 5000
    assert read(digits).data == (Symbol(digits),)


def test_decimal_radix_prefix_reads_exponents_and_trailing_dots():
    assert only("#d1e3") == 1000.0
    assert only("#d1.") == 1.0
    assert only("#d12") == 12


def test_unclosed_string_at_the_start_keeps_its_text_and_the_data_before_it():
    assert read_gerbil('"abc') == ("abc",)
    result = read('(f "abc')
    assert [str(e) for e in result.errors] == ["line 1: unterminated string", "line 1: '(' is never closed"]
    assert result.data == (Form("(", (Symbol("f"), "abc"), 1),)


def test_a_printed_object_alone_is_one_special_datum():
    assert only("#<foo>") == Special("#<foo>")


@pytest.mark.parametrize("text, value", [
    (r'"\x9"', "\t"), (r'"\xg"', "xg"), (r'"\x110000;"', chr(0x10FFFF)), ('"a\\\nb"', "ab"),
])
def test_string_escape_edge_cases(text, value):
    """A hex escape may end without ';', '\\x' without digits is an x, code points are capped,
    and a backslash-newline continues the line."""
    assert only(text) == value


@pytest.mark.parametrize("text, value", [
    ("#o17", 15), ("#xF", 15), ("#e1", 1), ("x:", Keyword("x:")), (":", Symbol(":")), ("##a", Symbol("##a")),
])
def test_short_prefixed_tokens(text, value):
    datum = only(text)
    assert datum == value and type(datum) is type(value)


@pytest.mark.parametrize("text", ["#d1a", "#x1_0", "##", r"#\ab"])
def test_malformed_short_tokens_are_read_errors(text):
    assert not read(text).complete


def test_gambit_primitives_read_without_error():
    assert read("(##gc)").complete


def test_errors_come_in_source_order_with_lines_counted_from_a_leading_newline():
    assert [str(e) for e in read("\n(a '").errors] == ["line 2: ' has no datum after it before the end",
                                                       "line 2: '(' is never closed"]


def test_write_datum_cuts_at_its_limit_exactly():
    fits = Form("(", (Symbol("a" * 78),), 1)  # 80 characters
    assert write_datum(fits) == "(" + "a" * 78 + ")"
    cut = write_datum(Form("(", (Symbol("a" * 79),), 1))  # 81 characters
    assert cut == "(" + "a" * 76 + "..." and len(cut) == 80


def test_write_datum_keeps_brackets_and_pipes_where_reading_needs_them():
    assert write_datum(only("[quote x]")) == "[quote x]"
    assert write_datum(Symbol("#foo")) == "|#foo|"


def test_spans_give_each_datum_with_its_prefixes_and_depth_and_drop_datum_comments():
    """What ``; =>`` annotations are paired by: a quoted datum starts at its quote (at any depth),
    a printed object is one datum, ``#;`` removes the datum after it, an unclosed string runs to
    the end, a stray closer is skipped, and each span knows how deep in brackets it sits."""
    text = "(f 'x #;y #<obj 1> ; c\n `(,z)) \"tail"
    assert [(s.kind, text[s.start:s.end], s.depth) for s in spans(text)] == [
        ("datum", "f", 1), ("datum", "'x", 1), ("datum", "#<obj 1>", 1), ("comment", "; c", 1),
        ("datum", ",z", 2), ("datum", "`(,z)", 1), ("datum", "(f 'x #;y #<obj 1> ; c\n `(,z))", 0),
        ("datum", '"tail', 0)]
    stray = ") 'a"
    assert [(stray[s.start:s.end], s.depth) for s in spans(stray)] == [("'a", 0)]
