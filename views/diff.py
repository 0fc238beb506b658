"""Word-level differences between a sentence and an augmented variant, for highlighting on the Augment page."""

from __future__ import annotations

import difflib


def word_diff(original: str, variant: str) -> list[tuple[str, str]]:
    """Word-level diff of a variant against its original: (op, word) with op 'equal', 'insert' or 'delete'
    (a replaced word is a delete followed by an insert)."""
    a, b = original.split(), variant.split()
    ops: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            ops += [("equal", w) for w in a[i1:i2]]
            continue
        ops += [("delete", w) for w in a[i1:i2]]
        ops += [("insert", w) for w in b[j1:j2]]
    return ops
