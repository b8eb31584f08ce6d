"""Run a student's function on the graded cases, safely, and diagnose what it got wrong.

Student code is untrusted: each call gets deep copies of its inputs and runs
with warnings and floating-point errors silenced and with stdout and stderr
captured, file descriptor 2 included (an nbgrader test cell that writes to
stderr scores 0); any exception, SystemExit included, becomes a failed case.
The returned values are copied at once. Only KeyboardInterrupt (how a notebook
cell is stopped) gets through.
"""

import contextlib
import copy
import io
import os
import sys
import tempfile
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from numbers import Real

import numpy as np

from cnn_utils import isolation, method
from cnn_utils.grading import compare, network, report, table
from cnn_utils.grading.cases import make_cases
from cnn_utils.grading.mistakes import MISTAKES, candidates, raised_by

# frames in these folders are not the student's: numpy, and cnn_utils (this file's grandparent)
_LIBRARY_DIRS = tuple(os.path.dirname(path) + os.sep
                      for path in (np.__file__, os.path.dirname(os.path.abspath(__file__))))
_MESSAGE_LENGTH = 160


@dataclass
class CaseResult:
    """What happened in one case."""
    problem: str = None                           # the call failed or returned the wrong structure
    kind: str = None                              # problems of one kind are reported together
    checks: dict = field(default_factory=dict)    # output name -> None (right) or what is wrong
    outputs: dict = field(default_factory=dict)   # output name -> the student's array (copied)
    dtype_only: set = field(default_factory=set)  # outputs whose values are right, dtype wrong


@dataclass
class Finding:
    """A catalogued mistake that explains some wrong outputs."""
    mistake: object
    explained: dict    # output name -> number of wrong cases it explains
    wrong: dict        # output name -> number of wrong cases


@contextlib.contextmanager
def silenced():
    """Ignore warnings and floating-point errors; capture anything printed."""
    sink = io.StringIO()
    with warnings.catch_warnings(), np.errstate(all="ignore"), \
            contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        warnings.simplefilter("ignore")
        yield


