"""ONVIF Media service (ver10) operations: one H.264 profile with a PTZ configuration."""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from onvif_control.simulator.onvif_common import (
    VIDEO_ENCODER_CONFIG_TOKEN,
    VIDEO_SOURCE_CONFIG_TOKEN,
    VIDEO_SOURCE_TOKEN,
    OnvifContext,
    child,
    child_text,
    required_text,
)
from onvif_control.simulator.onvif_ptz import ptz_configuration_xml
from onvif_control.simulator.soap import attr, receiver_fault, sender_fault, text


def media_service_capabilities() -> str:
    """``trt:Capabilities`` of the media service (for GetServices)."""
    return (
        '<trt:Capabilities SnapshotUri="true" Rotation="false">'
        '<trt:ProfileCapabilities MaximumNumberOfProfiles="1"/>'
        '<trt:StreamingCapabilities RTPMulticast="false" RTP_TCP="true" RTP_RTSP_TCP="true" '
        'NonAggregateControl="false" NoRTSPStreaming="false"/>'
        "</trt:Capabilities>"
    )


def _video_source_configuration(ctx: OnvifContext, tag: str) -> str:
    width, height = ctx.size
    return (
        f'<{tag} token="{VIDEO_SOURCE_CONFIG_TOKEN}"><tt:Name>VideoSourceConfig</tt:Name>'
        f"<tt:UseCount>1</tt:UseCount><tt:SourceToken>{VIDEO_SOURCE_TOKEN}</tt:SourceToken>"
        f'<tt:Bounds x="0" y="0" width="{width}" height="{height}"/></{tag}>'
    )


def video_encoder_configuration(ctx: OnvifContext, tag: str) -> str:
    """The single H.264 encoder configuration as element ``tag``."""
    width, height = ctx.size
    return (
        f'<{tag} token="{VIDEO_ENCODER_CONFIG_TOKEN}"><tt:Name>H264</tt:Name>'
        "<tt:UseCount>1</tt:UseCount><tt:Encoding>H264</tt:Encoding>"
        f"<tt:Resolution><tt:Width>{width}</tt:Width><tt:Height>{height}</tt:Height>"
        "</tt:Resolution><tt:Quality>5</tt:Quality>"
        f"<tt:RateControl><tt:FrameRateLimit>{ctx.fps}</tt:FrameRateLimit>"
        "<tt:EncodingInterval>1</tt:EncodingInterval><tt:BitrateLimit>4096</tt:BitrateLimit>"
        "</tt:RateControl>"
        f"<tt:H264><tt:GovLength>{ctx.gop}</tt:GovLength><tt:H264Profile>Baseline</tt:H264Profile>"
        "</tt:H264>"
        "<tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type>"
        "<tt:IPv4Address>0.0.0.0</tt:IPv4Address></tt:Address><tt:Port>0</tt:Port>"
        "<tt:TTL>0</tt:TTL><tt:AutoStart>false</tt:AutoStart></tt:Multicast>"
        f"<tt:SessionTimeout>PT60S</tt:SessionTimeout></{tag}>"
    )


def _profile(ctx: OnvifContext, tag: str) -> str:
    return (
        f'<{tag} token="{attr(ctx.profile_token)}" fixed="true"><tt:Name>MainStream</tt:Name>'
        + _video_source_configuration(ctx, "tt:VideoSourceConfiguration")
        + video_encoder_configuration(ctx, "tt:VideoEncoderConfiguration")
        + ptz_configuration_xml(ctx, "tt:PTZConfiguration")
        + f"</{tag}>"
    )


def check_profile(ctx: OnvifContext, body: etree._Element) -> None:
    """Fault ``ter:InvalidArgVal/ter:NoProfile`` unless ProfileToken names our profile."""
    token = required_text(body, "ProfileToken")
    if token != ctx.profile_token:
        raise sender_fault(f"no profile with token {token!r}", "InvalidArgVal", "NoProfile")


def get_profiles(ctx: OnvifContext, _: etree._Element) -> str:
    """The one media profile, with video source, encoder and PTZ configurations."""
    return f"<trt:GetProfilesResponse>{_profile(ctx, 'trt:Profiles')}</trt:GetProfilesResponse>"


