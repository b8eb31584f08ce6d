"""The grader's settings, read from the course's nbgrader_config.py as ``c.Autograder.<name>``;
the command line overrides them; ``python -m autograder grade --help`` lists them.

    c.Autograder.jobs = 2
    c.Autograder.due_dates = {"a1_conv_forward": "2027-01-15 17:00:00 Europe/Berlin"}
"""

from traitlets import Dict, Float, Int, TraitError, Unicode, validate
from traitlets.config import Configurable

from autograder import course


class Autograder(Configurable):
    """Settings of ``python -m autograder grade``."""

    jobs = Int(1, help="Worker processes: submissions graded at the same time.").tag(config=True)
    cell_timeout = Float(0, help="Seconds a cell may run; 0: the course's Execute.timeout, else 60.").tag(config=True)
    notebook_timeout = Float(300, help="Seconds a notebook may run in all.").tag(config=True)
    memory = Int(2048, help="MB of address space per student process.").tag(config=True)
    reports_directory = Unicode("reports", help="Folder of grades.csv, histograms, HTML feedback and "
                                                "logs, relative to the course.").tag(config=True)
    due_dates = Dict(Unicode(), help="{assignment: due date} written into the gradebook, in nbgrader's "
                                     "format ('2027-01-15 17:00:00 Europe/Berlin'); late penalties "
                                     "follow AssignLatePenalties.plugin_class.").tag(config=True)

    @validate("jobs")
    def _at_least_one(self, proposal):
        if proposal.value < 1:
            raise TraitError(f"Autograder.jobs must be at least 1, not {proposal.value}")
        return proposal.value

    @validate("due_dates")
    def _parseable(self, proposal):
        from nbgrader.utils import parse_utc

        for assignment, when in proposal.value.items():
            try:
                parse_utc(when)
            except (ValueError, OverflowError):
                raise TraitError(f"Autograder.due_dates[{assignment!r}] = {when!r} is not a date nbgrader "
                                 "reads; write it as '2027-01-15 17:00:00 Europe/Berlin'") from None
        return proposal.value


def load(course_dir, overrides):
    """The Autograder settings of the course at ``course_dir`` with ``overrides`` (name: value,
    None for not given) applied, and the course's traitlets Config."""
    config = course.load_config(course_dir)
    settings = Autograder(config=config)
    for name, value in overrides.items():
        if value is not None:
            setattr(settings, name, value)
    if not settings.cell_timeout:
        settings.cell_timeout = float(config.Execute.get("timeout", 60))
    return settings, config
