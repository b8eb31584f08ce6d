"""nbgrader's side of the sandboxed kernel: Unix sockets, and a bound on what the grader keeps.

The kernel runs student code, so everything it sends is hostile: a message larger than
MESSAGE_BYTES closes the connection (ZeroMQ drops it before it is read into memory), at most
QUEUED_MESSAGES wait on each socket (so at most QUEUED_MB are queued), and a notebook's outputs
beyond OUTPUT_CHARS are dropped as they arrive: a flood of prints, or of display updates (each
charged once for every output it rewrites), costs the grader at most that much memory. Widget
state is never kept (comm messages are ignored): the kernel wrote it, and it could carry the
reference into the autograded notebook. The kernel's socket folder is closed to it before student code
runs, and emptied after it. The lesson's visible checks (locked cells worth no points) and its
showcases (see ``metadata.is_showcase``) are not run: the re-check, whose score stands, never runs
them either, and they would spend the notebook's time (feedback.annotate says so in their place).
"""

import os
import shutil
import uuid

import zmq
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.paths import jupyter_runtime_dir
from nbclient.util import run_sync
from nbformat.v4 import new_output
from nbgrader.converters.autograde import Autograde
from nbgrader.preprocessors import Execute
from traitlets import default

from autograder.metadata import skipped_while_grading

MESSAGE_BYTES = 16 * 2**20
OUTPUT_CHARS = 4 * 2**20
QUEUED_MESSAGES = 4
QUEUED_MB = QUEUED_MESSAGES * MESSAGE_BYTES // 2**20
TRUNCATED = f"\n[output beyond {OUTPUT_CHARS // 2**20} MB was dropped by the grader]\n"


class SandboxKernelManager(AsyncKernelManager):
    """The kernel on Unix sockets in the worker's runtime folder (the one folder its sandbox may
    write besides its scratch): the sandbox has no network."""

    @default("transport")
    def _transport_default(self):
        return "ipc"

    @default("connection_file")
    def _connection_file_default(self):
        return os.path.join(jupyter_runtime_dir(), f"kernel-{uuid.uuid4()}.json")

    @default("context")
    def _context_default(self):
        context = super()._context_default()
        context.setsockopt(zmq.MAXMSGSIZE, MESSAGE_BYTES)   # for every socket made from it
        context.setsockopt(zmq.RCVHWM, QUEUED_MESSAGES)
        return context


def _size(content):
    """The characters of a message's content (its strings, keys included, 8 for any other
    value), counted without copying it: ``len(str(content))`` built a second copy of every
    payload, and with it took a worker to 717 MB under the 12 MB displays (237 MB without)."""
    size, todo = 0, [content]
    while todo:
        value = todo.pop()
        if isinstance(value, (str, bytes)):
            size += len(value)
        elif isinstance(value, dict):
            size += sum(len(key) if isinstance(key, str) else 8 for key in value)
            todo += value.values()
        elif isinstance(value, (list, tuple)):
            todo += value
        else:
            size += 8
    return size


class BoundedExecute(Execute):
    """nbgrader's Execute with SandboxKernelManager, keeping at most OUTPUT_CHARS of output per
    notebook, and running neither the lesson's visible checks nor its showcases: they are worth no
    points, and the re-check, whose score stands, does not run them either."""

    kept = 0

    def __init__(self, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxKernelManager)
        kwargs["store_widget_state"] = False
        super().__init__(**kwargs)

    def _charge(self, size, outs):
        """Count ``size`` characters against OUTPUT_CHARS; False (and a note in ``outs``, once)
        when they do not fit."""
        if self.kept + size > OUTPUT_CHARS:
            if self.kept <= OUTPUT_CHARS:
                outs.append(new_output("stream", name="stdout", text=TRUNCATED))
                self.kept = OUTPUT_CHARS + 1
            return False
        self.kept += size
        return True

    def preprocess_cell(self, cell, resources, index):
        if skipped_while_grading(cell):
            return cell, resources
        return super().preprocess_cell(cell, resources, index)

    def output(self, outs, msg, display_id, cell_index):
        if not self._charge(_size(msg.get("content", "")), outs):
            return None
        return super().output(outs, msg, display_id, cell_index)

    def _update_display_id(self, display_id, msg):
        """nbclient's update of every output showing ``display_id``, charged for each of them."""
        touched = sum(len(indices) for indices in self._display_id_map.get(display_id, {}).values())
        cells = self.nb["cells"]
        outs = cells[max(self._display_id_map[display_id])]["outputs"] if touched else []
        if touched and not self._charge(touched * _size(msg.get("content", "")), outs):
            return
        super()._update_display_id(display_id, msg)

    def handle_comm_msg(self, outs, msg, cell_index):
        """Comm (widget) messages are ignored: no widget state, no client-side widget."""

    async def async_start_new_kernel_client(self):
        """Start the kernel; once it has made its sockets, and before any student code runs, take
        its runtime folder back from the sandbox uid: the kernel can then write nothing outside
        its size-limited scratch (not even files to fill the grader's disk). Run by an ordinary
        user, the folder only loses its write permission (the kernel, same uid, could restore it)."""
        client = await super().async_start_new_kernel_client()
        folder = os.path.dirname(self.km.connection_file)
        if os.geteuid() == 0:
            os.chown(folder, 0, 0)
        os.chmod(folder, 0o511)
        return client

    start_new_kernel_client = run_sync(async_start_new_kernel_client)   # what nbconvert's preprocess calls


def reset_runtime(folder):
    """After a kernel: the runtime folder writable by the grader again, and empty (nothing a
    kernel left there reaches the next student's)."""
    os.chmod(folder, 0o700)
    for entry in os.scandir(folder):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            os.unlink(entry.path)


def autograde_preprocessors():
    """nbgrader's autograde preprocessors, with BoundedExecute in place of Execute."""
    return [BoundedExecute if step is Execute else step
            for step in Autograde.class_traits()["autograde_preprocessors"].default()]
