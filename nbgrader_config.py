"""nbgrader configuration of the cnn-backprop course.

Instructor notebooks live in solutions/ (nbgrader's source directory); `make lessons`
runs `nbgrader generate_assignment` to produce the student versions in lessons/
(nbgrader's release directory). Never edit lessons/ by hand.
"""

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

# The course's assignments, in teaching order. Each is a folder of solutions/ and of lessons/.
ASSIGNMENTS = [
    "a1_conv_forward",
    "a2_conv_backward",
    "a3_pooling",
    "a4_im2col",
    "a5_small_cnn",
    "a6_transposed_dilated",
]

c.CourseDirectory.course_id = "cnn-backprop"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "lessons"

# Hidden tests run randomized checks: give a cell more than nbgrader's default 30 s on a
# slow or busy grading machine (assignment 5's training cell is the longest).
c.Execute.timeout = 300
# A student who deletes a graded cell does not delete its test: autograde puts it back.
c.OverwriteCells.add_missing_cells = True
# Validate runs every cell, not only the grade cells: the hidden tests are stripped from a
# student's copy, so without this an untouched stub "passes all the tests".
c.Validator.validate_all = True

# `nbgrader autograde` and the formgrader's Autograde button grade through our sandboxed grader
# (autograder/nbgrader_door.py): it runs `python -m autograder grade A --student S` and hands
# nbgrader the notebook it wrote; nothing of nbgrader's own Execute/SaveAutoGrades runs.
c.Autograde.sanitize_preprocessors = ["autograder.nbgrader_door.SandboxedAutograde"]
c.Autograde.autograde_preprocessors = []

# Feedback (`nbgrader generate_feedback`) never shows a hidden test's source.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
# Nothing a student wrote runs in the pages people open: every HTMLExporter nbgrader builds (the
# formgrader's view of a submission, generate_feedback's pages) cleans markdown, outputs and
# attachments first (autograder/safe_html.py).
# (nbconvert's sanitize_html stays off: its allowlist shows <p>, <img>, <th> as text.)
c.HTMLExporter.preprocessors = ["autograder.safe_html.SafeHTML"]

# `nbgrader export` writes its CSV through our plugin: quoted as CSV, and a student id such as
# =HYPERLINK(...) stays text in a spreadsheet (the LMS exporters in autograder/lms.py do the same).
c.ExportApp.plugin_class = "autograder.csv_export.EscapedCsvExportPlugin"

# Late submissions: nbgrader's plugin, applied by `python -m autograder grade` and by
# `nbgrader autograde` alike. 'zero': a late notebook scores 0; 'none': no penalty. A part of
# the score per started day: c.AssignLatePenalties.plugin_class = "autograder.late.PerDayPenalty"
# with c.PerDayPenalty.fraction_per_day = 0.1 (and .max_fraction).
c.LateSubmissionPlugin.penalty_method = "zero"
# Due dates, written into the gradebook by `python -m autograder grade` (nbgrader's format):
# c.Autograder.due_dates = {"a1_conv_forward": "2027-01-15 17:00:00 Europe/Berlin"}

# The grader's own settings (`python -m autograder grade --help` lists them; its options override).
c.Autograder.jobs = 2
