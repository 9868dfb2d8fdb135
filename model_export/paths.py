"""Where published versions live: the model base path and model name from the environment.

``MODEL_BASE_PATH`` and ``MODEL_NAME`` are read here and nowhere else in :mod:`model_export`,
with the same defaults the Makefile and TF Serving's launcher use. No TensorFlow import, so
tools that only need the location stay light.
"""

from __future__ import annotations

import os
from pathlib import Path

import contract

#: Environment variable naming the directory that holds one folder per model.
BASE_PATH_ENV = "MODEL_BASE_PATH"
#: Environment variable naming the model folder under the base path.
MODEL_NAME_ENV = "MODEL_NAME"
#: Base path when the environment names none.
DEFAULT_BASE_PATH = Path("models")


def model_base_path() -> Path:
    """The directory holding one folder per model (``MODEL_BASE_PATH``, default ``models``)."""
    return Path(os.environ.get(BASE_PATH_ENV, str(DEFAULT_BASE_PATH)))


def model_name() -> str:
    """The served model's folder name (``MODEL_NAME``, default the contract's model name)."""
    return os.environ.get(MODEL_NAME_ENV, contract.DEFAULT_MODEL_NAME)
