"""The graded functions: one entry per name, saying how to draw cases, call and compare.

Adding a graded function is one ``Graded`` entry in ``GRADED``: a case drawer
from ``cases``, the arguments the student's function receives (backward
functions get the cache of the reference forward pass), the reference that
produces the expected values, the names of the returned values, and the
mistake family (see ``mistakes``) whose models diagnose wrong results.
"""

from dataclasses import dataclass, field
from functools import partial
from collections.abc import Callable

from cnn_utils import drivers, isolation
from cnn_utils import reference as ref
from cnn_utils.grading import cases, network
from cnn_utils.reference import nhwc

NHWC_NAMES = {"Z": "out", "dA_prev": "dx", "dW": "dw", "db": "db"}
HINT_VARIABLES = {"nchw": {"sum_axes": "(0, 2, 3)"}, "nhwc": {"sum_axes": "(0, 1, 2)"}}


@dataclass(frozen=True)
class Graded:
    """How one function is graded."""
    family: str                       # key of the mistake models that apply
    draw: Callable                    # (rng, k) -> canonical inputs of case k
    label: Callable                   # canonical inputs -> text for the feedback
    student_args: Callable            # canonical inputs -> positional arguments
    reference: Callable               # the reference function, called with the same arguments
    returns: tuple                    # names of the returned values; one name = a bare array
    compared: tuple                   # the returned values that are checked
    count: int = 20                   # cases per grade() call
    layout: str = "nchw"
    canonical: dict = field(default_factory=dict)  # returned name -> model output name
    wrap: Callable = None             # the student's object -> the function that is called
    cache_outputs: dict = field(default_factory=dict)  # compared name -> its index in the cache
    forbidden: tuple = ()             # loop versions switched off while this is graded (the method)
    calls: tuple = ()                 # graded functions of its notebook it may call: the reference's then
    keeps_dtype: bool = False         # float32 inputs must give float32 results (the lesson checks it)


def _conv_args(i):
    return i["x"], i["w"], i["b"], i["conv_param"]


def _backward_args(forward, make_forward_args):
    """Arguments (dout, cache) of a backward function, the cache from the reference forward."""
    return lambda i: (i["dout"], forward(*make_forward_args(i))[1])


def _pool_args(i):
    return i["x"], i["pool_param"]


def _im2col_args(i):
    return i["x"], i["field_height"], i["field_width"], i["padding"], i["stride"]


def _col2im_args(i):
    return i["cols"], i["x_shape"], i["field_height"], i["field_width"], i["padding"], i["stride"]


def _nhwc_args(i):
    """NCHW canonical inputs -> (A_prev, W, b, hparameters) of the Coursera layout."""
    x, w, b = i["x"], i["w"], i["b"]
    return (x.transpose(0, 2, 3, 1).copy(), w.transpose(2, 3, 1, 0).copy(),
            b.reshape(1, 1, 1, -1).copy(), dict(i["conv_param"]))


def _nhwc_dout_args(i):
    return (i["dout"].transpose(0, 2, 3, 1).copy(), nhwc.conv_forward(*_nhwc_args(i))[1])


_conv = partial(Graded, draw=cases.draw_conv, label=cases.label_conv)
_conv_plain = partial(Graded, draw=partial(cases.draw_conv, dilation=False), label=cases.label_conv)
_pool = partial(Graded, draw=cases.draw_pool, label=cases.label_pool)
_nhwc = partial(Graded, draw=partial(cases.draw_conv, dilation=False, square=True),
                label=cases.label_conv_nhwc, layout="nhwc", canonical=NHWC_NAMES, count=14)
_transpose = partial(Graded, draw=cases.draw_conv_transpose, label=cases.label_conv, count=16)
_FORWARD = ("out", "cache")
_CONV_GRADS = ("dx", "dw", "db")
_CONV_LOOPS = ("conv_forward_naive", "conv_backward_naive", "conv_backward_flipped")