@contextlib.contextmanager
def _descriptor_2_captured():
    """Point file descriptor 2 at a scratch file: catches stderr output of C code and subprocesses."""
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 in this process
        saved = None
    if saved is None:
        yield
        return
    if sys.__stderr__ is not None:
        sys.__stderr__.flush()
    with tempfile.TemporaryFile() as scratch:
        os.dup2(scratch.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _where(exc):
    """' (line L in function)' of the innermost frame of the student's code, if any; an exception
    replayed from the re-check's process carries that place as ``raised_at``: (line, function),
    or () when it has none."""
    raised_at = getattr(exc, "raised_at", None)
    if isinstance(raised_at, (list, tuple)):
        return f" (line {raised_at[0]} in {raised_at[1]})" if len(raised_at) == 2 else ""
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        if not tb.tb_frame.f_code.co_filename.startswith(_LIBRARY_DIRS):
            frames.append(tb)
        tb = tb.tb_next
    if not frames:
        return ""
    return f" (line {frames[-1].tb_lineno} in {frames[-1].tb_frame.f_code.co_name})"


def _describe(exc):
    """(text, kind) of an exception; the kind (type and place) groups cases in the feedback."""
    try:
        text = " ".join(str(exc).split())
    except Exception:  # noqa: BLE001 - an exception whose message itself fails
        text = "(message unavailable)"
    if len(text) > _MESSAGE_LENGTH:
        text = text[:_MESSAGE_LENGTH - 3] + "..."
    where = _where(exc)
    return (f"raised {type(exc).__name__}{': ' + text if text else ''}{where}",
            f"{type(exc).__name__}{where}")


def call_student(function, args):
    """(returned value, None, None), or (None, what went wrong, its kind); raises only KeyboardInterrupt."""
    try:
        with silenced(), _descriptor_2_captured():
            return function(*copy.deepcopy(args)), None, None
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - SystemExit and the like are student failures too
        return (None, *_describe(exc))


def _type_text(value):
    return "a numpy array" if isinstance(value, np.ndarray) else f"a {type(value).__name__}"


def _plural_values(count):
    return f"{count} value{'' if count == 1 else 's'}"


def _split(spec, returned):
    """Map the returned value onto spec.returns: ({name: value}, None) or (None, problem)."""
    names = spec.returns
    if len(names) == 1:
        return {names[0]: returned}, None
    expected = f"a tuple ({', '.join(names)})"
    if not isinstance(returned, (tuple, list)):
        return None, f"returned {_type_text(returned)}, expected {expected}"
    if len(returned) != len(names):
        return None, f"returned {_plural_values(len(returned))}, expected {expected}"
    return dict(zip(names, returned, strict=True)), None


def run_case(spec, function, case):
    """Call the student's function on one case and check every compared output."""
    returned, problem, kind = call_student(function, case.args)
    values = None
    if problem is None:
        values, problem = _split(spec, returned)
        kind = problem
    if problem is not None:
        return CaseResult(problem, kind, {name: problem for name in spec.compared})
    result = CaseResult()
    for name in spec.compared:
        value, message = _output(spec, values, name)
        result.checks[name] = message or _check_output(spec, result, name, value, case.expected[name])
    return result


def _check_output(spec, result, name, value, expected):
    """What is wrong with the returned ``value`` of output ``name`` (None: nothing); keeps its copy
    in ``result.outputs``, and notes an output whose values are right in the wrong dtype."""
    array, message = compare.snapshot(value)
    if array is None:
        return message
    result.outputs[name] = array
    message = compare.difference(array, expected)
    if message is not None and name == "init":
        message = network.init_difference(array, expected) or message
    if message is None and spec.keeps_dtype and array.dtype != expected.dtype:
        result.dtype_only.add(name)
        return f"has dtype {array.dtype} for {expected.dtype} inputs (the values are right)"
    return message


def _output(spec, values, name):
    """(value, None) of the compared output ``name``, or (None, problem) when the cache lacks it."""
    if name not in spec.cache_outputs:
        return values[name], None
    index, cache = spec.cache_outputs[name], values.get("cache")
    if isinstance(cache, (tuple, list)) and len(cache) > index:
        return cache[index], None
    return None, f"is missing: the returned cache must hold it at index {index}, as the docstring says"


RAISED = "cases that raised"   # the pseudo-output of the cases whose call failed
_SECOND_SHARE, _SECOND_CASES, _SECOND_OF_ALL = 1 / 3, 2, 0.15


def _explained_cases(spec, cases, results):
    """({mistake: {output: case numbers explained}}, {output: case numbers wrong}); the cases
    that raised count under RAISED, explained by a mistake whose error model knows the message."""
    explained = defaultdict(lambda: defaultdict(set))
    wrong = defaultdict(set)
    for number, (case, result) in enumerate(zip(cases, results, strict=True)):
        if result.problem:
            wrong[RAISED].add(number)
            for mistake in MISTAKES.values():
                if raised_by(mistake, spec.family, case.inputs, result.problem):
                    explained[mistake.name][RAISED].add(number)
            continue
        bad = {name: array for name, array in result.outputs.items()
               if result.checks[name] and name not in result.dtype_only}
        for name in bad:
            wrong[name].add(number)
        if not bad:
            continue
        for mistake in MISTAKES.values():
            models = candidates(mistake, spec.family, case.inputs)
            for name, array in bad.items():
                options = models.get(spec.canonical.get(name, name), [])
                if any(compare.matches_model(array, table.to_layout(spec, name, option), case.dtype)
                       for option in options):
                    explained[mistake.name][name].add(number)
    return explained, wrong


def _choose(explained, name, wrong, count):
    """The mistakes named for output ``name``: those explaining the most of its ``wrong`` cases
    (at least half; two at most when tied), then a second one that explains at least a third of
    the cases these leave (at least two cases, and 15 % of the ``count`` cases graded), and
    mostly cases they leave: a model that matches where the first does is a coincidence."""
    counts = {mistake: len(c[name]) for mistake, c in explained.items() if 2 * len(c[name]) >= len(wrong) > 0}
    if not counts:
        return []
    top = max(counts.values())
    chosen = [mistake for mistake, count in counts.items() if count == top][:2]
    left = wrong - set().union(*(explained[mistake][name] for mistake in chosen))
    rest = {mistake: len(c[name] & left) for mistake, c in explained.items() if mistake not in chosen}
    second = max(rest, key=rest.get, default=None)
    if second is not None and rest[second] >= max(_SECOND_SHARE * len(left), _SECOND_CASES,
                                                   _SECOND_OF_ALL * count) \
            and 2 * rest[second] >= len(explained[second][name]):  # not mostly the first's cases again
        chosen.append(second)
    return chosen


def diagnose(spec, cases, results):
    """The catalogued mistakes that best explain each wrong output, as a list of Findings.

    Outputs with the right values in the wrong dtype are the mistake ``dtype_not_kept`` and
    take no part in explaining the wrong values (a student can make both mistakes)."""
    retyped = Counter(name for result in results for name in result.dtype_only)
    explained, wrong = _explained_cases(spec, cases, results)
    findings = {}
    for name in (*spec.compared, RAISED):  # at least half the wrong cases: no coincidences
        for mistake in _choose(explained, name, wrong[name], len(cases)):
            finding = findings.setdefault(mistake, Finding(MISTAKES[mistake], {}, {}))
            finding.explained[name] = len(explained[mistake][name])
            finding.wrong[name] = len(wrong[name])
    if retyped:
        findings["dtype_not_kept"] = Finding(MISTAKES["dtype_not_kept"], dict(retyped),
                                             {name: retyped[name] + len(wrong[name]) for name in retyped})
    return list(findings.values())


def _check_points(points):
    if isinstance(points, bool) or not isinstance(points, Real) or not points >= 0:
        raise ValueError(f"points must be a non-negative number, got {points!r}")
    return float(points)


def _check_count(count):
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"cases must be None or a positive int, got {count!r}")
    return count


