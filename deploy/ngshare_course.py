"""The course on ngshare, its students taken from the hub group: run with the course service's token.

    python deploy/ngshare_course.py     # in the grader pod (course-init.yaml runs it too)

On Kubernetes nbgrader's exchange is the ngshare service (deploy/z2jh/ngshare.yaml), which lets a
user fetch and submit only in a course that lists them. This creates the course (the course
service, ngshare's admin, is its instructor) where it is missing, then makes its students exactly
the members of the hub group nbgrader-cnn-backprop: enrolment stays in the identity provider.
The hub fills that group at each login (the authenticator's groups), so a student is enrolled at
the first run after their first login: deploy/z2jh/ngshare-sync.yaml runs it every 10 minutes.
A missing or empty group removes no one (a hub that lost its groups must not drop the class).
Environment: JUPYTERHUB_API_URL, JUPYTERHUB_API_TOKEN (the service's), CNN_HUB_NGSHARE_URL.
"""

import json
import os
import sys
from urllib.parse import quote

import requests

COURSE_ID = "cnn-backprop"
STUDENTS_GROUP = "nbgrader-cnn-backprop"


class SyncError(Exception):
    pass


def call(method, url, token, missing_ok=False, **kwargs):
    """JSON answer of one API request (None: HTTP 404 and ``missing_ok``); SyncError naming the
    request when it fails."""
    response = requests.request(method, url, headers={"Authorization": f"token {token}"}, timeout=60, **kwargs)
    if missing_ok and response.status_code == 404:
        return None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not response.ok or body.get("success") is False:
        raise SyncError(f"{method} {url}: HTTP {response.status_code} {body.get('message', response.text[:200])}")
    return body


def sync(hub_api, ngshare, token):
    """Create the course where missing; set its students to the hub group's members.
    Returns (added, removed), lists of user names."""
    ngshare = ngshare.rstrip("/")
    me = call("GET", f"{hub_api}/user", token)["name"]
    if COURSE_ID not in call("GET", f"{ngshare}/courses", token)["courses"]:
        call("POST", f"{ngshare}/course/{COURSE_ID}", token, data={"instructors": json.dumps([me])})
    group = call("GET", f"{hub_api}/groups/{STUDENTS_GROUP}", token, missing_ok=True)
    members = set(group["users"]) if group else set()
    enrolled = {s["username"] for s in call("GET", f"{ngshare}/students/{COURSE_ID}", token)["students"]}
    added, removed = sorted(members - enrolled), sorted(enrolled - members) if members else []
    if not members and enrolled:
        print(f"ngshare_course: the hub group {STUDENTS_GROUP} is missing or empty: no student removed",
              file=sys.stderr)
    if added:
        rows = [{"username": name, "first_name": "", "last_name": "", "email": ""} for name in added]
        answer = call("POST", f"{ngshare}/students/{COURSE_ID}", token, data={"students": json.dumps(rows)})
        refused = [f"{row['username']} ({row.get('message')})" for row in answer["status"] if not row["success"]]
        if refused:
            raise SyncError(f"ngshare refused to enrol {', '.join(refused)}")
    for name in removed:
        call("DELETE", f"{ngshare}/student/{COURSE_ID}/{quote(name, safe='')}", token)
    return added, removed


def main():
    needed = ("JUPYTERHUB_API_URL", "JUPYTERHUB_API_TOKEN", "CNN_HUB_NGSHARE_URL")
    missing = [name for name in needed if not os.environ.get(name)]
    if missing:
        sys.exit(f"ngshare_course: set {', '.join(missing)}")
    try:
        added, removed = sync(os.environ["JUPYTERHUB_API_URL"].rstrip("/"), os.environ["CNN_HUB_NGSHARE_URL"],
                              os.environ["JUPYTERHUB_API_TOKEN"])
    except (SyncError, requests.RequestException) as error:
        sys.exit(f"ngshare_course: {error}")
    print(f"{COURSE_ID} on ngshare: {len(added)} students added {added}, {len(removed)} removed {removed}")


if __name__ == "__main__":
    main()
