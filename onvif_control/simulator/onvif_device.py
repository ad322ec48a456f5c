"""ONVIF Device service (ver10) operations of the simulated camera.

Each handler takes the context and the request's operation element and returns the
response element as XML text (prefixes as declared in ``soap.NS``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from lxml import etree

from onvif_control.simulator.onvif_common import OnvifContext, child_text, parse_bool
from onvif_control.simulator.onvif_media import media_service_capabilities
from onvif_control.simulator.onvif_ptz import ptz_service_capabilities
from onvif_control.simulator.soap import NS, attr, sender_fault, text

_CATEGORIES = ("All", "Analytics", "Device", "Events", "Imaging", "Media", "PTZ")


def get_system_date_and_time(ctx: OnvifContext, _: etree._Element) -> str:
    """Device clock, always UTC (DateTimeType Manual, no daylight saving)."""
    now = ctx.utc_now()
    stamp = (
        f"<tt:Time><tt:Hour>{now.hour}</tt:Hour><tt:Minute>{now.minute}</tt:Minute>"
        f"<tt:Second>{now.second}</tt:Second></tt:Time>"
        f"<tt:Date><tt:Year>{now.year}</tt:Year><tt:Month>{now.month}</tt:Month>"
        f"<tt:Day>{now.day}</tt:Day></tt:Date>"
    )
    return (
        "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
        "<tt:DateTimeType>Manual</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
        "<tt:TimeZone><tt:TZ>UTC0</tt:TZ></tt:TimeZone>"
        f"<tt:UTCDateTime>{stamp}</tt:UTCDateTime><tt:LocalDateTime>{stamp}</tt:LocalDateTime>"
        "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
    )


def get_device_information(ctx: OnvifContext, _: etree._Element) -> str:
    """Manufacturer, model, firmware, serial number and hardware id."""
    return (
        "<tds:GetDeviceInformationResponse>"
        f"<tds:Manufacturer>{text(ctx.manufacturer)}</tds:Manufacturer>"
        f"<tds:Model>{text(ctx.model)}</tds:Model>"
        f"<tds:FirmwareVersion>{text(ctx.firmware)}</tds:FirmwareVersion>"
        f"<tds:SerialNumber>{text(ctx.serial)}</tds:SerialNumber>"
        "<tds:HardwareId>vms-sim-ptz</tds:HardwareId>"
        "</tds:GetDeviceInformationResponse>"
    )


def get_capabilities(ctx: OnvifContext, body: etree._Element) -> str:
    """Capabilities for the requested categories (default All)."""
    requested = {(c.text or "").strip() for c in body.findall("tds:Category", NS)} or {"All"}
    unknown = requested - set(_CATEGORIES)
    if unknown:
        raise sender_fault(f"unknown capability category {sorted(unknown)}", "InvalidArgVal")
    for category in ("Analytics", "Events", "Imaging"):
        if requested == {category}:
            raise sender_fault(
                f"the device has no {category} service", "ActionNotSupported", "NoSuchService"
            )
    every = "All" in requested
    parts = []
    if every or "Device" in requested:
        parts.append(
            f"<tt:Device><tt:XAddr>{text(ctx.device_xaddr)}</tt:XAddr>"
            "<tt:Network><tt:IPFilter>false</tt:IPFilter>"
            "<tt:ZeroConfiguration>false</tt:ZeroConfiguration>"
            "<tt:IPVersion6>false</tt:IPVersion6><tt:DynDNS>false</tt:DynDNS></tt:Network>"
            "<tt:System><tt:DiscoveryResolve>false</tt:DiscoveryResolve>"
            "<tt:DiscoveryBye>false</tt:DiscoveryBye><tt:RemoteDiscovery>false</tt:RemoteDiscovery>"
            "<tt:SystemBackup>false</tt:SystemBackup><tt:SystemLogging>false</tt:SystemLogging>"
            "<tt:FirmwareUpgrade>false</tt:FirmwareUpgrade>"
            "<tt:SupportedVersions><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor>"
            "</tt:SupportedVersions></tt:System>"
            "<tt:Security><tt:TLS1.1>false</tt:TLS1.1><tt:TLS1.2>false</tt:TLS1.2>"
            "<tt:OnboardKeyGeneration>false</tt:OnboardKeyGeneration>"
            "<tt:AccessPolicyConfig>false</tt:AccessPolicyConfig>"
            "<tt:X.509Token>false</tt:X.509Token><tt:SAMLToken>false</tt:SAMLToken>"
            "<tt:KerberosToken>false</tt:KerberosToken><tt:RELToken>false</tt:RELToken>"
            "</tt:Security></tt:Device>"
        )
    if every or "Media" in requested:
        parts.append(
            f"<tt:Media><tt:XAddr>{text(ctx.media_xaddr)}</tt:XAddr><tt:StreamingCapabilities>"
            "<tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP>"
            "<tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media>"
        )
    if every or "PTZ" in requested:
        parts.append(f"<tt:PTZ><tt:XAddr>{text(ctx.ptz_xaddr)}</tt:XAddr></tt:PTZ>")
    return (
        "<tds:GetCapabilitiesResponse><tds:Capabilities>"
        + "".join(parts)
        + "</tds:Capabilities></tds:GetCapabilitiesResponse>"
    )


def device_service_capabilities() -> str:
    """``tds:Capabilities`` of the device service (for GetServices)."""
    return (
        "<tds:Capabilities>"
        '<tds:Network IPFilter="false" ZeroConfiguration="false" IPVersion6="false" '
        'DynDNS="false" NTP="0"/>'
        '<tds:Security TLS1.0="false" TLS1.1="false" TLS1.2="false" '
        'OnboardKeyGeneration="false" AccessPolicyConfig="false" UsernameToken="true" '
        'HttpDigest="true" MaxUsers="1"/>'
        '<tds:System DiscoveryResolve="false" DiscoveryBye="false" RemoteDiscovery="false" '
        'SystemBackup="false" SystemLogging="false" FirmwareUpgrade="false"/>'
        "</tds:Capabilities>"
    )


def get_services(ctx: OnvifContext, body: etree._Element) -> str:
    """The device, media (ver10) and PTZ (ver20) services with their addresses."""
    include = parse_bool(child_text(body, "IncludeCapability"), default=False)
    services = (
        (NS["tds"], ctx.device_xaddr, device_service_capabilities(), (2, 60)),
        (NS["trt"], ctx.media_xaddr, media_service_capabilities(), (2, 60)),
        (NS["tptz"], ctx.ptz_xaddr, ptz_service_capabilities(), (2, 60)),
    )
    items = []
    for namespace, xaddr, capabilities, (major, minor) in services:
        caps = f"<tds:Capabilities>{capabilities}</tds:Capabilities>" if include else ""
        items.append(
            f"<tds:Service><tds:Namespace>{text(namespace)}</tds:Namespace>"
            f"<tds:XAddr>{text(xaddr)}</tds:XAddr>{caps}"
            f"<tds:Version><tt:Major>{major}</tt:Major><tt:Minor>{minor}</tt:Minor></tds:Version>"
            "</tds:Service>"
        )
    return "<tds:GetServicesResponse>" + "".join(items) + "</tds:GetServicesResponse>"


def get_scopes(ctx: OnvifContext, _: etree._Element) -> str:
    """Fixed ONVIF scopes: type, profile, name and hardware."""
    scopes = (
        "onvif://www.onvif.org/type/video_encoder",
        "onvif://www.onvif.org/type/ptz",
        "onvif://www.onvif.org/Profile/Streaming",
        f"onvif://www.onvif.org/name/{ctx.name}",
        "onvif://www.onvif.org/hardware/vms-sim-ptz",
        "onvif://www.onvif.org/location/city/simulated",
    )
    items = "".join(
        f"<tds:Scopes><tt:ScopeDef>Fixed</tt:ScopeDef><tt:ScopeItem>{text(s)}</tt:ScopeItem>"
        "</tds:Scopes>"
        for s in scopes
    )
    return f"<tds:GetScopesResponse>{items}</tds:GetScopesResponse>"


def get_network_interfaces(ctx: OnvifContext, _: etree._Element) -> str:
    """One wired interface with the address the device service is reached on."""
    host = ctx.device_xaddr.split("//", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
    if not host or not host.replace(".", "").isdigit():
        host = "127.0.0.1"
    return (
        '<tds:GetNetworkInterfacesResponse><tds:NetworkInterfaces token="eth0">'
        "<tt:Enabled>true</tt:Enabled>"
        "<tt:Info><tt:Name>eth0</tt:Name><tt:HwAddress>02:00:00:00:00:01</tt:HwAddress>"
        "<tt:MTU>1500</tt:MTU></tt:Info>"
        "<tt:IPv4><tt:Enabled>true</tt:Enabled><tt:Config>"
        f"<tt:Manual><tt:Address>{attr(host)}</tt:Address><tt:PrefixLength>8</tt:PrefixLength>"
        "</tt:Manual><tt:DHCP>false</tt:DHCP></tt:Config></tt:IPv4>"
        "</tds:NetworkInterfaces></tds:GetNetworkInterfacesResponse>"
    )


def get_service_capabilities(_ctx: OnvifContext, _: etree._Element) -> str:
    """The device service's capabilities (as in GetServices with IncludeCapability)."""
    return (
        "<tds:GetServiceCapabilitiesResponse>"
        + device_service_capabilities()
        + "</tds:GetServiceCapabilitiesResponse>"
    )


