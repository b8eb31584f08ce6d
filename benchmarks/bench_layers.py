"""Speed of the reference convolution and max-pool layers against PyTorch CPU.

    python benchmarks/bench_layers.py [--quick] [--interleave]

Times forward + backward (median milliseconds) of the naive loops, im2col,
fast (and the reshape pool) in float64 and float32, and their ratio to
PyTorch CPU on the same shapes. numpy and torch run in separate worker
processes, in alternating rounds: in one process on two cores the idle
threads of one library spin against the other and both figures lie. Each
ratio is taken within a round and the median over rounds is reported, with
its quartiles: a slow spell of the shared machine then shows as a spread
rather than as a figure. Both use 2 threads; torch drops its gradients before
each call, as a training step does. ``--interleave`` times every case once per
repetition, each call after the other layers' calls, as in a network. The
naive loops run on a reduced batch; their time is scaled to the full batch.
The table is printed and written to benchmarks/results/latest.md.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

THREADS = 2
NAIVE_BATCH = 1
# name: (x shape, w shape, stride, pad)
CONV_CASES = {
    "S1": ((100, 3, 31, 31), (25, 3, 3, 3), 2, 1),
    "S2": ((50, 3, 32, 32), (32, 3, 7, 7), 1, 3),
    "S3": ((64, 64, 32, 32), (64, 64, 3, 3), 1, 1),
}
# name: (x shape, pool size, stride)
POOL_CASES = {
    "P1": ((100, 3, 32, 32), 2, 2),
    "P2": ((64, 64, 32, 32), 2, 2),
    "P3": ((64, 64, 33, 33), 3, 2),
}
DTYPES = ("float64", "float32")
RESULTS = Path(__file__).resolve().parent / "results" / "latest.md"


def conv_flops(case):
    """Multiply-adds x 2 of forward + backward (out, dx, dw): three products of the same size."""
    (n, c, h, w), (f, _, hh, ww), stride, pad = CONV_CASES[case]
    out_h = (h + 2 * pad - hh) // stride + 1
    out_w = (w + 2 * pad - ww) // stride + 1
    return 3 * 2 * n * f * out_h * out_w * c * hh * ww


def make_inputs(case, dtype, batch=None):
    """Seeded (x, w, b, conv_param) or (x, pool_param) for ``case``, batch cut to ``batch``."""
    rng = np.random.default_rng(0)
    if case in CONV_CASES:
        x_shape, w_shape, stride, pad = CONV_CASES[case]
        x_shape = (batch or x_shape[0],) + x_shape[1:]
        return (rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype),
                rng.standard_normal(w_shape[0]).astype(dtype), {"stride": stride, "pad": pad})
    x_shape, size, stride = POOL_CASES[case]
    x_shape = (batch or x_shape[0],) + x_shape[1:]
    return (rng.standard_normal(x_shape).astype(dtype),
            {"pool_height": size, "pool_width": size, "stride": stride})


def median_ms(run, reps):
    """Median wall time of ``run()`` in milliseconds, after one warm-up call."""
    return timed_ms({"run": (run, True)}, reps, interleave=False)["run"]


def timed_ms(runs, reps, interleave):
    """Median milliseconds of each run over ``reps`` calls.

    runs: {key: (run, repeat)}; a run with repeat False is called once, without a warm-up.
    interleave: call every run once per repetition (each call then follows the other
    layers' calls, as in a network) instead of a run's repetitions back to back.
    """
    for run, repeat in runs.values():
        if repeat:
            run()
    times = {key: [] for key in runs}
    order = ([(rep, key) for rep in range(reps) for key in runs] if interleave
             else [(rep, key) for key in runs for rep in range(reps)])
    for rep, key in order:
        run, repeat = runs[key]
        if repeat or rep == 0:
            start = time.perf_counter()
            run()
            times[key].append(time.perf_counter() - start)
    return {key: 1e3 * statistics.median(values) for key, values in times.items()}


def numpy_variants():
    """{variant: (conv forward, conv backward, pool forward, pool backward)}; None where absent."""
    from cnn_utils import reference as ref
    return {
        "naive": (ref.conv_forward_naive, ref.conv_backward_naive,
                  ref.max_pool_forward_naive, ref.max_pool_backward_naive),
        "im2col": (ref.conv_forward_im2col, ref.conv_backward_im2col,
                   ref.max_pool_forward_im2col, ref.max_pool_backward_im2col),
        "fast": (ref.conv_forward_fast, ref.conv_backward_fast,
                 ref.max_pool_forward_fast, ref.max_pool_backward_fast),
        "reshape": (None, None, ref.max_pool_forward_reshape, ref.max_pool_backward_reshape),
    }


def forward_backward(forward, backward, inputs):
    """A call of forward then backward (dout of ones) on ``inputs``."""
    dout = np.ones_like(forward(*inputs)[0])
    return lambda: backward(dout, forward(*inputs)[1])


def numpy_worker(reps, interleave):
    """Time every numpy variant; returns {key: ms}, machine info and GEMM GFLOP/s per dtype."""
    from threadpoolctl import threadpool_info, threadpool_limits
    threadpool_limits(THREADS)
    runs, scale = {}, {}
    for dtype in DTYPES:
        for variant, (conv_f, conv_b, pool_f, pool_b) in numpy_variants().items():
            batch = NAIVE_BATCH if variant == "naive" else None
            for case in list(CONV_CASES) + list(POOL_CASES):
                forward, backward = (conv_f, conv_b) if case in CONV_CASES else (pool_f, pool_b)
                if forward is None or (variant == "reshape" and POOL_CASES[case][1] != POOL_CASES[case][2]):
                    continue
                key = f"{dtype} {case} {variant}"
                runs[key] = (forward_backward(forward, backward, make_inputs(case, dtype, batch)), not batch)
                full = (CONV_CASES.get(case) or POOL_CASES[case])[0][0]
                scale[key] = full / (batch or full)
    times = {key: ms * scale[key] for key, ms in timed_ms(runs, reps, interleave).items()}
    gemm = {}
    for dtype in DTYPES:
        a = np.random.default_rng(1).standard_normal((2048, 2048)).astype(dtype)
        gemm[dtype] = 2 * 2048**3 / median_ms(lambda a=a: a @ a, 5) / 1e6
    blas = [{k: lib.get(k) for k in ("internal_api", "architecture", "version", "num_threads")}
            for lib in threadpool_info() if lib.get("user_api") == "blas"]
    return {"times": times, "gemm": gemm, "info": {"numpy": np.__version__, "blas": blas}}


def torch_forward_backward(torch, case, dtype):
    """A call of conv2d or max_pool2d forward then backward (dout of ones), as a training step
    runs it: the gradients of the previous call are dropped, not accumulated."""
    inputs = [torch.tensor(a, requires_grad=True) if isinstance(a, np.ndarray) else a
              for a in make_inputs(case, dtype)]
    *leaves, param = inputs
    if case in CONV_CASES:
        def forward():
            return torch.nn.functional.conv2d(*leaves, stride=param["stride"], padding=param["pad"])
    else:
        def forward():
            return torch.nn.functional.max_pool2d(*leaves, param["pool_height"], param["stride"])
    dout = torch.ones_like(forward())

    def run():
        for leaf in leaves:
            leaf.grad = None
        forward().backward(dout)
    return run


def torch_worker(reps, interleave):
    """Time PyTorch CPU conv2d / max_pool2d forward + backward; returns {key: ms} and info."""
    import torch
    torch.set_num_threads(THREADS)
    runs = {f"{dtype} {case} torch": (torch_forward_backward(torch, case, dtype), True)
            for dtype in DTYPES for case in list(CONV_CASES) + list(POOL_CASES)}
    info = {"torch": torch.__version__, "threads": torch.get_num_threads(),
            "mkldnn": torch.backends.mkldnn.is_available()}
    return {"times": timed_ms(runs, reps, interleave), "info": info}


def run_worker(kind, reps, interleave):
    """Run one worker in a fresh process and return its JSON answer."""
    env = dict(os.environ)
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        env.pop(name, None)
    command = [sys.executable, __file__, "--worker", kind, "--reps", str(reps)]
    result = subprocess.run(command + (["--interleave"] if interleave else []),
                            env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{kind} worker failed:\n{result.stderr}")
    return json.loads(result.stdout)


def collect(rounds, reps, interleave):
    """Alternate numpy and torch workers for ``rounds`` rounds.

    Returns ({key: [ms of round 1, round 2, ...]}, the last answer of each kind).
    """
    per_round, last, gemm = {}, {}, {}
    for r in range(rounds):
        order = ("numpy", "torch") if r % 2 == 0 else ("torch", "numpy")
        for kind in order:
            answer = run_worker(kind, reps, interleave)
            last[kind] = answer
            for key, ms in answer["times"].items():
                per_round.setdefault(key, []).append(ms)
            for dtype, gflops in answer.get("gemm", {}).items():
                gemm[dtype] = max(gemm.get(dtype, 0.0), gflops)
            print(f"  round {r + 1}/{rounds}: {kind} done", file=sys.stderr)
    last["numpy"]["gemm"] = gemm  # the best GEMM rate seen: the machine's, not a noisy moment's
    return per_round, last


def paired_ratio(times, base):
    """Median and quartiles of times[r] / base[r]: a ratio per round, numpy and torch timed
    back to back, so that a slow spell of the shared machine slows both sides of a ratio."""
    ratios = sorted(t / b for t, b in zip(times, base, strict=True))
    if len(ratios) < 2:
        return ratios[0], ratios[0], ratios[0]
    low, median, high = statistics.quantiles(ratios, n=4, method="inclusive")
    return median, low, high


def describe(case):
    if case in CONV_CASES:
        x, w, stride, pad = CONV_CASES[case]
        return f"conv x {x} w {w} stride {stride} pad {pad}"
    x, size, stride = POOL_CASES[case]
    return f"max pool {size}x{size}/{stride} x {x}"


def table(per_round, last, rounds, reps, interleave):
    """The report as markdown lines."""
    numpy_info, torch_info = last["numpy"]["info"], last["torch"]["info"]
    blas = ", ".join(f"{b['internal_api']} {b['version']} kernel {b['architecture']} "
                     f"{b['num_threads']} threads" for b in numpy_info["blas"])
    lines = [
        "# Layer benchmark: forward + backward, median ms, ratio to PyTorch CPU",
        "",
        f"numpy {numpy_info['numpy']} with {blas}; torch {torch_info['torch']} "
        f"({torch_info['threads']} threads, mkldnn {torch_info['mkldnn']}).",
        f"Separate processes, {rounds} alternating rounds x {reps} repetitions"
        + (" interleaved across cases" if interleave else " back to back") + "; ms is the median "
        "over rounds, x torch the median (and quartiles) of the ratios taken round by round. "
        f"naive runs on a batch of {NAIVE_BATCH}, its time scaled to the full batch. "
        "GEMM share = conv FLOPs / time / best GFLOP/s of a 2048^3 np.matmul in the same dtype "
        + "(" + ", ".join(f"{d} {g:.0f} GFLOP/s" for d, g in last["numpy"]["gemm"].items()) + ").",
        "",
        "| dtype | case | variant | ms | x torch | quartiles | GEMM share |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for dtype in DTYPES:
        for case in list(CONV_CASES) + list(POOL_CASES):
            base = per_round[f"{dtype} {case} torch"]
            for variant in ("naive", "im2col", "fast", "reshape", "torch"):
                times = per_round.get(f"{dtype} {case} {variant}")
                if times is None:
                    continue
                ms = statistics.median(times)
                ratio, low, high = paired_ratio(times, base)
                share = ""
                if case in CONV_CASES:
                    gflops = conv_flops(case) / ms / 1e6
                    share = f"{100 * gflops / last['numpy']['gemm'][dtype]:.0f}%"
                lines.append(f"| {dtype} | {case} | {variant} | {ms:.1f} | {ratio:.2f} | "
                             f"{low:.2f}-{high:.2f} | {share} |")
    lines += ["", "Cases:"] + [f"- {case}: {describe(case)}"
                               for case in list(CONV_CASES) + list(POOL_CASES)]
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds: a smoke test")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"markdown table (default {RESULTS})")
    parser.add_argument("--worker", choices=("numpy", "torch"), help=argparse.SUPPRESS)
    parser.add_argument("--interleave", action="store_true",
                        help="time every case once per repetition, each call after the other "
                             "layers' calls (as in a network), instead of back to back")
    parser.add_argument("--reps", type=int, default=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker = numpy_worker if args.worker == "numpy" else torch_worker
        print(json.dumps(worker(args.reps, args.interleave)))
        return
    rounds, reps = (2, 1) if args.quick else (8, 5)
    per_round, last = collect(rounds, reps, args.interleave)
    lines = table(per_round, last, rounds, reps, args.interleave)
    print("\n".join(lines))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines) + "\n")
    print(f"\nwritten to {args.output}")


if __name__ == "__main__":
    main()
