"""The method of the exercises where it is the lesson, checked by what the code does, not by names.

``conv_backward_flipped`` must compute its gradients with the forward convolution, and the
``*_im2col`` functions with whole-array operations: neither may loop in Python over the output
positions. Each is called on two probes that differ only in the output's size (4 x 4 and
12 x 12), under a line tracer that counts the lines of Python run outside the libraries
(numpy, the standard library, ``cnn_utils``, the grader): code that loops over output positions
runs more lines as the output grows, code that loops only over kernel taps, channels or samples
does not. However the loop is reached (renamed, aliased through a default argument, a closure,
``functools.partial``, a method, ``exec``, a thread), it is counted. For ``conv_backward_flipped``
the calls of ``conv_forward_naive`` are counted too, through the object the notebook's name is
bound to (the reference's while it is graded), whose own lines are not counted. A function that
turns the tracer off while it is checked fails the check. It is a check of what careless or
clever code does, not a defence against code written to deceive it (a tracer switched off
through the frame, code compiled under a library's file name, a subprocess). The hidden tests,
the re-check's student process and the visible checks (``check``) use this module; it imports
no instructor code.
"""

import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnn_utils import isolation

SIZES = (4, 12)   # the output's height and width in the two probes
SLACK = 4         # lines more on the bigger probe that still count as the same code


@dataclass(frozen=True)
class Rule:
    kind: str             # the probes' shape: "conv_forward", "conv_backward" or "pool_backward"
    what: str             # the method, in the feedback's words
    through: str = None   # a function the method computes with: it must be called
    helpers: tuple = ()   # graded functions it calls whose own lines are theirs (the reference's when graded)


RULES = {
    "conv_backward_flipped": Rule("conv_backward", "a convolution with the flipped kernel, computed by "
                                  "conv_forward_naive", through="conv_forward_naive"),
    "conv_forward_im2col": Rule("conv_forward", "a matrix product on the im2col columns",
                                helpers=("im2col_indices",)),
    "conv_backward_im2col": Rule("conv_backward", "matrix products on the im2col columns and col2im",
                                 helpers=("im2col_indices", "col2im_indices")),
    "max_pool_backward_im2col": Rule("pool_backward", "whole-array operations on the columns and col2im",
                                     helpers=("im2col_indices", "col2im_indices")),
}


def probe_inputs(kind, size):
    """Canonical inputs of a probe whose output is ``size`` x ``size`` (2 samples, 2 channels, 2
    filters), with stride 2: overlapping 3 x 3 pooling windows, a padded 3 x 3 convolution."""
    rng = np.random.default_rng(size)
    if kind == "pool_backward":
        x = rng.standard_normal((2, 2, 2 * size + 1, 2 * size + 1))
        return {"x": x, "pool_param": {"pool_height": 3, "pool_width": 3, "stride": 2},
                "dout": rng.standard_normal((2, 2, size, size))}
    return {"x": rng.standard_normal((2, 2, 2 * size - 1, 2 * size - 1)), "w": rng.standard_normal((2, 2, 3, 3)),
            "b": rng.standard_normal(2), "conv_param": {"stride": 2, "pad": 1},
            "dout": rng.standard_normal((2, 2, size, size))}


def _library(extra=()):
    """Folders whose code is not the student's: Python's, its packages', cnn_utils' and ``extra``."""
    folders = {sys.prefix, sys.base_prefix, sys.exec_prefix, str(Path(__file__).resolve().parent), *extra}
    return tuple(str(Path(folder)) + "/" for folder in folders)


