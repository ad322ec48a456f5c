"""Every log record of the process, ours or a library's, loses its URL passwords
(#10.11)."""

from __future__ import annotations

import logging

from vms.logs import install_redaction


def test_records_of_any_logger_are_redacted_with_their_tracebacks(caplog):
    install_redaction()
    install_redaction()  # idempotent: one wrapper, not two
    factory = logging.getLogRecordFactory()
    assert not isinstance(getattr(factory, "inner", None), type(factory))
    caplog.set_level(logging.DEBUG)
    # What zeep logs at DEBUG: a whole reply, as bytes.
    logging.getLogger("zeep.transport").debug(
        "HTTP Response from %s (status: %d):\n%s",
        "http://cam/onvif/media_service",
        200,
        b"<tt:Uri>rtsp://admin:pw-secret@cam:554/1</tt:Uri>",
    )
    try:
        raise ConnectionError("cannot open 'rtsp://admin:pw-secret@cam:554/1'")
    except ConnectionError:
        logging.getLogger("some.library").exception("stream failed")
    logging.getLogger("vms.test").info("nothing secret at %s", "http://cam/onvif")
    assert "pw-secret" not in caplog.text
    reply, failure, plain = caplog.records
    assert "rtsp://admin:***@cam:554/1" in reply.getMessage()
    assert "ConnectionError: cannot open 'rtsp://admin:***@cam:554/1'" in (failure.exc_text or "")
    assert plain.getMessage() == "nothing secret at http://cam/onvif" and plain.exc_text is None
