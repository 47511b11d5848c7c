"""``resolves`` on each of Gerbil's binding forms: a name the answer binds itself is no offender
inside its scope, and is one again outside it.

Every snippet was run with the real gxi v0.18.1 (the master-only ``def/c`` was checked against
``src/gerbil/core/contract.ss``). The names bound are real Gerbil names from modules the
snippets do not import (``count`` from :std/srfi/1, ``text`` from :std/srfi/135, ``read-json``
from :std/text/json) or names of Gerbil's own vocabulary (``file-entry-path``, ``read-lines``),
so a walker that misses a binding blames them; a free unknown variable would pass either way
(a placeholder for the user's value).
"""

from __future__ import annotations

import pytest

from tests.test_bindings import resolves


@pytest.mark.parametrize("code", [
    # a list pattern binds its elements, also the first one
    "(match [1 2 3] ([count . more] (list count more)))",
    # definitions inside a top-level begin are visible after it
    "(begin (def count 3) (def text \"a\"))\n(displayln count text)",
    # a struct's generated constructor and accessors, for every field
    "(defstruct file-entry (path size))\n(def e (make-file-entry \"a\" 1))\n"
    "(displayln (file-entry-path e) (file-entry-size e))",
    # defvalues / define-values bind every name of the list
    "(defvalues (count text) (values 1 \"a\"))\n(displayln text count)",
    "(define-values (count text) (values 1 \"a\"))\n(displayln text count)",
    # a variadic lambda binds its one formal to the argument list
    "(def join (lambda text (apply string-append text)))",
    "(receive (count text) (values 1 \"a\") (displayln count text))",
    # a named let's name is a procedure inside it
    "(def (read-all port)\n  (let read-lines ((acc '()))\n    (let (line (read-line port))\n"
    "      (if (eof-object? line) (reverse acc) (read-lines (cons line acc))))))",
    "(let-values (((count text) (values 1 \"a\"))) (displayln count text))",
    # a binding form in a do body binds as anywhere else
    "(do ((i 0 (+ i 1))) ((= i 3)) (let ((text (number->string i))) (displayln text)))",
    "(do ((count 0 (+ count 1))) ((= count 3) count) (displayln count))",
    "(import :std/iter)\n(for/fold (count 0) (x [1 2 3]) (+ count x))",
    "(import :std/iter)\n(for (count (in-range 3)) (displayln count))",
    "(with ([count . more] [1 2 3]) (displayln count more))",
    "(import :std/sugar)\n(def h (hash (n 5)))\n(awhen (count (hash-get h 'n)) (displayln count))",
    # hash literal keys and case data are data, not references
    "(hash (count 1) (text 2))",
    "(def cmd 'count)\n(case cmd ((count text) 1) (else 0))",
    # a library definer (master's def/c) binds its parameters like def
    "(def/c (double count) (* 2 count))",
    # try: catch-all `_`, a value in the body, `pred => handler`
    "(import :std/sugar)\n(def (risky) 1)\n(try (risky) #t (catch _ #f))",
    "(import :std/sugar)\n(try (error \"x\") (catch error? => (lambda (e) 'caught)))",
    # SRFI-9 records: constructor, predicate and accessors
    "(import :std/srfi/9)\n(define-record-type file-entry (make-file-entry path) file-entry? (path file-entry-path))\n"
    "(file-entry-path (make-file-entry \"a\"))",
    # several with bindings, the first one a list pattern
    "(with (([count . more] [1 2 3]) (text \"a\")) (displayln count more text))",
    # with* is sequential: a later binding sees an earlier one
    "(with* (([count . more] [1 2 3]) (text (number->string count))) (displayln text more))",
    # slot names after @ are not variables
    "(defclass tally (count))\n(def t (tally count: 1))\n(displayln (@ t count))",
    # a generic method whose body is its parameter
    "(import :std/generic)\n(defgeneric describe)\n(defmethod (describe (count <fixnum>)) count)",
    # a nested module's name is not a reference (queue is also :std/misc/queue's)
    "(module queue (export make-q) (def (make-q) []))",
    # Gambit's ## primitives and (master) dotted method calls through `using` are not judged
    "(def v (vector 1 2))\n(##vector-ref v 0)",
    "(interface Walkable (for-each proc))\n(def (show w) (using (w : Walkable) (w.for-each displayln)))",
    # an empty let binds nothing; its body's definitions bind as in any body
    "(let () (def text \"a\") (displayln text))",
    # extern declares names defined elsewhere (a foreign library)
    "(extern read-json)\n(read-json (current-input-port))",
    # an interface's facades: Name-method for each method
    "(interface (string-sink) (put! s))\n(def (emit sink) (string-sink-put! sink \"a\"))",
])
def test_names_bound_by_the_answer_resolve(code):
    ok, why = resolves(code)
    assert ok, why


