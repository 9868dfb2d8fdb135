"""Local model server that speaks TensorFlow Serving's gRPC API.

Run it as ``python -m serving --port 8500 --model_name deepfake --model_base_path models/deepfake``.
It loads versioned SavedModels the way ``tensorflow_model_server`` does (a TF1
session per version) and answers ``tensorflow_serving.apis`` requests with TF
Serving's semantics, so a client runs unchanged against either.
"""
