"""Extraction of claimed values (``; =>`` comments, REPL transcripts) from Scheme code."""

from __future__ import annotations

from gerbil_eval.annotations import (Claim, Turn, answer_claims, claims, comment_claims, is_error_value, repl_claims,
                                     transcript)
from gerbil_eval.answer import analyse
from gerbil_eval.reader import Form, Symbol, spans


def test_trailing_arrow_comment_claims_the_expression_before_it():
    [c] = comment_claims("(def h (make-hash-table))\n(hash-get h 'a)   ; => #f\n")
    assert (c.expr, c.value, c.error, c.line, c.kind) == ("(hash-get h 'a)", "#f", False, 2, "comment")
    assert c.datum == Form("(", (Symbol("hash-get"), Symbol("h"), Form("(", (Symbol("quote"), Symbol("a")), 1)), 1)


def test_arrow_spellings_and_comment_on_the_next_line():
    text = "(+ 1 2) ;=> 3\n(list 1 2)\n;;=> (1 2)\n(car '(a)) ; ==> a\n(cdr '(a)) ;; ⇒ ()\n"
    assert [(c.expr, c.value) for c in comment_claims(text)] == [
        ("(+ 1 2)", "3"), ("(list 1 2)", "(1 2)"), ("(car '(a))", "a"), ("(cdr '(a))", "()")]


def test_error_demonstrations_are_marked():
    text = ("(hash-ref h 'missing) ; => error: key not found\n"
            "(hash-ref h 'gone)    ; error\n"
            "(vector-ref v 9)      ;; raises a range exception\n"
            "(car '())             ; => *** ERROR IN (stdin)\n"
            "(hash-get h 'x)       ; => #f\n")
    assert [c.error for c in comment_claims(text)] == [True, True, True, True, False]
    assert comment_claims(text)[1].value == "error"


def test_comments_that_claim_nothing_are_ignored():
    text = ('; => a comment on its own, after nothing\n'
            '(display "a ; => b")  ; print it\n'
            "(list #\\; 1)\n"
            '\n'
            '; => separated by a blank line from the code above\n')
    assert comment_claims(text) == []


def test_nested_expression_gets_the_claim_not_its_enclosing_form():
    text = "(def (main)\n  (displayln (hash-get h 'k)) ; => #f\n  (hash-ref h 'k 0))\n"
    [c] = comment_claims(text)
    assert c.expr == "(displayln (hash-get h 'k))"


def test_claim_inside_a_form_never_reaches_a_previous_sibling_form():
    # the comment is the first thing inside (c ...): there is no expression before it there
    assert comment_claims("(a (b))\n( ; => 1\n  d)") == []


def test_quote_prefix_is_part_of_the_expression_and_datum_comments_are_skipped():
    [c] = comment_claims("#;(ignored) '(1 2) ; => (1 2)")
    assert c.expr == "'(1 2)"


def test_multiline_expression_is_claimed_whole():
    [c] = comment_claims("(let ((x 1))\n  (+ x 1)) ; => 2")
    assert c.expr == "(let ((x 1))\n  (+ x 1))" and c.value == "2"


def test_repl_transcript_prompt_and_printed_lines():
    text = ("> (def h (make-hash-table))\n"
            "> (hash-put! h 'a 1)\n"
            "> (hash-get h 'b)\n"
            "#f\n"
            "> (hash-ref h 'b)\n"
            "*** ERROR IN (stdin)@4.1 -- Unbound key: b\n"
            "> (map (lambda (x)\n"
            "         (* x x))\n"
            "       '(1 2))\n"
            "(1 4)\n")
    got = [(c.expr, c.value, c.error, c.line) for c in repl_claims(text)]
    assert got == [("(hash-get h 'b)", "#f", False, 4),
                   ("(hash-ref h 'b)", "*** ERROR IN (stdin)@4.1 -- Unbound key: b", True, 6),
                   ("(map (lambda (x)\n         (* x x))\n       '(1 2))", "(1 4)", False, 10)]


def test_repl_input_without_output_and_markdown_quotes_claim_nothing():
    text = "> (def x 1)\n\n> Note: this is a quote\nnot printed by a REPL\n"
    assert repl_claims(text) == []


def test_repl_line_with_a_trailing_comment_is_one_claim_each_way():
    text = "> (hash-get h 'b) ; missing key\n#f\n"
    [c] = claims(text)
    assert (c.expr, c.value, c.kind) == ("(hash-get h 'b)", "#f", "repl")


def test_answer_claims_come_from_scheme_blocks_with_answer_lines():
    answer = ("`hash-get` returns #f:\n\n```scheme\n(hash-get h 'a) ; => #f\n```\n\n"
              "```python\nd.get('a')  # => None\n```\n")
    got = answer_claims(analyse(answer))
    assert got == (Claim("(hash-get h 'a)", "#f", False, 4, "comment"),)


def test_answer_without_fences_is_read_whole():
    assert [c.line for c in answer_claims(analyse("Try this:\n(string-length \"ab\") ; => 2\n"))] == [2]


def test_is_error_value():
    assert is_error_value("Error: no such key") and is_error_value("*** ERROR IN (stdin)")
    assert not is_error_value("#f") and not is_error_value("\"error\"")


def test_spans_report_depth_and_skip_block_comments():
    text = "#| (x) |# (a 'b) ; c"
    got = [(s.kind, text[s.start:s.end], s.depth) for s in spans(text)]
    assert got == [("datum", "a", 1), ("datum", "'b", 1), ("datum", "(a 'b)", 0),
                   ("comment", "; c", 0)]


def test_comments_between_an_expression_and_its_arrow_are_skipped():
    [c] = comment_claims("(list 1 2)\n;; a fresh list\n;; => (1 2)\n")
    assert (c.expr, c.value, c.line) == ("(list 1 2)", "(1 2)", 3)


def test_repl_line_with_two_expressions_claims_the_value_of_the_last():
    [c] = repl_claims("> (def x 1) (+ x 1)\n2\n")
    assert (c.expr, c.value) == ("(def x 1) (+ x 1)", "2")
    assert c.datum == Form("(", (Symbol("+"), Symbol("x"), 1), 1)


def test_transcript_turns_know_their_prompt_and_last_lines():
    text = "> (def x 1)\n> (hash-get h 'b)\n#f\n\n> (list 1\n        2)\n(1 2)\n"
    assert transcript(text) == [Turn("(def x 1)", "", 1, 1), Turn("(hash-get h 'b)", "#f", 2, 3),
                                Turn("(list 1\n        2)", "(1 2)", 5, 7)]


def test_unfinished_expression_at_the_end_of_a_transcript_claims_nothing():
    assert transcript("> (map f\n  xs") == [] and repl_claims("> (map (lambda (x)\n  x)\n  xs") == []
