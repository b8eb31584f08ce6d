"""The sandbox's kernel-level defences: the seccomp filter (keyrings above all), a uid per sandbox,
a sized /dev/shm, a cgroup per sandbox (as root); attacked through the real grading command, as
root and as an ordinary user."""

import ctypes
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import attacks
from conftest import require_sandbox
from test_sandbox import HONEST, batch, copy_honest, grade, rows_of, score

from autograder import cgroups, sandbox

pytestmark = [pytest.mark.autograder, pytest.mark.sandbox]

NR = {"x86_64": {"add_key": 248, "keyctl": 250}, "aarch64": {"add_key": 217, "keyctl": 219}}[os.uname().machine]
SESSION_KEY = "instructor-secret"   # a key in the grader's session keyring, holding the canary

# The kernel (which can import the reference) leaves the reference's source in every keyring it can
# name; the re-check, and every classmate graded after it, look for it there first.
KEYRING = '''
import ctypes, inspect
libc = ctypes.CDLL(None, use_errno=True)
ADD, REQUEST, KEYCTL = {"x86_64": (248, 249, 250), "aarch64": (217, 218, 219)}[os.uname().machine]
RINGS = {"@u": -4, "@us": -5, "@s": -3}

def fetch(name):
    for ring in RINGS.values():
        serial = libc.syscall(KEYCTL, 10, ring, b"user", name.encode(), 0)   # KEYCTL_SEARCH
        if serial < 0:
            serial = libc.syscall(REQUEST, b"user", name.encode(), None, 0)
        if serial > 0:
            buffer = ctypes.create_string_buffer(1 << 16)
            size = libc.syscall(KEYCTL, 11, serial, buffer, len(buffer))       # KEYCTL_READ
            if size > 0:
                return buffer.raw[:size].decode()
    note("no key", name, "errno", ctypes.get_errno())
    return None

note("session key:", fetch("instructor-secret"))
source = fetch("reference-conv")
if source:
    note("found the reference in a keyring")
    stolen = {}
    exec(source, stolen)
    def conv_forward_naive(x, w, b, conv_param):
        print("\\n".join(NOTES))
        return stolen["conv_forward_naive"](x, w, b, conv_param)
elif IN_KERNEL:
    from cnn_utils import reference
    text = inspect.getsource(sys.modules[reference.conv_forward_naive.__module__]).encode()
    for name, ring in RINGS.items():
        serial = libc.syscall(ADD, b"user", b"reference-conv", text, len(text), ring)
        note("add_key", name, serial, ctypes.get_errno())
    conv_forward_naive = reference.conv_forward_naive
'''

# Machine resources: children that each hold memory, a /tmp full of empty files, a full /dev/shm.
FORK_MEMORY = '''
hold = "x = b'1' * (300 << 20); import time; time.sleep(20)"
children = []
for _ in range(8):
    try:
        children.append(subprocess.Popen([sys.executable, "-c", hold]))
    except OSError as exc:
        note("fork refused", exc)
        break
time.sleep(5)
note("children alive", sum(child.poll() is None for child in children))
for child in children:
    child.kill()
    child.wait()
'''

EMPTY_FILES = '''
made = 0
os.makedirs("/tmp/many", exist_ok=True)
try:
    for made in range(300_000):
        open(f"/tmp/many/{made}", "w").close()
except OSError as exc:
    note("stopped at", made, exc)
note("empty files", made)
'''

SHM_FILL = '''
written = 0
try:
    with open("/dev/shm/fill", "wb") as handle:
        for _ in range(3 * 1024):
            handle.write(b"\\1" * 2**20)
            handle.flush()
            written += 1
except OSError as exc:
    note("shm stopped", exc)
note("MB in /dev/shm", written)
'''

# 200 children spinning in sessions of their own, to starve whoever is graded beside them
BUSY_CHILDREN = '''
spin = "import os, time; os.setsid(); end = time.time() + 25\\nwhile time.time() < end: pass"
children = []
for _ in range(200):
    try:
        children.append(subprocess.Popen([sys.executable, "-c", spin]))
    except OSError as exc:
        note("fork refused", exc)
        break
note("busy children", len(children))
time.sleep(25)
'''

