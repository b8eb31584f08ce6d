"""JupyterHub configuration of the cnn-backprop course on one machine (JupyterHub 5.3 to 6.x,
nbgrader 0.9.6; tests/test_hub.py runs it on the newest JupyterHub 6).

    jupyterhub -f deploy/jupyterhub_config.py      # as root: servers run as real Unix users

What it sets up:
- every user's single-user server runs as the Unix user of the same name (LocalProcessSpawner);
- the course as a hub-managed service `cnn-backprop`: a Jupyter server with the formgrader,
  running as the grading account (CNN_HUB_COURSE_USER, not a person's) in the course directory,
  reachable at /services/cnn-backprop/formgrader by the members of group
  `formgrade-cnn-backprop` only;
- groups `formgrade-cnn-backprop` (instructors) and `nbgrader-cnn-backprop` (students) and the
  roles that give them their scopes;
- the nbgrader exchange directory (Exchange.root), shared by every server;
- students' servers import the student bundle (no reference code) and have no formgrader;
- an idle culler (jupyterhub-idle-culler as a service).

DEMO AUTHENTICATION, NOT FOR PRODUCTION: everyone logs in with one shared password
(SharedPasswordAuthenticator). A real class uses its institution's login (LTI, OAuth, LDAP, PAM).

Every path and port comes from an environment variable (CNN_HUB_*), so that `make hub` and the
end-to-end test (tests/test_hub.py) can run the hub in a temporary folder.
"""

import os
import pwd
import sys
from pathlib import Path

c = get_config()  # noqa: F821 (provided by JupyterHub when it loads this file)

DEPLOY = Path(__file__).resolve().parent
ROOT = DEPLOY.parent
COURSE_ID = "cnn-backprop"
INSTRUCTOR_GROUP = f"formgrade-{COURSE_ID}"  # nbgrader's naming: graders of the course
STUDENT_GROUP = f"nbgrader-{COURSE_ID}"  # nbgrader's naming: students of the course


def env(name, default):
    return os.environ.get(f"CNN_HUB_{name}", default)


def names(variable, default):
    return [name for name in env(variable, default).split(",") if name]


STATE = Path(env("STATE", "/srv/jupyterhub"))  # hub database, cookie secret, logs
EXCHANGE = env("EXCHANGE", "/srv/nbgrader/exchange")  # world-writable, sticky bit (make hub)
COURSE_DIR = env("COURSE_DIR", "/home/cnn-grader/cnn-backprop")  # nbgrader course root
COURSE_USER = env("COURSE_USER", "cnn-grader")  # the grading account the formgrader service runs as
# What the servers read lives outside the checkout (deploy/local_hub.py: install_runtime), so
# that the checkout may sit where no one else can read it.
USER_BIN = Path(env("USER_BIN", str(Path(sys.executable).parent)))  # env every user's server runs in
STUDENT_PYTHONPATH = env("STUDENT_PYTHONPATH", str(ROOT / "dist" / "student"))  # the student bundle
INSTRUCTOR_PYTHONPATH = env("INSTRUCTOR_PYTHONPATH", str(ROOT))  # the full cnn_utils and the grader
JUPYTER_CONFIG = Path(env("JUPYTER_CONFIG", str(DEPLOY / "jupyter")))  # deploy/jupyter, or its copy
INSTRUCTORS = names("INSTRUCTORS", "instructor")
STUDENTS = names("STUDENTS", "student1,student2")
IP = env("IP", "127.0.0.1")
PORT, HUB_PORT, PROXY_API_PORT, SERVICE_PORT = (
    int(env(name, default)) for name, default in
    (("PORT", "8000"), ("HUB_PORT", "8081"), ("PROXY_API_PORT", "8001"), ("SERVICE_PORT", "9999")))

# --- the hub process ------------------------------------------------------------------------
c.JupyterHub.ip = IP
c.JupyterHub.port = PORT
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = HUB_PORT
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{PROXY_API_PORT}"
c.ConfigurableHTTPProxy.should_start = True
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(STATE / "jupyterhub.pid")
c.JupyterHub.cleanup_servers = True  # stopping the hub stops every single-user server
c.JupyterHub.cleanup_proxy = True
# Per-user subdomains isolate the servers from each other in the browser (JupyterHub's
# "same-origin" warning); they need a wildcard DNS name and certificate, so they are opt-in.
SUBDOMAIN_HOST = env("SUBDOMAIN_HOST", "")
if SUBDOMAIN_HOST:
    c.JupyterHub.subdomain_host = SUBDOMAIN_HOST

# --- authentication: DEMO ONLY, NOT FOR PRODUCTION ------------------------------------------
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = env("DEMO_PASSWORD", "cnn-backprop-demo")
c.Authenticator.allowed_users = set(INSTRUCTORS + STUDENTS)
c.Authenticator.admin_users = set()  # instructors need no admin rights: their role is enough

