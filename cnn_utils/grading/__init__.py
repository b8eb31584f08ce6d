"""What the nbgrader hidden tests call: randomized checks against the reference, partial credit,
and hints that name a student's mistake.

    from cnn_utils.grading import grade
    grade("conv_backward_naive", conv_backward_naive, points=10)   # last expression of the cell

``grade`` prints its feedback to stdout (never stderr: nbgrader gives 0 to a
cell that writes there) and returns the score, which nbgrader reads from the
cell's output. Modules: ``cases`` (random cases), ``compare`` (tolerances),
``mistakes`` (the catalogue), ``table`` (the graded functions), ``runner``
(safe calls, diagnosis, ``grade``), ``report`` (the feedback text).
"""

from cnn_utils.grading.mistakes import MISTAKES
from cnn_utils.grading.runner import grade
from cnn_utils.grading.table import GRADED

__all__ = ["GRADED", "MISTAKES", "grade"]
