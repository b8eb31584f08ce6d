"""The mistakes a cell's feedback names, read back from the grader's own lines: grades.csv's
``mistakes`` column and the class pages count them."""

import functools
import re

NOT_IMPLEMENTED = "not-implemented"
LEFT_BLANK = "left-blank"
BLANK_TEXT = "A written answer, left as handed out: it scores 0."   # its feedback (grade.py)
STUB = re.compile(r"In (\d+) of \1 cases \S+ raised NotImplementedError")
MISTAKE_LINE = re.compile(r"^\s*Likely mistake \(explains [^)]*\): (.+)$")


@functools.cache
def _hints():
    """[(mistake name, its hint as a pattern)]: a hint's {variables} match any text."""
    from cnn_utils.grading.mistakes import MISTAKES

    return [(name, re.compile(re.sub(r"\\\{\w+\\\}", ".+?", re.escape(m.hint)) + "$"))
            for name, m in MISTAKES.items()]


def named(text):
    """The mistakes the grader names in a cell's feedback ``text`` (MISTAKES names), or
    [NOT_IMPLEMENTED] for a stub, [LEFT_BLANK] for a written answer left as handed out. Only the
    grader's lines count: what the student's code printed comes after the Score line."""
    if text == BLANK_TEXT:
        return [LEFT_BLANK]
    own = text.split("\nScore: ")[0]
    if STUB.search(own):
        return [NOT_IMPLEMENTED]
    found = []
    for line in own.splitlines():
        if sentence := MISTAKE_LINE.match(line):
            found += [name for name, hint in _hints() if hint.match(sentence.group(1))][:1]
    return found


def hint_of(name):
    if name == NOT_IMPLEMENTED:
        return "Not implemented: the stub still raises NotImplementedError."
    if name == LEFT_BLANK:
        return "Left blank: the written answer is as it was handed out."
    from cnn_utils.grading.mistakes import MISTAKES

    return MISTAKES[name].hint if name in MISTAKES else name
