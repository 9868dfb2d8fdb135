"""Tensor work of server-side batching: batch sizes, merging inputs, splitting outputs.

Follows batching/batching_util.cc and batching_session.cc: inputs are
concatenated along dimension 0 (all inputs of a task must share it); with
``allowed_batch_sizes`` the batch is padded up to the next allowed size by
repeating the first row of the last task; tensors whose other dimensions differ
fail the whole batch unless ``pad_variable_length_inputs``, which pads them with
their own first element; outputs are split back along dimension 0, and an
output without it fails the batch. The scheduling is in ``batching``.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence

import grpc
import numpy as np

from .errors import ServingError, invalid_argument


def batch_size_of(inputs: Mapping[str, np.ndarray]) -> int:
    """ComputeTensorBatchSize: every input needs a dimension 0, and the same one."""
    sizes = set()
    for array in inputs.values():
        if array.ndim == 0:
            raise invalid_argument("Batching Run() input tensors must have at least one dimension")
        sizes.add(array.shape[0])
    if len(sizes) > 1:
        raise invalid_argument("Batching Run() input tensors must have equal 0th-dimension size")
    return sizes.pop() if sizes else 0


def merge_inputs(
    tasks: Sequence[Mapping[str, np.ndarray]],
    size: int,
    allowed_batch_sizes: Sequence[int],
    pad_variable_length_inputs: bool,
) -> tuple[dict[str, np.ndarray], int]:
    """MergeInputTensors: concatenate per input, pad to the next allowed size.

    ``size`` is the sum of the tasks' batch sizes. Returns the merged inputs and
    the batch size they were padded to.
    """
    padded_size = size
    if allowed_batch_sizes:
        padded_size = allowed_batch_sizes[bisect.bisect_left(allowed_batch_sizes, size)]
    merged: dict[str, np.ndarray] = {}
    for name in tasks[0]:
        parts = [inputs[name] for inputs in tasks]
        if pad_variable_length_inputs:
            parts = pad_to_common_shape(parts)
        elif any(p.shape[1:] != parts[0].shape[1:] for p in parts[1:]):
            raise ServingError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"Tensors with name '{name}' from different tasks have different shapes "
                "and padding is turned off.Set pad_variable_length_inputs to true, or "
                "ensure that all tensors with the same namehave equal dimensions starting "
                "with the first dim.",
            )
        if padded_size > size:
            last = parts[-1]
            parts.append(np.repeat(last[:1], padded_size - size, axis=0))
        merged[name] = np.concatenate(parts, axis=0)
    return merged, padded_size


def split_outputs(
    outputs: Mapping[str, np.ndarray], sizes: Sequence[int], padded: int
) -> list[dict[str, np.ndarray]]:
    """SplitOutputTensors: slice every output along dimension 0, one slice per task size."""
    for array in outputs.values():
        if array.ndim == 0:
            raise ServingError(
                grpc.StatusCode.FAILED_PRECONDITION, "Batched output tensor has 0 dimensions"
            )
        if array.shape[0] != padded:
            raise ServingError(
                grpc.StatusCode.FAILED_PRECONDITION,
                "Batched output tensor's 0th dimension does not equal the sum of the 0th "
                "dimension sizes of the input tensors",
            )
    slices = []
    offset = 0
    for size in sizes:
        slices.append({name: array[offset : offset + size] for name, array in outputs.items()})
        offset += size
    return slices


def pad_to_common_shape(parts: list[np.ndarray]) -> list[np.ndarray]:
    """AddPadding (batching_util.cc): pad every dim but 0 with the tensor's first element."""
    rank = parts[0].ndim
    if any(p.ndim != rank for p in parts):
        raise invalid_argument("Tensors in a batch must have the same rank")
    target = [max(p.shape[d] for p in parts) for d in range(rank)]
    out = []
    for part in parts:
        pads = [(0, 0)] + [(0, target[d] - part.shape[d]) for d in range(1, rank)]
        if all(after == 0 for _, after in pads):
            out.append(part)
            continue
        if part.size == 0:
            raise invalid_argument("Got empty tensor in batch of non-empty tensors.")
        out.append(np.pad(part, pads, mode="constant", constant_values=part.reshape(-1)[0]))
    return out
