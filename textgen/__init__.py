"""textgen: train, score and sample small text-generation models.

Importing the package is cheap: Keras and TensorFlow load only when a model
is needed (``load_run``, training), so pages that only read run folders stay fast.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow start-up noise out of the output

from textgen.errors import TextgenError  # noqa: E402

__version__ = "0.1.0"
__all__ = ["TextgenError", "load_run", "Run", "__version__"]


def load_run(path):
    """Load a finished (or still training) run folder for sampling and scoring."""
    from textgen.inference import load_run as _load_run
    return _load_run(path)


def __getattr__(name):
    if name == "Run":
        from textgen.inference import Run
        return Run
    raise AttributeError(name)
