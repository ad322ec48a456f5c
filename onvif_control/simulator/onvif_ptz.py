"""ONVIF PTZ service (ver20) operations, in the generic spaces.

Generic pan/tilt positions (-1..1) and zoom (0..1) map linearly to degrees by the
camera's calibration; translations use the same scale as positions; velocities and
speeds are fractions of the maximum speed. Faults follow the ONVIF PTZ specification.
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from onvif_control.simulator.calibration import Pose
from onvif_control.simulator.motion import MotionStatus, Speed
from onvif_control.simulator.onvif_common import (
    DEFAULT_PTZ_TIMEOUT,
    MAX_PTZ_TIMEOUT,
    PT_POSITION,
    PT_SPEED,
    PT_TRANSLATION,
    PT_VELOCITY,
    PTZ_CONFIG_TOKEN,
    PTZ_NODE_TOKEN,
    Z_POSITION,
    Z_SPEED,
    Z_TRANSLATION,
    Z_VELOCITY,
    OnvifContext,
    check_space,
    child,
    child_text,
    duration,
    float_attr,
    parse_bool,
    parse_duration,
    required_text,
    utc_text,
)
from onvif_control.simulator.ptz_unit import MAX_PRESETS, PresetError
from onvif_control.simulator.soap import attr, sender_fault, text


def ptz_service_capabilities() -> str:
    """``tptz:Capabilities`` of the PTZ service (for GetServices)."""
    return (
        '<tptz:Capabilities EFlip="false" Reverse="false" MoveStatus="true" StatusPosition="true"/>'
    )


def _range(lo: float, hi: float) -> str:
    return f"<tt:Min>{lo:g}</tt:Min><tt:Max>{hi:g}</tt:Max>"


def _space2d(tag: str, uri: str, lo: float = -1.0, hi: float = 1.0) -> str:
    ranges = f"<tt:XRange>{_range(lo, hi)}</tt:XRange><tt:YRange>{_range(lo, hi)}</tt:YRange>"
    return f"<{tag}><tt:URI>{uri}</tt:URI>{ranges}</{tag}>"


def _space1d(tag: str, uri: str, lo: float, hi: float) -> str:
    return f"<{tag}><tt:URI>{uri}</tt:URI><tt:XRange>{_range(lo, hi)}</tt:XRange></{tag}>"


def _spaces(tag: str) -> str:
    return (
        f"<{tag}>"
        + _space2d("tt:AbsolutePanTiltPositionSpace", PT_POSITION)
        + _space1d("tt:AbsoluteZoomPositionSpace", Z_POSITION, 0.0, 1.0)
        + _space2d("tt:RelativePanTiltTranslationSpace", PT_TRANSLATION)
        + _space1d("tt:RelativeZoomTranslationSpace", Z_TRANSLATION, -1.0, 1.0)
        + _space2d("tt:ContinuousPanTiltVelocitySpace", PT_VELOCITY)
        + _space1d("tt:ContinuousZoomVelocitySpace", Z_VELOCITY, -1.0, 1.0)
        + _space1d("tt:PanTiltSpeedSpace", PT_SPEED, 0.0, 1.0)
        + _space1d("tt:ZoomSpeedSpace", Z_SPEED, 0.0, 1.0)
        + f"</{tag}>"
    )


def _node(tag: str) -> str:
    return (
        f'<{tag} token="{PTZ_NODE_TOKEN}" FixedHomePosition="false"><tt:Name>PTZ</tt:Name>'
        + _spaces("tt:SupportedPTZSpaces")
        + f"<tt:MaximumNumberOfPresets>{MAX_PRESETS}</tt:MaximumNumberOfPresets>"
        "<tt:HomeSupported>true</tt:HomeSupported>"
        f"</{tag}>"
    )


def ptz_configuration_xml(ctx: OnvifContext, tag: str) -> str:
    """The single PTZ configuration as element ``tag`` (also embedded in the profile)."""
    return (
        f'<{tag} token="{PTZ_CONFIG_TOKEN}"><tt:Name>PTZ</tt:Name><tt:UseCount>1</tt:UseCount>'
        f"<tt:NodeToken>{PTZ_NODE_TOKEN}</tt:NodeToken>"
        f"<tt:DefaultAbsolutePantTiltPositionSpace>{PT_POSITION}</tt:DefaultAbsolutePantTiltPositionSpace>"
        f"<tt:DefaultAbsoluteZoomPositionSpace>{Z_POSITION}</tt:DefaultAbsoluteZoomPositionSpace>"
        f"<tt:DefaultRelativePanTiltTranslationSpace>{PT_TRANSLATION}</tt:DefaultRelativePanTiltTranslationSpace>"
        f"<tt:DefaultRelativeZoomTranslationSpace>{Z_TRANSLATION}</tt:DefaultRelativeZoomTranslationSpace>"
        f"<tt:DefaultContinuousPanTiltVelocitySpace>{PT_VELOCITY}</tt:DefaultContinuousPanTiltVelocitySpace>"
        f"<tt:DefaultContinuousZoomVelocitySpace>{Z_VELOCITY}</tt:DefaultContinuousZoomVelocitySpace>"
        f'<tt:DefaultPTZSpeed><tt:PanTilt x="1" y="1" space="{PT_SPEED}"/>'
        f'<tt:Zoom x="1" space="{Z_SPEED}"/></tt:DefaultPTZSpeed>'
        f"<tt:DefaultPTZTimeout>{duration(DEFAULT_PTZ_TIMEOUT)}</tt:DefaultPTZTimeout>"
        "<tt:PanTiltLimits>" + _space2d("tt:Range", PT_POSITION) + "</tt:PanTiltLimits>"
        "<tt:ZoomLimits>" + _space1d("tt:Range", Z_POSITION, 0.0, 1.0) + "</tt:ZoomLimits>"
        f"</{tag}>"
    )


def _check_profile(ctx: OnvifContext, body: etree._Element) -> None:
    token = required_text(body, "ProfileToken")
    if token != ctx.profile_token:
        raise sender_fault(f"no profile with token {token!r}", "InvalidArgVal", "NoProfile")


def _vector(ctx: OnvifContext, status: MotionStatus) -> str:
    if ctx.position_texts is not None:
        x, y, zoom = (attr(t) for t in ctx.position_texts)
        return (
            f'<tt:PanTilt x="{x}" y="{y}" space="{PT_POSITION}"/>'
            f'<tt:Zoom x="{zoom}" space="{Z_POSITION}"/>'
        )
    c = ctx.ptz.calibration
    pose = status.pose
    return (
        f'<tt:PanTilt x="{c.pan_to_generic(pose.pan):.6f}" y="{c.tilt_to_generic(pose.tilt):.6f}" '
        f'space="{PT_POSITION}"/><tt:Zoom x="{pose.zoom:.6f}" space="{Z_POSITION}"/>'
    )


def _speed(body: etree._Element) -> Speed | None:
    speed = child(body, "Speed")
    if speed is None:
        return None
    values = {"pan": 1.0, "tilt": 1.0, "zoom": 1.0}
    pan_tilt, zoom = child(speed, "PanTilt"), child(speed, "Zoom")
    if pan_tilt is not None:
        check_space(pan_tilt, PT_SPEED, "InvalidArgVal")
        values["pan"], values["tilt"] = float_attr(pan_tilt, "x"), float_attr(pan_tilt, "y")
    if zoom is not None:
        check_space(zoom, Z_SPEED, "InvalidArgVal")
        values["zoom"] = float_attr(zoom, "x")
    for name, value in values.items():
        if not 0.0 <= value <= 1.0:
            raise sender_fault(f"{name} speed {value} is outside 0..1", "InvalidArgVal")
        # A zero speed would never arrive; treat it as "default", as cameras do.
        values[name] = value or 1.0
    return Speed(values["pan"], values["tilt"], values["zoom"])


# Configuration ------------------------------------------------------------------------


def get_nodes(ctx: OnvifContext, _: etree._Element) -> str:
    """The one PTZ node."""
    return f"<tptz:GetNodesResponse>{_node('tptz:PTZNode')}</tptz:GetNodesResponse>"


def get_node(ctx: OnvifContext, body: etree._Element) -> str:
    """The node named by NodeToken (``ter:NoEntity`` otherwise)."""
    token = required_text(body, "NodeToken")
    if token != PTZ_NODE_TOKEN:
        raise sender_fault(f"no PTZ node with token {token!r}", "InvalidArgVal", "NoEntity")
    return f"<tptz:GetNodeResponse>{_node('tptz:PTZNode')}</tptz:GetNodeResponse>"


def get_configurations(ctx: OnvifContext, _: etree._Element) -> str:
    """The one PTZ configuration."""
    config = ptz_configuration_xml(ctx, "tptz:PTZConfiguration")
    return f"<tptz:GetConfigurationsResponse>{config}</tptz:GetConfigurationsResponse>"


def _check_config(body: etree._Element, element: str) -> None:
    token = required_text(body, element)
    if token != PTZ_CONFIG_TOKEN:
        raise sender_fault(f"no PTZ configuration {token!r}", "InvalidArgVal", "NoConfig")


def get_configuration(ctx: OnvifContext, body: etree._Element) -> str:
    """The configuration named by PTZConfigurationToken (``ter:NoConfig`` otherwise)."""
    _check_config(body, "PTZConfigurationToken")
    config = ptz_configuration_xml(ctx, "tptz:PTZConfiguration")
    return f"<tptz:GetConfigurationResponse>{config}</tptz:GetConfigurationResponse>"


def get_configuration_options(ctx: OnvifContext, body: etree._Element) -> str:
    """Supported spaces and the ContinuousMove timeout range."""
    _check_config(body, "ConfigurationToken")
    return (
        "<tptz:GetConfigurationOptionsResponse><tptz:PTZConfigurationOptions>"
        + _spaces("tt:Spaces")
        + f"<tt:PTZTimeout><tt:Min>PT0S</tt:Min><tt:Max>{duration(MAX_PTZ_TIMEOUT)}</tt:Max>"
        "</tt:PTZTimeout></tptz:PTZConfigurationOptions></tptz:GetConfigurationOptionsResponse>"
    )


# Status and moves ---------------------------------------------------------------------


def get_status(ctx: OnvifContext, body: etree._Element) -> str:
    """Position in generic spaces, IDLE/MOVING per axis group, and UtcTime."""
    _check_profile(ctx, body)
    status = ctx.ptz.status()
    pt = "MOVING" if status.pan_tilt_moving else "IDLE"
    zoom = "MOVING" if status.zoom_moving else "IDLE"
    return (
        "<tptz:GetStatusResponse><tptz:PTZStatus>"
        f"<tt:Position>{_vector(ctx, status)}</tt:Position>"
        f"<tt:MoveStatus><tt:PanTilt>{pt}</tt:PanTilt><tt:Zoom>{zoom}</tt:Zoom></tt:MoveStatus>"
        f"<tt:UtcTime>{text(ctx.utc_text or utc_text(ctx.utc_now()))}</tt:UtcTime>"
        "</tptz:PTZStatus></tptz:GetStatusResponse>"
    )


def continuous_move(ctx: OnvifContext, body: etree._Element) -> str:
    """Velocity move (-1..1 of max speed per axis) until Stop, a limit or Timeout."""
    _check_profile(ctx, body)
    velocity = child(body, "Velocity")
    if velocity is None:
        raise sender_fault("missing Velocity", "InvalidArgVal")
    pan = tilt = zoom = None
    pan_tilt, zoom_el = child(velocity, "PanTilt"), child(velocity, "Zoom")
    if pan_tilt is not None:
        check_space(pan_tilt, PT_VELOCITY, "SpaceNotSupported")
        pan, tilt = float_attr(pan_tilt, "x"), float_attr(pan_tilt, "y")
    if zoom_el is not None:
        check_space(zoom_el, Z_VELOCITY, "SpaceNotSupported")
        zoom = float_attr(zoom_el, "x")
    for name, value in (("pan", pan), ("tilt", tilt), ("zoom", zoom)):
        if value is not None and not -1.0 <= value <= 1.0:
            raise sender_fault(
                f"{name} velocity {value} is outside -1..1", "InvalidArgVal", "InvalidVelocity"
            )
    raw_timeout = child_text(body, "Timeout")
    timeout = DEFAULT_PTZ_TIMEOUT if raw_timeout is None else parse_duration(raw_timeout)
    if timeout > MAX_PTZ_TIMEOUT:
        raise sender_fault(
            f"timeout {raw_timeout} is above {duration(MAX_PTZ_TIMEOUT)}",
            "InvalidArgVal",
            "TimeoutNotSupported",
        )
    ctx.ptz.continuous(pan, tilt, zoom, timeout)
    return "<tptz:ContinuousMoveResponse/>"


def absolute_move(ctx: OnvifContext, body: etree._Element) -> str:
    """Travel to a generic position at Speed (default maximum)."""
    _check_profile(ctx, body)
    position = child(body, "Position")
    if position is None:
        raise sender_fault("missing Position", "InvalidArgVal")
    c = ctx.ptz.calibration
    here = ctx.ptz.pose()
    pan_tilt, zoom_el = child(position, "PanTilt"), child(position, "Zoom")
    x, y, z = c.pan_to_generic(here.pan), c.tilt_to_generic(here.tilt), here.zoom
    if pan_tilt is not None:
        check_space(pan_tilt, PT_POSITION, "SpaceNotSupported")
        x, y = float_attr(pan_tilt, "x"), float_attr(pan_tilt, "y")
    if zoom_el is not None:
        check_space(zoom_el, Z_POSITION, "SpaceNotSupported")
        z = float_attr(zoom_el, "x")
    if not (-1.0 <= x <= 1.0 and -1.0 <= y <= 1.0 and 0.0 <= z <= 1.0):
        raise sender_fault(
            f"position pan={x} tilt={y} zoom={z} is outside pan/tilt -1..1, zoom 0..1",
            "InvalidArgVal",
            "InvalidPosition",
        )
    target = c.clamp(Pose(c.pan_to_degrees(x), c.tilt_to_degrees(y), z))
    ctx.ptz.absolute(target, _speed(body), pan_tilt=pan_tilt is not None, zoom=zoom_el is not None)
    return "<tptz:AbsoluteMoveResponse/>"


def relative_move(ctx: OnvifContext, body: etree._Element) -> str:
    """Travel by a generic translation; the result is clamped at the limits."""
    _check_profile(ctx, body)
    translation = child(body, "Translation")
    if translation is None:
        raise sender_fault("missing Translation", "InvalidArgVal")
    c = ctx.ptz.calibration
    pan_tilt, zoom_el = child(translation, "PanTilt"), child(translation, "Zoom")
    dx = dy = dz = 0.0
    if pan_tilt is not None:
        check_space(pan_tilt, PT_TRANSLATION, "SpaceNotSupported")
        dx, dy = float_attr(pan_tilt, "x"), float_attr(pan_tilt, "y")
    if zoom_el is not None:
        check_space(zoom_el, Z_TRANSLATION, "SpaceNotSupported")
        dz = float_attr(zoom_el, "x")
    if not all(-1.0 <= v <= 1.0 for v in (dx, dy, dz)):
        raise sender_fault(
            f"translation {dx}, {dy}, {dz} is outside -1..1", "InvalidArgVal", "InvalidTranslation"
        )
    ctx.ptz.relative(
        dx * c.pan_degrees_per_generic(),
        dy * c.tilt_degrees_per_generic(),
        dz,
        _speed(body),
        pan_tilt=pan_tilt is not None,
        zoom_given=zoom_el is not None,
    )
    return "<tptz:RelativeMoveResponse/>"


def stop(ctx: OnvifContext, body: etree._Element) -> str:
    """Stop pan/tilt and/or zoom (both by default)."""
    _check_profile(ctx, body)
    pan_tilt = parse_bool(child_text(body, "PanTilt"), default=True)
    zoom = parse_bool(child_text(body, "Zoom"), default=True)
    ctx.ptz.stop(pan_tilt=pan_tilt, zoom=zoom)
    return "<tptz:StopResponse/>"


# Presets and home ---------------------------------------------------------------------


def get_presets(ctx: OnvifContext, body: etree._Element) -> str:
    """All presets with their positions."""
    _check_profile(ctx, body)
    items = []
    for preset in ctx.ptz.presets():
        status = MotionStatus(preset.pose, False, False)
        items.append(
            f'<tptz:Preset token="{attr(preset.token)}"><tt:Name>{text(preset.name)}</tt:Name>'
            f"<tt:PTZPosition>{_vector(ctx, status)}</tt:PTZPosition></tptz:Preset>"
        )
    return "<tptz:GetPresetsResponse>" + "".join(items) + "</tptz:GetPresetsResponse>"


def set_preset(ctx: OnvifContext, body: etree._Element) -> str:
    """Store the current position as a new preset or overwrite PresetToken."""
    _check_profile(ctx, body)
    name, token = child_text(body, "PresetName"), child_text(body, "PresetToken")
    if name is not None and (not name or len(name) > 64):
        raise sender_fault(
            f"preset name {name!r} must be 1-64 characters", "InvalidArgVal", "InvalidPresetName"
        )
    try:
        preset = ctx.ptz.set_preset(name, token or None)
    except OverflowError as exc:
        raise sender_fault(str(exc), "InvalidArgVal", "TooManyPresets") from exc
    except PresetError as exc:
        subcode = "PresetExist" if "in use" in str(exc) else "NoToken"
        raise sender_fault(str(exc), "InvalidArgVal", subcode) from exc
    token_xml = f"<tptz:PresetToken>{text(preset.token)}</tptz:PresetToken>"
    return f"<tptz:SetPresetResponse>{token_xml}</tptz:SetPresetResponse>"


def goto_preset(ctx: OnvifContext, body: etree._Element) -> str:
    """Travel to PresetToken (``ter:NoToken`` if unknown)."""
    _check_profile(ctx, body)
    token = required_text(body, "PresetToken")
    try:
        ctx.ptz.goto_preset(token, _speed(body))
    except PresetError as exc:
        raise sender_fault(str(exc), "InvalidArgVal", "NoToken") from exc
    return "<tptz:GotoPresetResponse/>"


def remove_preset(ctx: OnvifContext, body: etree._Element) -> str:
    """Delete PresetToken (``ter:NoToken`` if unknown)."""
    _check_profile(ctx, body)
    token = required_text(body, "PresetToken")
    try:
        ctx.ptz.remove_preset(token)
    except PresetError as exc:
        raise sender_fault(str(exc), "InvalidArgVal", "NoToken") from exc
    return "<tptz:RemovePresetResponse/>"


def goto_home_position(ctx: OnvifContext, body: etree._Element) -> str:
    """Travel to the home position."""
    _check_profile(ctx, body)
    ctx.ptz.goto_home(_speed(body))
    return "<tptz:GotoHomePositionResponse/>"


def set_home_position(ctx: OnvifContext, body: etree._Element) -> str:
    """Make the current position home."""
    _check_profile(ctx, body)
    ctx.ptz.set_home()
    return "<tptz:SetHomePositionResponse/>"


Handler = Callable[[OnvifContext, etree._Element], str]


def get_service_capabilities(_ctx: OnvifContext, _: etree._Element) -> str:
    """The PTZ service's capabilities (PRE_AUTH: answered without credentials)."""
    return (
        "<tptz:GetServiceCapabilitiesResponse>"
        + ptz_service_capabilities()
        + "</tptz:GetServiceCapabilitiesResponse>"
    )


HANDLERS: dict[str, Handler] = {
    "GetServiceCapabilities": get_service_capabilities,
    "GetNodes": get_nodes,
    "GetNode": get_node,
    "GetConfigurations": get_configurations,
    "GetConfiguration": get_configuration,
    "GetConfigurationOptions": get_configuration_options,
    "GetStatus": get_status,
    "ContinuousMove": continuous_move,
    "AbsoluteMove": absolute_move,
    "RelativeMove": relative_move,
    "Stop": stop,
    "GetPresets": get_presets,
    "SetPreset": set_preset,
    "GotoPreset": goto_preset,
    "RemovePreset": remove_preset,
    "GotoHomePosition": goto_home_position,
    "SetHomePosition": set_home_position,
}
