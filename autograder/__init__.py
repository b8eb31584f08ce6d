"""The instructor's grading pipeline around nbgrader.

    python -m autograder release
    python -m autograder grade a1_conv_forward --submitted DIR --out DIR --jobs 2

Modules: ``course`` (paths, nbgrader commands, the release), ``discover`` (the
submissions and what is wrong with their files), ``structure`` (a submission
against its release: deleted, edited, duplicated cells), ``sandbox`` (limits on
student processes), ``launch_kernel`` (the limited Jupyter kernel), ``grade``
(one worker: nbgrader autograde in a private course), ``student_run`` and
``integrity`` (the re-check outside the student's kernel), ``pipeline`` (the
worker pool), ``gradebook`` (the single-writer merge), ``feedback`` (per-student
HTML), ``report`` (grades.csv, histograms, the table), ``demo`` (``make demo``).
"""
