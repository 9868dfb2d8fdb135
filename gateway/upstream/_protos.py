"""Import TF Serving's generated protos without the TensorFlow runtime.

``tensorflow_serving.apis`` imports its message types from
``tensorflow.core.framework``; importing those the normal way runs
``tensorflow/__init__.py`` and loads the whole runtime (seconds and ~600 MB of
RSS).  The gateway only needs the generated ``*_pb2`` modules, so its process
entry point registers ``tensorflow`` as a bare namespace over the installed
package folder before anything imports the protos.  In the slim container image
that folder holds only the generated modules, which is the same situation.
"""

from __future__ import annotations

import importlib.util
import sys
import types


def use_protos_without_tensorflow_runtime() -> bool:
    """Make ``import tensorflow.core...`` load generated modules only.

    Call it once, first thing in the gateway process.  Does nothing (returns False)
    when TensorFlow is already imported or not installed.
    """
    if "tensorflow" in sys.modules:
        return False
    spec = importlib.util.find_spec("tensorflow")
    if spec is None or not spec.submodule_search_locations:
        return False
    namespace = types.ModuleType("tensorflow")
    namespace.__path__ = list(spec.submodule_search_locations)
    namespace.__doc__ = "Generated protos only (see gateway.upstream._protos)."
    sys.modules["tensorflow"] = namespace
    return True