def measure(function, args_list, counted=(), extra_library=()):
    """For ``function(*args)`` on each argument tuple of ``args_list``: (the lines of the student's
    Python it ran, how many times it called a function in ``counted``, whether it returned); and
    whether the tracer was tampered with. A probe that raises gives no verdict (the cases grade it)."""
    library = _library(extra_library)
    codes = {getattr(target, "__code__", None) for target in counted} - {None}
    counts = {"lines": 0, "calls": 0, "inside": 0}

    def local(frame, event, arg):
        if event == "line":
            counts["lines"] += 1
        return local

    def counted_frame(frame, event, arg):   # what a counted function runs is its own, not the caller's
        if event == "return":
            counts["inside"] -= 1
        return counted_frame

    def trace(frame, event, arg):   # called on entering every frame: student code is traced line by line
        if frame.f_code in codes:
            counts["calls"] += 1
            counts["inside"] += 1
            return counted_frame
        filename = frame.f_code.co_filename
        if counts["inside"] or filename.startswith(library) or filename.startswith("<frozen"):
            return None
        return local

    attempts = []
    guards = {(module, name): getattr(module, name) for module in (sys, threading)
              for name in ("settrace", "setprofile")}
    settrace, thread_settrace = guards[sys, "settrace"], guards[threading, "settrace"]
    previous = sys.gettrace()

    def refuse(function, *args):   # a thread it starts installs this tracer through sys.settrace
        if function is trace:
            settrace(trace)
        else:
            attempts.append(function)

    results = []
    for args in args_list:
        counts.update(lines=0, calls=0, inside=0)
        for module, name in guards:   # while it runs, changing the tracer is refused and noted
            setattr(module, name, refuse)
        returned = True
        thread_settrace(trace)   # threads it starts are traced too
        settrace(trace)
        try:
            function(*args)
        except Exception:  # noqa: BLE001 - the student's exception
            returned = False
        finally:
            if sys.gettrace() is not trace:
                attempts.append("gettrace")
            settrace(previous)
            thread_settrace(None)
            for (module, name), value in guards.items():
                setattr(module, name, value)
        results.append((counts["lines"], counts["calls"], returned))
    return results, bool(attempts)


def verdict(name, measured, tampered):
    """None if ``name``'s method holds for the measures of its two probes (from ``measure``), else
    the feedback's sentence saying what the code did instead."""
    rule = RULES[name]
    if tampered:
        return (f"{name} changed Python's tracer while its method was checked; the check cannot "
                "see what it does, so it scores 0.")
    if len(measured) != len(SIZES) or not all(returned for _, _, returned in measured):
        return None
    (small, _, _), (big, calls, _) = measured
    if big - small > SLACK:
        return (f"{name} loops over output positions: its own code ran {big} lines of Python on a "
                f"{SIZES[1]}x{SIZES[1]} output and {small} on a {SIZES[0]}x{SIZES[0]} one. The exercise is "
                f"{rule.what}, with no Python loop that grows with the output, so it scores 0.")
    if rule.through and calls == 0:
        return (f"{name} never called {rule.through}: the exercise is {rule.what}, so it scores 0.")
    return None


def probe_args(name, forward=None):
    """The two probes' arguments for ``name`` as the visible checks call it: a backward function's
    cache from ``forward`` (the student's own forward function)."""
    kind = RULES[name].kind
    args = []
    for size in SIZES:
        i = probe_inputs(kind, size)
        if kind == "conv_forward":
            args.append((i["x"], i["w"], i["b"], i["conv_param"]))
        elif kind == "conv_backward":
            args.append((i["dout"], forward(i["x"], i["w"], i["b"], i["conv_param"])[1]))
        else:
            args.append((i["dout"], forward(i["x"], i["pool_param"])[1]))
    return args


def counted(rule, namespace):
    """The functions whose calls are counted and whose lines are not the caller's: the objects
    ``rule.through`` and ``rule.helpers`` are bound to in ``namespace`` (the notebook's) now: the
    reference's while graded, the student's own in a visible check."""
    if namespace is None:
        return ()
    names = ((rule.through,) if rule.through else ()) + rule.helpers
    return tuple(target for target in map(namespace.get, names) if callable(target))


def check(function, name, forward=None):
    """The visible check of ``name``'s method: AssertionError with the grader's sentence if it fails."""
    targets = counted(RULES[name], isolation.namespace_of(function))
    measured, tampered = measure(function, probe_args(name, forward), targets)
    problem = verdict(name, measured, tampered)
    assert problem is None, problem
    print(f"{name}: the method checks out ({RULES[name].what}).")
