"""A late penalty by the day, as an nbgrader LateSubmissionPlugin (nbgrader ships only "none"
and "zero"). In nbgrader_config.py:

    c.AssignLatePenalties.plugin_class = "autograder.late.PerDayPenalty"
    c.PerDayPenalty.fraction_per_day = 0.1    # 10 % of the notebook's score per started day
    c.PerDayPenalty.max_fraction = 0.5        # never more than half

Both ``python -m autograder grade`` and ``nbgrader autograde`` apply it.
"""

import math

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Float, TraitError, validate

DAY = 24 * 3600


class PerDayPenalty(LateSubmissionPlugin):
    """``fraction_per_day`` of the score for each started day late, at most ``max_fraction``."""

    fraction_per_day = Float(0.1, help="Part of the score lost per started day late.").tag(config=True)
    max_fraction = Float(1.0, help="The most a late notebook loses, as a part of its score.").tag(config=True)

    @validate("fraction_per_day", "max_fraction")
    def _a_fraction(self, proposal):
        if not 0 <= proposal.value <= 1:
            raise TraitError(f"PerDayPenalty.{proposal.trait.name} is a part of the score, between 0 "
                             f"and 1, not {proposal.value}")
        return proposal.value

    def late_submission_penalty(self, student_id, score, total_seconds_late):
        days = math.ceil(total_seconds_late / DAY)
        return score * min(self.max_fraction, self.fraction_per_day * days)
