"""The media adapter: the one place PyAV (``av``, FFmpeg) is imported (ARCHITECTURE 2,
docs/design/dependencies.md).

- :mod:`vms.media.probe`: what a stored file is (the ingest path's probe, INV-1);
- :mod:`vms.media.stream`: RTSP input, :class:`~vms.media.stream.StreamInfo`,
  :class:`~vms.media.stream.RawPacket`;
- :mod:`vms.media.codec`: H.264 decode/encode, JPEG stills, blank frames;
- :mod:`vms.media.mp4`: MP4 segment muxing and the salvage remux;
- :mod:`vms.media.clip`: clips cut from stored segments by wall-clock time (exports);
- :mod:`vms.media.transcode`: a stored video decoded frame by frame (detection samples)
  and encoded anew with its frames painted and audio ranges muted (redaction);
- :mod:`vms.media.errors`: the one translation of FFmpeg errors into our kinds.

Every ``av`` error leaves as a kind of :mod:`vms.errors` (``Unavailable``, ``DataLoss``,
``FailedPrecondition``, ``InvalidArgument``); no other module of the six packages
imports ``av`` (``tests/test_dependency_rule.py``), except the camera simulator's own
encoder, an independent test peer.
"""
