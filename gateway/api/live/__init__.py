"""Live analysis: ``/v1/live``, a WebSocket that scores frames as they come (docs/live.md).

A client sends still images, or the chunks of one video stream, under credit the server
grants; each batch is scored through the upload's path (the image reader, the frame rule,
the same pinned version, the keyframe schedule, ``read_frames``) and a rolling window of
the scored frames is decided by ``contract.aggregation.decide`` at least once a second; the
summary carries a receipt signed as ``/v1/detect``'s.

Why under the HTTP edge and not a room of its own: the WebSocket is in three of its
modules, not one (``route`` takes it, ``session`` reads from it, ``channel`` sends on it),
so a ``live`` room beside ``api`` would either import Starlette below the edge or wrap the
socket in a protocol of its own for no other user. Here it is one floor with the rest of
the edge: its modules import the pipeline, the upstream and the ground floor (and
:mod:`gateway.api.auth`), and nothing below the edge imports them, so no arrow points up.

Modules, one line each:

- ``route``: the WebSocket route: the key (subprotocol or hello), the hello, streams per key
- ``protocol``: the messages as pydantic models, the client text parser and the close codes
- ``session``: one session's tasks: receiver, scorer, ticker (and the stream decoder)
- ``channel``: serialised sends with a deadline, and :class:`Close`, how a session ends
- ``credit``: credit granted and in hand, paced to the frame rate, and the overrun
- ``frames``: binary messages to upright RGB frames: images, or a stream through a bounded pipe
- ``scoring``: the version a session is pinned to, and one batch of its frames scored
- ``window``: the scored frames, stable track ids, and the ``verdict`` message
- ``summary``: the whole stream's ``summary`` and its signed receipt
"""