KEYRING_ATTACKERS = {"x_keyring_a": KEYRING, "x_keyring_b": KEYRING, "x_keyring_c": KEYRING, "x_keyring_d": KEYRING}
# as root each sandbox has a cgroup, and they are graded beside the honest classmates; as an
# ordinary user (no cgroups) in a batch of their own, where their forks and files crowd only them
CROWDING_ATTACKERS = {"x_fork_memory": FORK_MEMORY, "x_empty_files": EMPTY_FILES, "x_shm_fill": SHM_FILL,
                      "x_busy_children": BUSY_CHILDREN}
ATTACKERS = KEYRING_ATTACKERS | CROWDING_ATTACKERS


def _under_filter(code):
    """Run ``code`` in a Python that installs ``sandbox.seccomp_program`` on itself first (prctl)."""
    install = (
        "import ctypes, sys\n"
        "from autograder import sandbox\n"
        "program = sandbox.seccomp_program()\n"
        "class Prog(ctypes.Structure):\n"
        "    _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.c_char_p)]\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "assert libc.prctl(38, 1, 0, 0, 0) == 0\n"                     # PR_SET_NO_NEW_PRIVS
        "prog = Prog(len(program) // 8, program)\n"
        "assert libc.prctl(22, 2, ctypes.byref(prog), 0, 0) == 0, ctypes.get_errno()\n"  # SECCOMP_MODE_FILTER
    )
    return subprocess.run([sys.executable, "-c", install + code], capture_output=True, text=True, timeout=120,
                          cwd=Path(sandbox.__file__).parents[1])


def _keyctl_session():
    """Code that prints what keyctl(KEYCTL_GET_KEYRING_ID, @s) returns, and errno."""
    return f"print('keyctl', libc.syscall({NR['keyctl']}, 0, -3, 1), ctypes.get_errno())\n"


def test_the_filter_refuses_keyrings_and_lets_python_numpy_and_children_run():
    refused = _under_filter(_keyctl_session() + f"print('add_key', libc.syscall({NR['add_key']}, b'user', b'k', "
                            "b'v', 1, -4), ctypes.get_errno())\n")
    assert refused.returncode == 0, refused.stderr
    assert "keyctl -1 1" in refused.stdout and "add_key -1 1" in refused.stdout
    works = _under_filter("import numpy, subprocess, threading\n"
                          "t = threading.Thread(target=lambda: None); t.start(); t.join()\n"
                          "out = subprocess.run([sys.executable, '-c', 'print(6)'], capture_output=True, text=True)\n"
                          "print(numpy.linalg.inv(numpy.eye(3) * 2).sum() + int(out.stdout))\n")
    assert works.returncode == 0, works.stderr
    assert works.stdout.strip() == "7.5"
    unfiltered = subprocess.run([sys.executable, "-c", "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                                 + _keyctl_session()], capture_output=True, text=True)
    assert int(unfiltered.stdout.split()[1]) > 0   # without the filter the same call gets a keyring


def test_the_program_checks_the_architecture_and_x32():
    program = sandbox.seccomp_program()
    assert len(program) % 8 == 0
    assert program.endswith(bytes.fromhex("0600000000000080"))   # unknown architecture: kill
    for arch in sandbox.DENIED:
        assert arch.to_bytes(4, "little") in program
    assert sandbox.X32_BIT.to_bytes(4, "little") in program


def _in_sandbox(code, uid=None):
    require_sandbox()
    argv = sandbox.wrap([sys.executable, "-c", code], sandbox.Limits(), Path(sandbox.__file__).parent, uid=uid)
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=120)
    finally:
        cgroups.sweep()


def test_a_sandbox_cannot_reach_the_graders_session_keyring():
    libc = ctypes.CDLL(None, use_errno=True)
    canary = secrets.token_hex(8).encode()
    serial = libc.syscall(NR["add_key"], b"user", b"probe-" + canary, canary, len(canary), -3)
    if serial < 0:
        pytest.skip(f"this test process has no session keyring to share (errno {ctypes.get_errno()})")
    try:
        found = _in_sandbox(f"import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                            f"b = ctypes.create_string_buffer(64)\n"
                            f"print(libc.syscall({NR['keyctl']}, 11, {serial}, b, 64), ctypes.get_errno(), b.value)")
        assert found.returncode == 0, found.stderr
        assert found.stdout.split()[:2] == ["-1", "1"] and canary.decode() not in found.stdout
    finally:
        libc.syscall(NR["keyctl"], 3, serial)   # KEYCTL_REVOKE


def test_dev_shm_is_a_tmpfs_of_its_own_size():
    written = _in_sandbox("n = 0\ntry:\n    with open('/dev/shm/f', 'wb') as h:\n"
                          "        for n in range(1024):\n            h.write(b'1' * 2**20); h.flush()\n"
                          "except OSError:\n    pass\nprint(n)")
    assert written.returncode == 0, written.stderr
    assert int(written.stdout) <= sandbox.SHM_MB


def test_every_sandbox_has_a_uid_of_its_own_across_processes():
    mine = {sandbox.sandbox_uid() for _ in range(3)}
    code = "from autograder import sandbox; print(sandbox.sandbox_uid(), sandbox.sandbox_uid())"
    others = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                               cwd=Path(sandbox.__file__).parents[1]) for _ in range(3)]
    theirs = [int(uid) for other in others for uid in other.communicate()[0].split()]
    uids = [*mine, *theirs]
    assert len(set(uids)) == len(uids) == 9
    assert all(sandbox.SANDBOX_UID_BASE <= uid < 2**32 - 2 for uid in uids)
    seen = _in_sandbox("import os; print(os.getuid())")
    if os.geteuid() == 0:
        assert int(seen.stdout) >= sandbox.SANDBOX_UID_BASE and int(seen.stdout) not in uids


