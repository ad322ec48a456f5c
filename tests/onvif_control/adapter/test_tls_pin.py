"""Certificate pinning of https cameras (docs/design/security.md, "Camera certificates"):
the simulator behind TLS with a self-signed certificate made here, then an impostor with
another certificate on the same address. What the impostor received is the proof: the
camera's username and password digest must never reach it, on the zeep path nor on the
lean GetStatus path, and the refusal names both fingerprints."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from onvif_control.adapter.device import OnvifDevice
from onvif_control.simulator import SimulatedCamera
from tests.onvif_control.conftest import SIM_PASSWORD, SIM_USER
from tests.onvif_control.tls_peers import Impostor, SelfSigned, port_of, tls_camera
from vms.errors import FailedPrecondition

pytestmark = pytest.mark.timeout(60)


async def _impostor_takes(
    cam: SimulatedCamera, cert: SelfSigned, folder: Path
) -> tuple[Impostor, int]:
    """Stop the genuine camera and put the impostor on its address; give the client's
    loop a moment to see its pooled connections closed."""
    port = port_of(cam.onvif_url)
    await asyncio.to_thread(cam.stop)
    impostor = Impostor(port, cert.server_context(folder))
    await asyncio.sleep(0.3)
    return impostor, port


async def _closed(device: OnvifDevice) -> None:
    """Close ``device`` and let the loop finish the TLS shutdowns of connections refused
    after their handshake (asyncio.run closes the loop at once: an unclosed transport)."""
    await device.close()
    await asyncio.sleep(0.2)


async def _status_then_impostor(
    device: OnvifDevice, cam: SimulatedCamera, cert: SelfSigned, folder: Path
) -> tuple[Impostor, bool | None, Exception | None]:
    """GetStatus of the genuine camera, then of the impostor that took its address: the
    impostor, whether the lean path answered the first, and what the second raised."""
    try:
        await device.status("profile_1")
        fast = device._fast_status
        impostor, _ = await _impostor_takes(cam, cert, folder)
        try:
            await device.status("profile_1")
        except Exception as exc:  # asserted by the caller
            return impostor, fast, exc
        return impostor, fast, None
    finally:
        await _closed(device)


def _refused(exc: FailedPrecondition, genuine: SelfSigned, impostor: SelfSigned) -> None:
    assert (
        f"certificate changed: expected {genuine.fingerprint}, got {impostor.fingerprint}"
        in exc.message
    ), exc.message


def test_tls_simulator_serves_onvif_over_https(tls_sim: SimulatedCamera):
    assert tls_sim.onvif_url.startswith("https://127.0.0.1:")


def test_zeep_path_refuses_an_impostor_before_any_credential(tls_sim, certs, tmp_path):
    """A device that spoke to the genuine camera, then finds another certificate on the
    same address: the zeep request is refused after the handshake, before it is written
    (the impostor received nothing), naming both fingerprints (FailedPrecondition)."""
    genuine, other = certs
    device = OnvifDevice(tls_sim.onvif_url, SIM_USER, SIM_PASSWORD, label="tls-cam", timeout=5)

    async def go() -> tuple[Impostor, Exception | None]:
        try:
            await device.connect()
            impostor, _ = await _impostor_takes(tls_sim, other, tmp_path)
            try:
                await device.connect()
            except Exception as exc:  # asserted below
                return impostor, exc
            return impostor, None
        finally:
            await _closed(device)

    impostor, error = asyncio.run(go())
    try:
        assert impostor.handshakes >= 1  # the client did reach it
        assert impostor.received == b"", impostor.received[:300]
        assert isinstance(error, FailedPrecondition), repr(error)
        _refused(error, genuine, other)
        # Trust on first use: the genuine certificate was learned before anything was sent.
        assert device.tls_pin == bytes.fromhex(genuine.fingerprint.replace(":", ""))
    finally:
        impostor.close()


def test_lean_status_path_refuses_an_impostor_before_any_credential(tls_sim, certs, tmp_path):
    """The pose tracker's lean GetStatus on a pinned https camera: it works on the
    genuine self-signed certificate (it used to fail its verification and hand the call
    to zeep, which verified nothing), and an impostor gets no request (INV-5: no false
    poses from it either)."""
    genuine, other = certs
    device = OnvifDevice(tls_sim.onvif_url, SIM_USER, SIM_PASSWORD, label="tls-cam", timeout=5)

    impostor, fast, error = asyncio.run(_status_then_impostor(device, tls_sim, other, tmp_path))
    try:
        assert impostor.received == b"", impostor.received[:300]
        assert isinstance(error, FailedPrecondition), repr(error)
        _refused(error, genuine, other)
        assert fast is True  # the lean path, not zeep, answered the genuine camera
    finally:
        impostor.close()


def test_a_given_pin_refuses_another_certificate_at_first_contact(tls_sim, certs):
    """An expected fingerprint the admin supplies (or the stored pin) is checked on the
    very first connection: the genuine simulator presents another certificate than the
    pin, so nothing is sent to it."""
    genuine, other = certs
    device = OnvifDevice(
        tls_sim.onvif_url,
        SIM_USER,
        SIM_PASSWORD,
        label="tls-cam",
        timeout=5,
        tls_pin=bytes.fromhex(other.fingerprint.replace(":", "")),
    )

    async def go() -> None:
        try:
            await device.describe()
        finally:
            await _closed(device)

    with pytest.raises(FailedPrecondition) as caught:
        asyncio.run(go())
    _refused(caught.value, other, genuine)


def test_the_right_pin_is_accepted(tls_sim, certs):
    genuine, _ = certs
    pin = bytes.fromhex(genuine.fingerprint.replace(":", ""))
    device = OnvifDevice(
        tls_sim.onvif_url, SIM_USER, SIM_PASSWORD, label="tls-cam", timeout=5, tls_pin=pin
    )

    async def go() -> str:
        try:
            d = await device.describe()
            return d.main_profile
        finally:
            await _closed(device)

    assert asyncio.run(go()) == "profile_1"
    assert device.tls_pin == pin


def test_a_ca_bundle_verifies_both_paths_instead_of_a_pin(certs, tmp_path):
    """A camera whose certificate an agency CA issued, verified by that CA bundle: the
    lean GetStatus works on it (no fall back to zeep), and an impostor's self-signed
    certificate is refused on it with nothing received (CertificateUntrusted)."""
    from tests.onvif_control.tls_peers import ca_and_leaf

    ca, leaf = ca_and_leaf("camera-by-ca")
    cam = tls_camera(leaf, tmp_path)
    device = OnvifDevice(
        cam.onvif_url,
        SIM_USER,
        SIM_PASSWORD,
        label="ca-cam",
        timeout=5,
        tls_ca=ca.cert_pem.decode(),
    )

    try:
        impostor, fast, error = asyncio.run(_status_then_impostor(device, cam, certs[1], tmp_path))
    finally:
        cam.stop()
    try:
        assert impostor.received == b"", impostor.received[:300]
        assert isinstance(error, FailedPrecondition), repr(error)
        assert "certificate not trusted by the camera's CA bundle" in error.message
        assert fast is True and device.tls_pin is None
    finally:
        impostor.close()
