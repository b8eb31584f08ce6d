"""Student-style implementations for tests/test_grading.py.

Correct ones (``conv``, ``pool``, ``cols``, ``transpose``, ``coursera``, ``network``): at least
three different ways of writing every graded function (loops, einsum/tensordot
over kernel taps, strided window views or im2col matrix products). Buggy ones
(``buggy``): one per catalogued mistake, written the way a student writes the
mistake. Hostile ones (``hostile``): code that raises, warns, prints to stderr,
mutates its inputs or returns the wrong thing.
"""