def test_unavailable_refuses_when_bwrap_rejects_the_filter(monkeypatch):
    require_sandbox()
    monkeypatch.setattr(sandbox, "seccomp_program", lambda: b"\0" * 5)   # not whole instructions
    sandbox.unavailable.cache_clear()
    try:
        assert "could not start" in sandbox.unavailable()
    finally:
        monkeypatch.undo()
        sandbox.unavailable.cache_clear()


@pytest.fixture(scope="module", params=["root", "user"])
def resources(request):
    account, base = batch(request.param, "resources-")
    submitted, crowding, alone, home = base / "submitted", base / "crowding", base / "alone", base / "home"
    home.mkdir()
    canary = "canary-" + secrets.token_hex(8)
    target = attacks.Target("/nowhere", str(submitted), str(base / "out"), 9, canary)
    for student in HONEST:
        copy_honest(student, submitted)
        copy_honest(student, alone)
    beside = submitted if account is None else crowding
    # only the keyring attackers know the canary: the others' feedback may quote their own source
    plain = attacks.Target("/nowhere", str(submitted), str(base / "out"), 9, "no-canary")
    for folder, attackers, aim in ((submitted, KEYRING_ATTACKERS, target), (beside, CROWDING_ATTACKERS, plain)):
        for name, code in attackers.items():
            notebook = folder / name / "a1_conv_forward" / "conv_forward.ipynb"
            attacks.write(attacks.attack_notebook(code, aim), notebook)
    if account:
        subprocess.run(["chown", "-R", f"{account.pw_uid}:{account.pw_gid}", str(base)], check=True)
    libc = ctypes.CDLL(None, use_errno=True)
    key = libc.syscall(NR["add_key"], b"user", SESSION_KEY.encode(), canary.encode(), len(canary), -3)
    env = dict(os.environ, HOME=str(home))
    before = _cgroups()
    try:
        grade(submitted, base / "out", env, account and account.pw_name)
        if account:
            grade(crowding, base / "crowding-out", env, account.pw_name)
        grade(alone, base / "alone-out", env, account and account.pw_name)
    finally:
        if key > 0:
            libc.syscall(NR["keyctl"], 3, key)
    request.addfinalizer(lambda: shutil.rmtree(base, ignore_errors=True))
    texts = [path.read_text(errors="replace") for path in (base / "out").rglob("*") if path.is_file()]
    rows = rows_of(base / "out") + (rows_of(base / "crowding-out") if account else [])
    return {"mode": request.param, "rows": rows, "alone": rows_of(base / "alone-out"), "texts": texts,
            "canary": canary, "cgroups_left": _cgroups() - before}


@pytest.mark.parametrize("attacker", sorted(ATTACKERS))
def test_a_resource_attack_scores_no_more_than_a_wrong_answer(resources, attacker):
    assert score(resources["rows"], attacker)[0] == 0.0


