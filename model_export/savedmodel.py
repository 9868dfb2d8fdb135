"""Load an exported version the way TF Serving does and run it.

TF Serving restores a version through a TF1 session: import the MetaGraph tagged
``serve``, run its restore op, then its init op (tensorflow_serving/servables/tensorflow/
saved_model_bundle_factory.cc -> tensorflow/cc/saved_model/loader.cc). Checking exports
this way catches models that only ``tf.saved_model.load`` could run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

import contract
from model_export.warmup import read_warmup


@dataclass
class LoadedVersion:
    """A version restored into its own TF1 session."""

    path: Path
    session: tf.compat.v1.Session
    signatures: Mapping[str, tf.compat.v1.MetaGraphDef]

    def run(
        self, inputs: Mapping[str, np.ndarray], signature: str = contract.SERVING_SIGNATURE
    ) -> dict[str, np.ndarray]:
        """Run ``signature`` on named numpy inputs and return its named outputs."""
        sig = self.signatures[signature]
        feeds = {sig.inputs[key].name: value for key, value in inputs.items()}
        fetches = {key: info.name for key, info in sig.outputs.items()}
        return self.session.run(fetches, feeds)

    def threshold(self) -> float:
        """The decision threshold shipped with the version."""
        frame = np.zeros([1, 8, 8, 3], np.uint8)
        return float(np.ravel(self.run({contract.FRAMES_INPUT: frame})[contract.THRESHOLD])[0])

    def frame_min_side(self) -> int:
        """The shorter frame side the version asks for in ``model_info`` (0: none, or no
        ``model_info``), as the gateway reads it to size the frames it sends."""
        if contract.MODEL_INFO_SIGNATURE not in self.signatures:
            return 0
        frame = np.zeros([1, 1, 1, 3], np.uint8)
        out = self.run({contract.FRAMES_INPUT: frame}, contract.MODEL_INFO_SIGNATURE)
        if contract.FRAME_MIN_SIDE not in out:
            return 0
        return max(0, int(np.ravel(out[contract.FRAME_MIN_SIDE])[0]))

    def replay_warmup(self) -> int:
        """Replay the version's warmup records; return how many ran."""
        count = 0
        for record in read_warmup(self.path / contract.WARMUP_RELATIVE_PATH):
            request = record.predict_log.request
            signature = request.model_spec.signature_name or contract.SERVING_SIGNATURE
            inputs = {key: tf.make_ndarray(proto) for key, proto in request.inputs.items()}
            outputs = self.run(inputs, signature)
            numeric = [v for v in outputs.values() if np.issubdtype(v.dtype, np.number)]
            if not all(np.all(np.isfinite(v)) for v in numeric):
                raise ValueError(f"warmup record {count} produced non-finite outputs")
            count += 1
        return count

    def close(self) -> None:
        """Release the session."""
        self.session.close()

    def __enter__(self) -> LoadedVersion:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load_version(path: Path) -> LoadedVersion:
    """Restore the SavedModel at ``path`` into a fresh TF1 session."""
    graph = tf.Graph()
    session = tf.compat.v1.Session(graph=graph)
    try:
        with graph.as_default():
            meta = tf.compat.v1.saved_model.loader.load(
                session, [tf.compat.v1.saved_model.tag_constants.SERVING], str(path)
            )
    except BaseException:
        session.close()
        raise
    return LoadedVersion(Path(path), session, dict(meta.signature_def))