# --- single-user servers: real Unix users, one process each ----------------------------------
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [str(USER_BIN / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = env("USER_DIR", "~")  # "{username}" is expanded per user
c.Spawner.http_timeout = 60
c.Spawner.start_timeout = 120
# LocalProcessSpawner does NOT enforce these: it only exports MEM_LIMIT / CPU_LIMIT to the server
# (jupyter-resource-usage shows them). KubeSpawner, SystemdSpawner and DockerSpawner enforce them.
c.Spawner.mem_limit = env("MEM_LIMIT", "2G")
c.Spawner.cpu_limit = float(env("CPU_LIMIT", "1"))
c.Spawner.environment = {"PATH": f"{USER_BIN}:/usr/local/bin:/usr/bin:/bin",
                         "CNN_HUB_EXCHANGE": EXCHANGE}

STUDENT_CONFIG = JUPYTER_CONFIG / "student"  # turns the formgrader off on students' servers
# the instructors' Lab loses its Formgrader tab, which JupyterHub's frame-ancestors 'none' leaves
# blank without per-user subdomains: the formgrader is the course service, in a tab of its own
INSTRUCTOR_CONFIG = JUPYTER_CONFIG / "instructor"
COMMON_CONFIG = JUPYTER_CONFIG  # nbgrader_config.py: course id and exchange for everyone


def pre_spawn_hook(spawner):
    """Students import the student bundle and get no formgrader; instructors get the full package."""
    student = spawner.user.name not in INSTRUCTORS
    own = [STUDENT_CONFIG] if student else [] if SUBDOMAIN_HOST else [INSTRUCTOR_CONFIG]
    config_path = [*own, COMMON_CONFIG]
    spawner.environment["JUPYTER_CONFIG_PATH"] = os.pathsep.join(map(str, config_path))
    spawner.environment["PYTHONPATH"] = STUDENT_PYTHONPATH if student else INSTRUCTOR_PYTHONPATH
    # nbgrader fetches into the server's working directory (the user's home), not into its root
    # folder: name the root folder explicitly (Exchange.assignment_dir, see jupyter/nbgrader_config.py)
    root_dir = spawner.format_string(spawner.notebook_dir)
    if root_dir.startswith("~"):
        root_dir = pwd.getpwnam(spawner.user.name).pw_dir + root_dir[1:]
    spawner.environment["CNN_HUB_ASSIGNMENT_DIR"] = root_dir


c.Spawner.pre_spawn_hook = pre_spawn_hook

# --- groups and roles -------------------------------------------------------------------------
c.JupyterHub.load_groups = {
    INSTRUCTOR_GROUP: {"users": INSTRUCTORS},
    STUDENT_GROUP: {"users": STUDENTS},
}
c.JupyterHub.load_roles = [
    {
        "name": "cnn-backprop-instructor",
        "description": "Grade the course: open the formgrader service, see the students' servers",
        "scopes": [f"access:services!service={COURSE_ID}", "read:users", "list:users",
                   f"read:groups!group={STUDENT_GROUP}", f"read:servers!group={STUDENT_GROUP}"],
        "groups": [INSTRUCTOR_GROUP],
    },
    {
        "name": "cnn-backprop-student",
        "description": "Take the course: one's own server only (the default 'user' role)",
        "scopes": ["self"],
        "groups": [STUDENT_GROUP],
    },
    {
        "name": "cnn-backprop-service",
        "description": "The formgrader service: who is in the course (nbgrader's JupyterHubAuthPlugin)",
        "scopes": ["list:users", "read:users:groups", "list:groups",
                   f"groups!group={STUDENT_GROUP}", f"read:groups!group={INSTRUCTOR_GROUP}"],
        "services": [COURSE_ID],
    },
    {
        "name": "idle-culler",
        "description": "Stop servers idle for longer than the cull timeout",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    },
]

# --- services: the course (formgrader) and the idle culler -----------------------------------
course_headers = {}
if SUBDOMAIN_HOST:
    # nbgrader's Lab "Formgrader" tab is an iframe; JupyterHub >= 4.1 forbids framing
    # (frame-ancestors 'none'). With per-service subdomains 'self' is safe again. Without them,
    # open /services/cnn-backprop/formgrader in its own browser tab (it needs no iframe).
    course_headers = {"Content-Security-Policy": "frame-ancestors 'self'"}

c.JupyterHub.services = [
    {
        "name": COURSE_ID,
        "display": True,
        "url": f"http://127.0.0.1:{SERVICE_PORT}",
        "user": COURSE_USER,
        "cwd": COURSE_DIR,
        "command": [
            str(USER_BIN / "jupyterhub-singleuser"),
            f"--ServerApp.root_dir={COURSE_DIR}",
            "--ServerApp.default_url=/formgrader",
            *([f"--ServerApp.tornado_settings={{'headers': {course_headers!r}}}"] if course_headers else []),
        ],
        "environment": {
            "PATH": f"{USER_BIN}:/usr/local/bin:/usr/bin:/bin",
            "PYTHONPATH": INSTRUCTOR_PYTHONPATH,
            "JUPYTER_CONFIG_PATH": str(COMMON_CONFIG),
            "CNN_HUB_EXCHANGE": EXCHANGE,
            "CNN_HUB_COURSE_DIR": COURSE_DIR,
        },
        "oauth_no_confirm": True,
    },
    {
        "name": "idle-culler",
        "command": [sys.executable, "-m", "jupyterhub_idle_culler",
                    f"--timeout={int(env('CULL_TIMEOUT', '3600'))}", "--cull-every=300"],
    },
]

# --- optional: an automation token (tests/test_hub.py; scripts that enrol students) -----------
AUTOMATION_TOKEN = env("AUTOMATION_TOKEN", "")
if AUTOMATION_TOKEN:
    c.JupyterHub.services.append({"name": "automation", "api_token": AUTOMATION_TOKEN})
    c.JupyterHub.load_roles.append({
        "name": "automation",
        "description": "Issue tokens for and start/stop the course's users",
        "scopes": ["admin:users", "admin:servers", "tokens", "list:users"],
        "services": ["automation"],
    })
