"""The instructor's grading pipeline around nbgrader.

    python -m autograder release
    python -m autograder grade a1_conv_forward --jobs 2      (in the course folder)

Modules: ``course`` (paths, nbgrader commands, the release), ``metadata`` (what each
test cell grades, recorded in its metadata at release), ``settings`` (``c.Autograder``
in nbgrader_config.py), ``discover`` (the submissions and what is wrong with their
files), ``structure`` (a submission against its release: deleted, edited, duplicated
cells), ``sandbox`` (limits on student processes), ``launch_kernel`` (the limited
Jupyter kernel), ``kernel`` (nbgrader's side of it), ``grade`` (one worker: nbgrader
autograde in a private course), ``student_run`` and ``integrity`` (the re-check outside
the student's kernel), ``pipeline`` (the worker pool), ``gradebook`` (the single-writer
merge: scores, times, late penalties), ``course_files`` (autograded notebooks into the
course), ``feedback`` (the verdicts in the notebook and per-student HTML), ``report``
(grades.csv, histograms, the table), ``lms`` (nbgrader export plugins for Canvas and
Moodle), ``late`` (a per-day late penalty plugin), ``demo`` (``make demo``).
"""