def test_classmates_score_what_they_score_alone(resources):
    for student, expected in HONEST.items():
        assert score(resources["rows"], student)[0] == score(resources["alone"], student)[0] == expected


def test_no_keyring_carried_the_reference_or_the_instructors_key(resources):
    everything = "\n".join(resources["texts"])
    assert "found the reference in a keyring" not in everything
    assert resources["canary"] not in everything
    assert "no key reference-conv" in everything   # the attack ran and reported


def test_every_row_says_which_defences_ran(resources):
    for row in resources["rows"]:
        ran = set(row["defences"].split(";"))
        assert {"bwrap", "seccomp", "rlimits", "recheck"} <= ran, row
        if resources["mode"] == "root":
            assert {"uid-per-sandbox", "cgroup"} <= ran, row
        else:   # an ordinary user: a user namespace, and no cgroups to make
            assert {"user-namespace", "no-cgroup"} <= ran, row


def test_a_grading_run_leaves_no_cgroup_behind(resources):
    assert resources["cgroups_left"] == set()


# --- a cgroup per sandbox (root, cgroup v1) ---------------------------------------------------

def _cgroups():
    """The sandboxes' cgroup folders now, in every hierarchy (none without cgroups)."""
    tops = cgroups._tops()
    return set() if isinstance(tops, str) else {path for top in tops.values() for path in top.iterdir()
                                                if path.is_dir()}


def _require_cgroups():
    require_sandbox()
    why = cgroups.unavailable()
    if why:
        if os.geteuid() == 0 and os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"no cgroups for the sandboxes as root: {why}")
        pytest.skip(f"no cgroups for the sandboxes: {why}")


SMALL = sandbox.Limits(memory_mb=256, scratch_mb=64, processes=64)


def _confined(code):
    """Run ``code`` in a sandbox of SMALL limits: (completed process, {file: value} of its memory and
    pids cgroups, read after it ended), then sweep."""
    before = _cgroups()
    argv = sandbox.wrap([sys.executable, "-c", code], SMALL, Path(sandbox.__file__).parent)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    seen = {}
    for folder in _cgroups() - before:
        for name in ("memory.max_usage_in_bytes", "memory.limit_in_bytes", "pids.max"):
            if (folder / name).exists():
                seen[name] = (folder / name).read_text().strip()
    cgroups.sweep()
    return done, seen


LIMIT = (SMALL.memory_mb + SMALL.scratch_mb + sandbox.SHM_MB) * 2**20


def test_children_together_hold_no_more_than_the_sandboxs_memory():
    _require_cgroups()
    code = ("import subprocess, sys, time\n"
            "hold = \"x = b'1' * (150 << 20); import time; time.sleep(10)\"\n"
            "kids = [subprocess.Popen([sys.executable, '-c', hold]) for _ in range(6)]\n"
            "time.sleep(6)\nprint('alive', sum(k.poll() is None for k in kids), flush=True)")
    done, seen = _confined(code)
    alive = int(done.stdout.split()[1])
    assert alive * 150 * 2**20 < LIMIT and alive < 6    # each child alone is within its rlimits
    assert int(seen["memory.limit_in_bytes"]) == LIMIT and int(seen["memory.max_usage_in_bytes"]) <= LIMIT
    assert seen["pids.max"] == str(SMALL.processes)


def test_empty_files_in_tmp_are_charged_to_the_sandbox():
    _require_cgroups()
    code = ("import os\nmade = 0\ntry:\n    for made in range(2_000_000):\n"
            "        open(f'/tmp/{made}', 'w').close()\nexcept OSError:\n    pass\nprint(made)")
    done, seen = _confined(code)
    made = int(done.stdout) if done.stdout.strip() else 0   # the cgroup's OOM killer ends it first
    assert made < 2_000_000 - 1
    assert int(seen["memory.max_usage_in_bytes"]) <= LIMIT


def test_a_sandbox_whose_cgroup_cannot_be_joined_does_not_start(monkeypatch, tmp_path):
    _require_cgroups()
    blocked = tmp_path / "cgroup.procs"
    blocked.mkdir()    # writing a pid into a folder fails
    monkeypatch.setattr(cgroups, "prepare", lambda limits, shm_mb: [str(blocked)])
    argv = sandbox.wrap([sys.executable, "-c", "print('ran')"], SMALL, Path(sandbox.__file__).parent)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "ran" not in done.stdout
