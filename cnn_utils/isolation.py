"""Grade one function on its own: what the names it calls resolve to while it is graded.

While a graded function runs, the notebook's names of earlier assignments'
functions point at the reference (a bug is charged once, in its own
assignment), and where the method is the lesson the loop versions point at a
stand-in that raises ``MethodNotAllowed``. The hidden tests and the re-check's
student process use this module; it imports no instructor code, so the
re-check (and the student bundle) can hold it.
"""

import contextlib
import types

METHOD_NOT_ALLOWED = "MethodNotAllowed"


class MethodNotAllowed(Exception):
    """A graded function called a function its exercise is meant to replace."""


def forbidden(name, graded):
    """A stand-in for ``name`` that raises while ``graded`` is graded."""
    def stand_in(*args, **kwargs):
        raise MethodNotAllowed(f"{name} is switched off while {graded} is graded (the method is "
                               "the exercise): calling it costs all of this function's points")
    stand_in.__name__ = name
    return stand_in


def namespace_of(student_object):
    """The global namespace the student's function or class looks names up in, or None."""
    if isinstance(student_object, types.FunctionType):
        return student_object.__globals__
    if isinstance(student_object, type):
        for member in vars(student_object).values():
            member = getattr(member, "__func__", member)  # staticmethod, classmethod
            if isinstance(member, types.FunctionType):
                return member.__globals__
    return None


@contextlib.contextmanager
def substituted(namespace, replacements):
    """Bind ``replacements`` ({name: object}) in ``namespace`` (a dict or None) for the block."""
    if namespace is None or not replacements:
        yield
        return
    missing = object()
    saved = {name: namespace.get(name, missing) for name in replacements}
    namespace.update(replacements)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is missing:
                namespace.pop(name, None)
            else:
                namespace[name] = value
