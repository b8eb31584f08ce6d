"""nbgrader settings every server on the hub shares (found through JUPYTER_CONFIG_PATH).

The course directory's own nbgrader_config.py (course id, source/release folders) still applies
to the instructor's commands run there; this file adds what students need too.
"""

import os

from nbgrader.exchange.default.submit import ExchangeSubmit

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)


class PrivateSubmit(ExchangeSubmit):
    """nbgrader's submit, but only the student and the graders can enter the submission's folders.

    nbgrader leaves submissions world-readable (folder mode 0777) in the unlistable inbound
    folder, hidden only by a random suffix of their name. The inbound folder is set-group-id to
    the releasing instructor's group, so the folders nbgrader creates there belong to that group:
    mode 0750 lets in exactly their owner (the student) and the graders.
    """

    def copy_files(self):
        super().copy_files()
        submission = os.path.join(self.inbound_path, self.assignment_filename)
        for folder, _, files in os.walk(submission):
            os.chmod(folder, 0o750)
            for name in files:  # some lost the group (copytree resets the folder's set-group-id)
                os.chmod(os.path.join(folder, name), 0o644)


c.CourseDirectory.course_id = "cnn-backprop"
# nothing a student wrote runs in the formgrader's or the feedback's pages (autograder/safe_html.py)
c.HTMLExporter.preprocessors = ["autograder.safe_html.SafeHTML"]
# the Validate button runs every cell: with the hidden tests stripped, grade cells alone pass a stub
c.Validator.validate_all = True
if os.environ.get("CNN_HUB_NGSHARE_URL"):
    # Kubernetes: the exchange is the ngshare service (deploy/z2jh/ngshare.yaml). It keeps every
    # file itself and serves a user, known by their hub token, only their own course's files.
    import getpass

    os.environ.setdefault("USER", getpass.getuser())  # ngshare_exchange's import needs it; pods lack it
    import ngshare_exchange

    ngshare_exchange.configureExchange(c, os.environ["CNN_HUB_NGSHARE_URL"])
else:  # one machine: a shared folder, private by file ownership
    c.Exchange.root = os.environ.get("CNN_HUB_EXCHANGE", "/srv/nbgrader/exchange")
    c.ExchangeFactory.submit = PrivateSubmit
# where students' fetch/submit/fetch_feedback work: their server's root folder (set by the hub)
c.Exchange.assignment_dir = os.environ.get("CNN_HUB_ASSIGNMENT_DIR", ".")
# A user's server on a hub (not the formgrader service, whose Unix account is no hub user): the
# courses one takes or grades are one's hub groups nbgrader-cnn-backprop / formgrade-cnn-backprop.
if os.environ.get("JUPYTERHUB_USER") and not os.environ.get("JUPYTERHUB_SERVICE_NAME"):
    c.Authenticator.plugin_class = "nbgrader.auth.JupyterHubAuthPlugin"
if os.environ.get("CNN_HUB_COURSE_DIR"):  # set for the formgrader service only
    c.CourseDirectory.root = os.environ["CNN_HUB_COURSE_DIR"]
    # its Autograde button grades through the sandboxed grader, whatever the course folder holds
    c.Autograde.sanitize_preprocessors = ["autograder.nbgrader_door.SandboxedAutograde"]
    c.Autograde.autograde_preprocessors = []
if os.environ.get("NBGRADER_DB_URL"):  # the grader pod on Kubernetes: gradebook on PostgreSQL
    c.CourseDirectory.db_url = os.environ["NBGRADER_DB_URL"]
