"""The printed feedback of one grade() call.

It names the shapes and parameters of a failing case, never the test code:
how many cases passed, per output what was wrong (first failing case), the
exceptions raised, the likely mistakes with their hints, and the score.
"""

from collections import Counter


def _plural(count, word):
    return f"{count} {word}{'' if count == 1 else 's'}"


def _problem_lines(name, cases, results):
    """One line per distinct exception / wrong return structure (at most three)."""
    seen = Counter(result.kind for result in results if result.problem)
    lines = []
    for kind, count in list(seen.items())[:3]:
        case, result = next((case, result) for case, result in zip(cases, results, strict=True)
                            if result.problem and result.kind == kind)
        lines.append(f"  In {count} of {len(cases)} cases {name} {result.problem}; first: case "
                     f"{case.index} ({case.label})")
    if len(seen) > 3:
        lines.append(f"  ... and {len(seen) - 3} more kinds of failure")
    return lines


def _output_lines(spec, cases, results):
    returned = [(case, result) for case, result in zip(cases, results, strict=True) if not result.problem]
    if not returned:
        return []
    some = " that returned" if len(returned) < len(cases) else ""
    lines = []
    for name in spec.compared:
        failing = [(case, result.checks[name]) for case, result in returned if result.checks[name]]
        if not failing:
            lines.append(f"  {name}: correct in all {_plural(len(returned), 'case')}{some}")
            continue
        case, message = min(failing, key=lambda item: "has shape" not in item[1])  # shapes first
        lines.append(f"  {name}: wrong in {len(failing)} of {len(returned)} cases{some}; e.g. case "
                     f"{case.index} ({case.label}): {name} {message}")
    return lines


def _finding_lines(findings, hint_variables):
    lines = []
    for finding in findings:
        where = ", ".join(f"{finding.explained[name]} of {finding.wrong[name]} "
                          f"{name if name.startswith('cases ') else 'wrong ' + name}"
                          for name in finding.explained)
        hint = finding.mistake.hint.format(**hint_variables)
        lines.append(f"  Likely mistake (explains {where}): {hint}")
    return lines


def render(name, spec, cases, results, findings, score, points, hint_variables):
    """The feedback text."""
    correct = sum(not result.problem and not any(result.checks.values()) for result in results)
    passed = sum(message is None for result in results for message in result.checks.values())
    total = sum(len(result.checks) for result in results)
    lines = [f"{name}: {correct} of {len(cases)} random cases fully correct "
             f"({passed} of {total} output checks passed)."]
    lines += _problem_lines(name, cases, results)
    if passed < total:
        lines += _output_lines(spec, cases, results)
    lines += _finding_lines(findings, hint_variables)
    lines.append(f"Score: {score:g} / {points:g}")
    return "\n".join(lines)