@pytest.mark.parametrize("code, offender", [
    # a receive binds only inside its body: the same name after it is the library's
    ("(receive (count total) (values 1 2) (+ count total))\n(displayln count \"left\")", "count"),
    # a named let's name is not bound after the let
    ("(let read-lines ((acc '())) acc)\n(read-lines '())", "read-lines"),
    # the parameter of a `?` predicate lambda is not bound in the clause body
    ("(match \"a\" ((? (lambda (text) (string? text)) s) (list s text)))", "text"),
    # expressions inside binding forms are still checked
    ("(match (read-json (current-input-port)) ([a . b] a))", "read-json"),
    ("(match 1 ([a . b] (read-json a)))", "read-json"),
    ("(defvalues (lo hi) (values (read-json p) 2))", "read-json"),
    ("(define-values (lo hi) (values (read-json p) 2))", "read-json"),
    ("(let-values (((lo hi) (values 1 2))) (read-json lo))", "read-json"),
    ("(module helpers (displayln (read-json (current-input-port))))", "read-json"),
    ("(def v 1)\n`(name ,v ,(read-json p))", "read-json"),
    ("(do ((i (read-json p) (+ i 1))) ((= i 3)) (displayln i))", "read-json"),
    # a catch predicate is a reference (io-error? comes from :std/error)
    ("(import :std/sugar)\n(try (risky) (catch io-error? => displayln))", "io-error?"),
    ("(import :std/sugar)\n(try (risky) (catch (io-error? e) (error-message e)))", "io-error?"),
    # a finally body, a for filter and the object of @ are checked
    ("(import :std/sugar)\n(try (risky) (finally (displayln (count odd? [1 3]))))", "count"),
    ("(import :std/iter)\n(for (xs [[1 3] [2]] when (> (count odd? xs) 1)) (displayln xs))", "count"),
    ("(@ (read-json p) name)", "read-json"),
    # every def* / case-lambda clause is checked, the first one too
    ("(def* area ((r) (read-json r)) ((w h) (* w h)))", "read-json"),
    ("(def f (case-lambda ((p) (read-json p)) ((p opts) p)))", "read-json"),
    # an interface makes no facade of its own name
    ("(interface (string-sink) (put! s))\n(def (emit sink) (string-sink-string-sink sink))", "string-sink-string-sink"),
])
def test_names_outside_their_binding_form_do_not_resolve(code, offender):
    ok, why = resolves(code)
    assert not ok and f"`{offender}`" in why, why


@pytest.mark.parametrize("code", [
    "(@)",
    "(interface Shape area)",
    "(interface Shape ())",
    "(define-record-type point #f point?)",
    "(define-record-type point (make-point x))",
    "(defvalues (lo hi))",
    "(define-values (lo hi))",
    "(import :std/sugar)\n(try (risky) (catch))",
    "(@ p)",
])
def test_malformed_forms_get_a_verdict_not_a_crash(code):
    """A model's answer is hostile input: a binding form with missing or misplaced parts is
    judged like any other code (nothing it uses is unknown here), it never stops the run."""
    ok, why = resolves(code)
    assert ok, why
