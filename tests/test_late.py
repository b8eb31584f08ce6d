"""The per-day late penalty plugin, alone and as the course's nbgrader configuration loads it."""

import pytest
from traitlets import TraitError
from traitlets.config import Config

from autograder import gradebook
from autograder.late import DAY, PerDayPenalty


@pytest.mark.parametrize("late, penalty", [(1, 0.8), (DAY, 0.8), (DAY + 1, 1.6), (3.5 * DAY, 3.2), (30 * DAY, 4.0)])
def test_each_started_day_costs_its_part_up_to_the_cap(late, penalty):
    plugin = PerDayPenalty(fraction_per_day=0.1, max_fraction=0.5)
    assert plugin.late_submission_penalty("ann", 8.0, late) == pytest.approx(penalty)


def test_the_course_config_selects_it_and_a_bad_fraction_is_named():
    config = Config()
    config.AssignLatePenalties.plugin_class = "autograder.late.PerDayPenalty"
    config.PerDayPenalty.fraction_per_day = 0.25
    plugin = gradebook.late_plugin(config)
    assert isinstance(plugin, PerDayPenalty) and plugin.late_submission_penalty("ann", 4.0, 2 * DAY) == 2.0
    with pytest.raises(TraitError, match="between 0 and 1, not 1.5"):
        PerDayPenalty(fraction_per_day=1.5)
