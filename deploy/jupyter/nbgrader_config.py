"""nbgrader settings every server on the hub shares (found through JUPYTER_CONFIG_PATH).

The course directory's own nbgrader_config.py (course id, source/release folders) still applies
to the instructor's commands run there; this file adds what students need too.
"""

import datetime
import os
import pwd
import shutil
import stat

from nbgrader.exchange.default.collect import ExchangeCollect
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


class Refused(Exception):
    """An inbound folder that is not the submission its name claims."""


def _user_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def owned_tree(folder, user):
    """The latest ctime (ns) over the inbound ``folder`` that claims to be Unix ``user``'s: a folder
    of folders and plain files, each ``user``'s; Refused otherwise. A user can set a file's mtime,
    never its ctime, which any change (even a chmod or utime) moves to the time of the change."""
    try:
        uid = pwd.getpwnam(user).pw_uid
    except KeyError:
        raise Refused(f"there is no Unix user {user!r}") from None
    latest, pending = 0, [folder]
    while pending:
        path = pending.pop()
        try:
            info = os.lstat(path)
            if info.st_uid != uid:
                raise Refused(f"{path!r} belongs to {_user_name(info.st_uid)}")
            if stat.S_ISDIR(info.st_mode):
                pending += [os.path.join(path, name) for name in os.listdir(path)]
            elif path == folder or not stat.S_ISREG(info.st_mode):
                raise Refused(f"{path!r} is no folder or plain file (a link, a pipe...)")
        except OSError as error:
            raise Refused(f"{path!r} cannot be read: {error.strerror}") from None
        latest = max(latest, info.st_ctime_ns)
    return latest


class OwnedCollect(ExchangeCollect):
    """nbgrader's collect, but only of inbound folders that are the submissions their names claim.

    nbgrader trusts the name: a classmate's folder named after another student (with a later time
    in its name) replaced that student's submission, with only a warning. Here a folder not
    owned by the Unix user its name claims, or holding anything not that user's or not a plain
    file or folder (a link could name a file only the collector may read), is refused with a
    warning and never hides the student's own. The submission's time in submitted/.../timestamp.txt
    is the latest ctime over its folder, not the timestamp.txt the student wrote; a folder that
    changes while it is copied is refused.
    """

    def _path_to_record(self, path):
        name = os.path.basename(path)
        student = name.rsplit("+", 3)[0]
        try:
            self._ctimes[name] = owned_tree(path, student)
            return super()._path_to_record(path)
        except (ValueError, OverflowError):
            why = "its name holds no time nbgrader reads"
        except Refused as refused:
            why = refused
        self._refuse(path, student, why)
        return {"username": None, "filename": name, "timestamp": datetime.datetime.min, "refused": True}

    def _refuse(self, path, student, why):
        try:
            owner = _user_name(os.lstat(path).st_uid)
        except OSError:
            owner = "unknown"
        self.log.warning("Refused the inbound folder %r (owned by %s) as %r's submission: %s",
                         os.path.basename(path), owner, student, why)

    def init_src(self):
        self._ctimes = {}   # {inbound folder name: its owned_tree ctime}
        super().init_src()
        self.src_records = [record for record in self.src_records if not record.get("refused")]

    def do_copy(self, src, dest, log=None):
        super().do_copy(src, dest, log)
        name = os.path.basename(src)
        student = name.rsplit("+", 3)[0]
        try:
            if owned_tree(src, student) != self._ctimes[name]:
                raise Refused("it changed while it was collected; collect it again")
        except Refused as why:
            shutil.rmtree(dest)
            self._refuse(src, student, why)
            return
        when = datetime.datetime.fromtimestamp(self._ctimes[name] / 1e9, datetime.UTC)
        with open(os.path.join(dest, "timestamp.txt"), "w") as handle:
            handle.write(when.strftime(self.timestamp_format))


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
    c.ExchangeFactory.collect = OwnedCollect
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
