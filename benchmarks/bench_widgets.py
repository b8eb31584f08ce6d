"""Python time of one explorer update after a control change, on the largest grids the controls allow.

    python benchmarks/bench_widgets.py [--repeats N]

For each explorer, starting from its largest configuration, one control is moved
back and forth between two values; each move redraws the index maps and the HTML.
The median (and worst) milliseconds per update are printed as a table and written to
benchmarks/results/widgets.md. The budget is 50 ms per update; the exit status is 1
when a median exceeds it.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

from cnn_utils.widgets import BackwardExplorer, ConvExplorer, Im2colExplorer, PoolExplorer

BUDGET_MS = 50.0
RESULTS = Path(__file__).resolve().parent / "results" / "widgets.md"
BIG_CONV = dict(height=12, width=12, kernel_height=1, kernel_width=1, stride=1, pad=3, dilation=1)
BIG_KERNEL = dict(height=12, width=12, kernel_height=5, kernel_width=5, stride=1, pad=3, dilation=1)
# (explorer, setting name, starting controls, control moved, two values it alternates between)
CASES = [
    (ConvExplorer, "18x18 out", BIG_CONV, "stride", (1, 2)),
    (ConvExplorer, "18x18 out", BIG_CONV, "out_row", (0, 17)),
    (ConvExplorer, "5x5 kernel", BIG_KERNEL, "pad", (3, 2)),
    (BackwardExplorer, "18x18 out", BIG_CONV, "stride", (1, 2)),
    (BackwardExplorer, "18x18 out", BIG_CONV, "in_col", (0, 11)),
    (BackwardExplorer, "5x5 kernel", BIG_KERNEL, "out_row", (0, 13)),
    (Im2colExplorer, "16x81 matrix", dict(height=8, width=8, kernel_height=4, kernel_width=4, pad=2),
     "out_col", (0, 8)),
    (Im2colExplorer, "16x81 matrix", dict(height=8, width=8, kernel_height=4, kernel_width=4, pad=2),
     "pad", (2, 1)),
    (PoolExplorer, "10x10, 100 windows", dict(height=10, width=10, pool_height=1, pool_width=1),
     "seed", (1, 2)),
    (PoolExplorer, "10x10, 4x4 pool", dict(height=10, width=10, pool_height=4, pool_width=4),
     "stride", (1, 2)),
    (PoolExplorer, "10x10, 4x4 pool", dict(height=10, width=10, pool_height=4, pool_width=4),
     "mode", ("max", "avg")),
]


def time_updates(cls, start, control, values, repeats):
    """Milliseconds of each of ``repeats`` control changes (after one warm-up change)."""
    explorer = cls(**start)
    widget = explorer.controls[control]
    times = []
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        widget.value = values[i % 2]
        times.append((time.perf_counter() - t0) * 1e3)
        assert explorer.error == "", explorer.error
    return times[1:]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    lines = [f"Explorer update time after one control change (Python, median of {args.repeats}; "
             f"budget {BUDGET_MS:.0f} ms)", "",
             "| explorer | largest setting | control | median ms | worst ms |",
             "| --- | --- | --- | ---: | ---: |"]
    over = []
    for cls, setting, start, control, values in CASES:
        times = time_updates(cls, start, control, values, args.repeats)
        median = statistics.median(times)
        lines.append(f"| {cls.__name__} | {setting} | {control} {values[0]}<->{values[1]} "
                     f"| {median:.2f} | {max(times):.2f} |")
        if median > BUDGET_MS:
            over.append(f"{cls.__name__} {control}: {median:.1f} ms")
    text = "\n".join(lines)
    print(text)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(text + "\n")
    if over:
        print("over budget: " + "; ".join(over), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
