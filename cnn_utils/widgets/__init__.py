"""Interactive explorers of convolution and pooling (ipywidgets 8, JupyterLab, Voila).

They compute index maps only (which cells a window covers, where a gradient goes),
never numeric convolution or backprop. Displayed, an explorer also carries a PNG of its
state (``picture.py``, with Pillow) for nbconvert, GitHub and PDF.
``cnn_utils.widgets.indexmaps`` needs only numpy; ipywidgets is imported when an explorer
is first asked for:

    from cnn_utils.widgets import ConvExplorer
    ConvExplorer(stride=2, pad=1)
"""

import importlib

_VIEWS = {"ConvExplorer": "conv", "BackwardExplorer": "conv",
          "Im2colExplorer": "im2col", "PoolExplorer": "pool"}

__all__ = sorted(_VIEWS)


def __getattr__(name):
    if name not in _VIEWS:
        raise AttributeError(f"module 'cnn_utils.widgets' has no attribute {name!r}")
    try:
        module = importlib.import_module(f"cnn_utils.widgets.{_VIEWS[name]}")
    except ModuleNotFoundError as exc:
        if exc.name != "ipywidgets":
            raise
        raise ImportError(f"{name} needs ipywidgets 8: pip install 'ipywidgets>=8,<9'") from exc
    return getattr(module, name)