def get_wsdl_url(_ctx: OnvifContext, _: etree._Element) -> str:
    """Where the WSDLs the device implements are described (the ONVIF site)."""
    return (
        "<tds:GetWsdlUrlResponse><tds:WsdlUrl>http://www.onvif.org/Documents/Specifications.aspx"
        "</tds:WsdlUrl></tds:GetWsdlUrlResponse>"
    )


def get_hostname(ctx: OnvifContext, _: etree._Element) -> str:
    """The camera's name as its (static) hostname."""
    return (
        "<tds:GetHostnameResponse><tds:HostnameInformation>"
        f"<tt:FromDHCP>false</tt:FromDHCP><tt:Name>{text(ctx.name)}</tt:Name>"
        "</tds:HostnameInformation></tds:GetHostnameResponse>"
    )


def get_endpoint_reference(ctx: OnvifContext, _: etree._Element) -> str:
    """The device's WS-Addressing endpoint reference: a GUID stable per serial number."""
    guid = uuid.uuid5(uuid.NAMESPACE_URL, f"vms-sim:{ctx.serial}")
    return (
        "<tds:GetEndpointReferenceResponse>"
        f"<tds:GUID>urn:uuid:{guid}</tds:GUID></tds:GetEndpointReferenceResponse>"
    )


Handler = Callable[[OnvifContext, etree._Element], str]

HANDLERS: dict[str, Handler] = {
    "GetSystemDateAndTime": get_system_date_and_time,
    "GetDeviceInformation": get_device_information,
    "GetCapabilities": get_capabilities,
    "GetServices": get_services,
    "GetScopes": get_scopes,
    "GetNetworkInterfaces": get_network_interfaces,
    "GetServiceCapabilities": get_service_capabilities,
    "GetWsdlUrl": get_wsdl_url,
    "GetHostname": get_hostname,
    "GetEndpointReference": get_endpoint_reference,
}

#: Operations of the ONVIF Core access class PRE_AUTH: a device answers them without
#: credentials (clients call them before authenticating, e.g. to learn the clock skew
#: and the service addresses).
PRE_AUTH = frozenset(
    {
        "GetSystemDateAndTime",
        "GetCapabilities",
        "GetServices",
        "GetServiceCapabilities",
        "GetWsdlUrl",
        "GetHostname",
        "GetEndpointReference",
    }
)
