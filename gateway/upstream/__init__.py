"""The only way to Serving: the gRPC client, its channels and errors, and what Serving answers.

The first floor above the ground: it imports only the ground floor (settings, errors) and
:mod:`contract`, and everything above reaches Serving through it.

Modules, one line each:

- ``serving_client``: every call to Serving over TF Serving's gRPC API, with its retries
- ``serving_channels``: the gRPC channels to Serving, their options and TLS
- ``serving_rpc_errors``: Serving's gRPC failures as domain errors with fixed messages
- ``serving_types``: plain types of which model to ask and what Serving answered
- ``description``: a version's ``model_info`` answer read into its description, and the
  threshold each answer ships
- ``tensors``: TensorProto to numpy and back without TensorFlow
- ``_protos``: TF Serving's generated protos imported without the TensorFlow runtime
"""