def grade(name, student_fn, points, seed=0, cases=None, wrapped=False, measures=None):
    """Grade a student's function against the reference on randomized cases; print the feedback.

    Inputs:
    - name: a graded reference name, e.g. 'conv_backward_naive' or 'nhwc.conv_forward'
    - student_fn: the student's function, with the reference's signature
    - points: the points of the test cell
    - seed: seed of the random cases
    - cases: number of cases (None: the function's default, 14-20)
    - wrapped: True if student_fn is already called as the cases are (the re-check's replay of
      what the student's function returned)
    - measures: with ``wrapped``, what ``method.measure`` found in the re-check's student process
      (where the method is the lesson: ``method.RULES``); without it, it is measured here

    While the cases run, the names the student's function looks up in its notebook resolve as
    ``table.replacements`` says: the functions it calls (``table.callees``) to the reference, the loop
    versions the exercise replaces to a stand-in that raises (and costs all the points). Where the
    method is the lesson, code that does not follow it scores 0 (``method.verdict``).

    Returns:
    - score: points * fraction of (case, output) checks passed, rounded to 2 decimals
    """
    spec = table.lookup(name)
    points = _check_points(points)
    count = spec.count if cases is None else _check_count(cases)
    with silenced():
        case_list = make_cases(spec, seed, count)
    if not callable(student_fn):
        problem = f"is not a function (got {_type_text(student_fn)})"
        results = [CaseResult(problem, problem, {out: problem for out in spec.compared})
                   for _ in case_list]
        findings = []
    else:
        function = spec.wrap(student_fn) if spec.wrap and not wrapped else student_fn
        # the re-check (wrapped) binds these in the student process: student_fn is a replay there
        namespace = None if wrapped else isolation.namespace_of(student_fn)
        rule = method.RULES.get(name)
        with isolation.substituted(namespace, table.replacements(name)):
            results = [run_case(spec, function, case) for case in case_list]
            if rule and not wrapped:
                measures = _probe(spec, rule, function, method.counted(rule, namespace))
        with silenced():
            findings = diagnose(spec, case_list, results)
    passed = sum(message is None for result in results for message in result.checks.values())
    total = sum(len(result.checks) for result in results)
    score = round(points * passed / total, 2)
    if any((result.kind or "").startswith(isolation.METHOD_NOT_ALLOWED) for result in results):
        score = 0.0   # it called a loop version the exercise replaces: the method is what is graded
    problem = method.verdict(name, *measures) if name in method.RULES and measures else None
    if problem:
        score = 0.0
    hint_variables = table.HINT_VARIABLES[spec.layout]
    text = report.render(name, spec, case_list, results, findings, score, points, hint_variables)
    print(text if problem is None else text.replace("\nScore:", f"\n{problem}\nScore:"))
    return score


def probe_args(spec, rule):
    """The arguments of the method's two probes (``method.probe_inputs``), as the cases are called."""
    return [spec.student_args(method.probe_inputs(rule.kind, size)) for size in method.SIZES]


def _probe(spec, rule, function, counted):
    with silenced():
        return method.measure(function, probe_args(spec, rule), counted)