GRADED = {
    "conv_forward_naive": _conv(
        family="conv_forward", student_args=_conv_args, reference=ref.conv_forward_naive,
        returns=_FORWARD, compared=("out",), keeps_dtype=True),
    "conv_backward_naive": _conv(
        family="conv_backward", student_args=_backward_args(ref.conv_forward_naive, _conv_args),
        reference=ref.conv_backward_naive, returns=_CONV_GRADS, compared=_CONV_GRADS),
    "conv_backward_flipped": _conv(
        family="conv_backward", student_args=_backward_args(ref.conv_forward_naive, _conv_args),
        reference=ref.conv_backward_flipped, returns=_CONV_GRADS, compared=_CONV_GRADS,
        forbidden=("conv_backward_naive",)),
    "max_pool_forward_naive": _pool(
        family="max_pool_forward", student_args=_pool_args, reference=ref.max_pool_forward_naive,
        returns=_FORWARD, compared=("out",)),
    "max_pool_backward_naive": _pool(
        family="max_pool_backward",
        student_args=_backward_args(ref.max_pool_forward_naive, _pool_args),
        reference=ref.max_pool_backward_naive, returns=("dx",), compared=("dx",),
        calls=("max_pool_forward_naive",)),
    "avg_pool_forward_naive": _pool(
        family="avg_pool_forward", student_args=_pool_args, reference=ref.avg_pool_forward_naive,
        returns=_FORWARD, compared=("out",)),
    "avg_pool_backward_naive": _pool(
        family="avg_pool_backward",
        student_args=_backward_args(ref.avg_pool_forward_naive, _pool_args),
        reference=ref.avg_pool_backward_naive, returns=("dx",), compared=("dx",),
        calls=("avg_pool_forward_naive",)),
    "im2col_indices": Graded(
        family="im2col", draw=cases.draw_im2col, label=cases.label_im2col,
        student_args=_im2col_args, reference=ref.im2col_indices, returns=("cols",),
        compared=("cols",), keeps_dtype=True),
    "col2im_indices": Graded(
        family="col2im", draw=cases.draw_col2im, label=cases.label_im2col,
        student_args=_col2im_args, reference=ref.col2im_indices, returns=("x",), compared=("x",)),
    "conv_forward_im2col": _conv_plain(
        family="conv_forward", student_args=_conv_args, reference=ref.conv_forward_im2col,
        returns=_FORWARD, compared=("out", "x_cols"), cache_outputs={"x_cols": 4},
        forbidden=_CONV_LOOPS, keeps_dtype=True, calls=("im2col_indices",)),
    "conv_backward_im2col": _conv_plain(
        family="conv_backward", student_args=_backward_args(ref.conv_forward_im2col, _conv_args),
        reference=ref.conv_backward_im2col, returns=_CONV_GRADS, compared=_CONV_GRADS,
        forbidden=_CONV_LOOPS, calls=("im2col_indices", "col2im_indices", "conv_forward_im2col")),
    "max_pool_backward_im2col": _pool(
        family="max_pool_backward",
        student_args=_backward_args(ref.max_pool_forward_im2col, _pool_args),
        reference=ref.max_pool_backward_im2col, returns=("dx",), compared=("dx",),
        forbidden=("max_pool_forward_naive", "max_pool_backward_naive"),
        calls=("im2col_indices", "col2im_indices")),
    "conv_transpose_forward": _transpose(
        family="conv_transpose_forward", student_args=_conv_args,
        reference=ref.conv_transpose_forward, returns=_FORWARD, compared=("out",), keeps_dtype=True),
    "conv_transpose_backward": _transpose(
        family="conv_transpose_backward",
        student_args=_backward_args(ref.conv_transpose_forward, _conv_args),
        reference=ref.conv_transpose_backward, returns=_CONV_GRADS, compared=_CONV_GRADS,
        calls=("conv_transpose_forward",)),
    "nhwc.conv_forward": _nhwc(
        family="conv_forward", student_args=_nhwc_args, reference=nhwc.conv_forward,
        returns=("Z", "cache"), compared=("Z",)),
    "nhwc.conv_backward": _nhwc(
        family="conv_backward", student_args=_nhwc_dout_args, reference=nhwc.conv_backward,
        returns=("dA_prev", "dW", "db"), compared=("dA_prev", "dW", "db"),
        calls=("conv_backward_naive", "nhwc.conv_forward")),
    "conv_relu_pool_forward": Graded(
        family="conv_relu_pool_forward", draw=cases.draw_conv_relu_pool,
        label=cases.label_conv_relu_pool, student_args=network.sandwich_args,
        reference=ref.conv_relu_pool_forward, returns=_FORWARD, compared=("out",), count=16),
    "conv_relu_pool_backward": Graded(
        family="conv_relu_pool_backward", draw=cases.draw_conv_relu_pool,
        label=cases.label_conv_relu_pool, student_args=network.sandwich_backward_args,
        reference=network.sandwich_backward_reference, returns=_CONV_GRADS, compared=_CONV_GRADS,
        count=16, wrap=drivers.through_own_forward, calls=("conv_relu_pool_forward",)),
    "ThreeLayerConvNet": Graded(
        family="ThreeLayerConvNet", draw=cases.draw_convnet, label=cases.label_convnet,
        student_args=network.convnet_args,
        reference=drivers.convnet_driver(ref.ThreeLayerConvNet),
        returns=drivers.CONVNET_OUTPUTS, compared=drivers.CONVNET_OUTPUTS, count=12,
        wrap=drivers.convnet_driver, calls=("conv_relu_pool_forward", "conv_relu_pool_backward")),
}