def get_profile(ctx: OnvifContext, body: etree._Element) -> str:
    """The profile named by ProfileToken."""
    check_profile(ctx, body)
    return f"<trt:GetProfileResponse>{_profile(ctx, 'trt:Profile')}</trt:GetProfileResponse>"


def get_video_sources(ctx: OnvifContext, _: etree._Element) -> str:
    """The one video source."""
    width, height = ctx.size
    return (
        f'<trt:GetVideoSourcesResponse><trt:VideoSources token="{VIDEO_SOURCE_TOKEN}">'
        f"<tt:Framerate>{ctx.fps}</tt:Framerate><tt:Resolution><tt:Width>{width}</tt:Width>"
        f"<tt:Height>{height}</tt:Height></tt:Resolution></trt:VideoSources>"
        "</trt:GetVideoSourcesResponse>"
    )


def get_video_encoder_configurations(ctx: OnvifContext, _: etree._Element) -> str:
    """The one encoder configuration."""
    config = video_encoder_configuration(ctx, "trt:Configurations")
    return (
        "<trt:GetVideoEncoderConfigurationsResponse>"
        f"{config}</trt:GetVideoEncoderConfigurationsResponse>"
    )


def _media_uri(tag: str, uri: str) -> str:
    return (
        f"<{tag}><trt:MediaUri><tt:Uri>{text(uri)}</tt:Uri>"
        "<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>"
        "<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout>"
        f"</trt:MediaUri></{tag}>"
    )


def get_stream_uri(ctx: OnvifContext, body: etree._Element) -> str:
    """The RTSP URI for RTP-Unicast over RTSP/UDP/TCP; other setups fault."""
    check_profile(ctx, body)
    setup = child(body, "StreamSetup")
    if setup is None:
        raise sender_fault("missing StreamSetup", "InvalidArgVal")
    stream = child_text(setup, "Stream")
    transport = child(setup, "Transport")
    protocol = child_text(transport, "Protocol") if transport is not None else None
    if stream not in ("RTP-Unicast", None):
        raise sender_fault(
            f"stream type {stream!r} is not supported (RTP-Unicast only)",
            "InvalidArgVal",
            "InvalidStreamSetup",
        )
    if protocol not in ("RTSP", "UDP", "TCP", None):
        raise sender_fault(
            f"transport {protocol!r} is not supported (RTSP, UDP or TCP)",
            "InvalidArgVal",
            "InvalidStreamSetup",
        )
    return _media_uri("trt:GetStreamUriResponse", ctx.stream_uri or ctx.rtsp_url)


def get_snapshot_uri(ctx: OnvifContext, body: etree._Element) -> str:
    """The HTTP URI returning a JPEG of the current view (Digest or Basic auth)."""
    check_profile(ctx, body)
    return _media_uri("trt:GetSnapshotUriResponse", ctx.snapshot_url)


def set_synchronization_point(ctx: OnvifContext, body: etree._Element) -> str:
    """Make the next frame of the profile's stream an IDR (a viewer is joining: it need
    not wait for the next GOP). A camera built without it faults ActionNotSupported, as
    an unknown operation does."""
    if ctx.synchronization_point is None:
        raise receiver_fault(
            "operation SetSynchronizationPoint is not supported", "ActionNotSupported"
        )
    check_profile(ctx, body)
    ctx.synchronization_point()
    return "<trt:SetSynchronizationPointResponse/>"


Handler = Callable[[OnvifContext, etree._Element], str]


def get_service_capabilities(_ctx: OnvifContext, _: etree._Element) -> str:
    """The media service's capabilities (PRE_AUTH: answered without credentials)."""
    return (
        "<trt:GetServiceCapabilitiesResponse>"
        + media_service_capabilities()
        + "</trt:GetServiceCapabilitiesResponse>"
    )


HANDLERS: dict[str, Handler] = {
    "GetServiceCapabilities": get_service_capabilities,
    "GetProfiles": get_profiles,
    "GetProfile": get_profile,
    "GetVideoSources": get_video_sources,
    "GetVideoEncoderConfigurations": get_video_encoder_configurations,
    "GetStreamUri": get_stream_uri,
    "GetSnapshotUri": get_snapshot_uri,
    "SetSynchronizationPoint": set_synchronization_point,
}