# The graded functions of each assignment, in course order.
ASSIGNMENTS = {
    "a1_conv_forward": ("conv_forward_naive",),
    "a2_conv_backward": ("conv_backward_naive", "conv_backward_flipped", "nhwc.conv_forward",
                         "nhwc.conv_backward"),
    "a3_pooling": ("max_pool_forward_naive", "max_pool_backward_naive", "avg_pool_forward_naive",
                   "avg_pool_backward_naive"),
    "a4_im2col": ("im2col_indices", "col2im_indices", "conv_forward_im2col", "conv_backward_im2col",
                  "max_pool_backward_im2col"),
    "a5_small_cnn": ("conv_relu_pool_forward", "conv_relu_pool_backward", "ThreeLayerConvNet"),
    "a6_transposed_dilated": ("conv_transpose_forward", "conv_transpose_backward"),
}
# The earlier assignments' functions each notebook brings along (pasted in its "earlier
# assignments" cell) and its graded functions call: while those are graded, these names are the
# reference's, so a bug is charged once, in its own assignment.
PRIOR = {
    "a2_conv_backward": ("conv_forward_naive",),
    "a5_small_cnn": ("im2col_indices", "col2im_indices", "conv_forward_im2col", "conv_backward_im2col",
                     "max_pool_forward_im2col", "max_pool_backward_im2col"),
    "a6_transposed_dilated": ("conv_forward_naive", "col2im_indices"),
}


def assignment_of(name):
    """The assignment whose notebook grades ``name``."""
    return next(assignment for assignment, names in ASSIGNMENTS.items() if name in names)


def notebook_name(name):
    """The name a graded or PRIOR function has in its notebook ('nhwc.conv_forward': conv_forward)."""
    return name.rpartition(".")[2]


def _reference_object(name):
    module, _, attribute = name.rpartition(".")
    return getattr(nhwc if module == "nhwc" else ref, attribute)


def callees(name):
    """{notebook name: reference function} the notebook's names resolve to while ``name`` is graded,
    so that a bug is charged once, in its own function: the earlier assignments' functions its
    notebook brings along (PRIOR) and the graded functions of its own notebook the lesson has it
    call (``Graded.calls``: never a sibling that solves the same problem another way). Never
    ``name`` itself, a loop version its method replaces (``forbidden``), or a class."""
    spec = lookup(name)
    skip = {notebook_name(name), *spec.forbidden}
    found = {}
    for callee in (*PRIOR.get(assignment_of(name), ()), *spec.calls):
        target = _reference_object(callee)
        if notebook_name(callee) not in skip and not isinstance(target, type):
            found[notebook_name(callee)] = target
    return found


def oracle_modules(assignment):
    """{notebook name: module of cnn_utils.reference defining it} for every function the graded
    functions of ``assignment`` may call as the reference (``callees``): what the re-check's oracle serves."""
    return {callee: target.__module__ for name in ASSIGNMENTS[assignment]
            for callee, target in callees(name).items()}


def replacements(name):
    """{notebook name: object} bound while ``name`` is graded: the reference for the functions of
    ``callees``, a raising stand-in for the loop versions the method replaces."""
    found = callees(name)
    found.update({loop: isolation.forbidden(loop, name) for loop in lookup(name).forbidden})
    return found


def lookup(name):
    """The ``Graded`` entry of ``name``; ValueError listing the known names otherwise."""
    if name not in GRADED:
        known = ", ".join(sorted(GRADED))
        raise ValueError(f"unknown graded function {name!r}; known names: {known}")
    return GRADED[name]


def to_layout(spec, name, array):
    """A mistake model's canonical NCHW output, in the layout of the student's returned ``name``."""
    if spec.layout == "nhwc" and array.ndim == 4:
        return array.transpose(2, 3, 1, 0) if name == "dW" else array.transpose(0, 2, 3, 1)
    return array
