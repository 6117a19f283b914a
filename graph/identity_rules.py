"""Values that look like identifiers but name no single machine, kept as data.

Firmware placeholders ("To Be Filled By O.E.M."), default MACs of virtual adapters that every
install of a product shares, and interfaces that belong to tunnels, bridges and containers rather
than to the host. Such values may stay on an asset as plain properties, but they never link two
records and never answer a lookup. Locally administered (randomised) MACs are weaker still than
real ones: they join an asset only when something stronger agrees.
"""
from __future__ import annotations

import re

from graph.schema import IdentifierKind

# Serial numbers, asset tags and system UUIDs that firmware, imaging tools and spreadsheets write when
# they have nothing to say. Compared case- and whitespace-insensitively (see `_folded`).
PLACEHOLDER_CODES = frozenset({
    "", "0", "-", "--", "?", ".", "none", "null", "nil", "n/a", "na", "n.a.", "tbd", "unknown", "undefined",
    "default", "default string", "not specified", "not applicable", "not available", "not set", "no asset tag",
    "no asset information", "to be filled by o.e.m.", "to be filled by oem", "o.e.m.", "oem", "invalid", "empty",
    "serial", "serial number", "system serial number", "chassis serial number", "base board serial number",
    "system manufacturer", "system product name", "asset tag", "asset tag#", "no serial", "none provided",
    "123456789", "0123456789", "1234567890", "12345678", "01234567890", "123456", "1234567", "system uuid",
    # the SMBIOS UUID of boards whose vendor never set one (AMI's template value)
    "03000200-0400-0500-0006-000700080009",
})

# MACs that many machines present at once: each product's fixed default for a virtual adapter.
SHARED_MACS = frozenset({
    "00:00:00:00:00:00",
    "ff:ff:ff:ff:ff:ff",
    "20:41:53:59:4e:ff",   # Windows RAS Async Adapter (" ASYN"): on every Windows install
    "00:05:9a:3c:7a:00",   # Cisco AnyConnect virtual miniport adapter
    "52:54:00:12:34:56",   # QEMU's guest MAC when none is given
    "02:00:4c:4f:4f:50",   # Microsoft KM-TEST loopback adapter ("LOOP")
})
# Families of such defaults: VirtualBox host-only (vboxnetN: 0a:00:27:00:00:0N), VMware Workstation's
# host adapters (VMnet1/VMnet8: 00:50:56:c0:00:01/08), Parallels' host adapters, and the virtual-router
# MACs of VRRP and HSRP that a pair of routers share.
SHARED_MAC_PATTERNS = (
    re.compile(r"^0a:00:27:00:00:[0-9a-f]{2}$"),
    re.compile(r"^00:50:56:c0:00:[0-9a-f]{2}$"),
    re.compile(r"^00:1c:42:00:00:[0-9a-f]{2}$"),
    re.compile(r"^00:00:5e:00:0[12]:[0-9a-f]{2}$"),
    re.compile(r"^00:00:0c:07:ac:[0-9a-f]{2}$"),
)

# Interfaces that are loopback, tunnel, bridge, container or hypervisor-host adapters by name: their
# MACs and addresses (172.17.0.1, 192.168.122.1, ...) repeat on every host that has one.
VIRTUAL_INTERFACE = re.compile(
    r"^(lo\d*$|loopback|docker\d*|veth|br-|virbr|vboxnet|vnet|vmnet|cni|flannel|cali|vxlan|tunl|tun|tap|kube-|"
    r"weave|cilium|lxcbr|lxdbr|podman|utun|awdl|llw|gif|stf|anpi|bridge|ipip|dummy|wg\d|zt|tailscale|ham\d)",
    re.I)

_CODE_KINDS = frozenset({IdentifierKind.SERIAL, IdentifierKind.ASSET_TAG, IdentifierKind.AGENT_ID,
                         IdentifierKind.CLOUD_ID})


def _folded(text: str) -> str:
    return " ".join(text.split()).casefold()


def is_placeholder_code(text: str) -> bool:
    """A serial, asset tag or system UUID that identifies nothing: a listed placeholder, or one
    character repeated ('0000000', 'FFFFFFFF-FFFF-...', 'XXXXXXXX')."""
    folded = _folded(text)
    if folded in PLACEHOLDER_CODES:
        return True
    return len(set(re.sub(r"[\s\-:.]", "", folded))) <= 1


def is_multicast_mac(mac: str) -> bool:
    """The group bit (lowest bit of the first octet): a multicast or broadcast address, never a NIC."""
    return bool(int(mac[:2], 16) & 0x01)


def is_locally_administered(mac: str) -> bool:
    """The U/L bit (second-lowest bit of the first octet): a randomised or software-assigned MAC."""
    return bool(int(mac[:2], 16) & 0x02)


_SHARED_MAC_FAMILY = re.compile("|".join(p.pattern for p in SHARED_MAC_PATTERNS))


def is_shared_mac(mac: str) -> bool:
    """A canonical MAC ('aa:bb:...') that names no single machine."""
    return mac in SHARED_MACS or is_multicast_mac(mac) or bool(_SHARED_MAC_FAMILY.match(mac))


def is_virtual_interface(name: str | None) -> bool:
    """An interface whose addresses belong to a tunnel, bridge or container, not to the host."""
    return name is not None and bool(VIRTUAL_INTERFACE.match(name.strip()))


def identifies(kind: IdentifierKind | str, value: str) -> bool:
    """Whether a canonical identifier value may link records and answer lookups at all."""
    if kind in _CODE_KINDS:
        return not is_placeholder_code(value)
    if kind == IdentifierKind.MAC:
        return not is_shared_mac(value)
    return True


def links_alone(kind: IdentifierKind | str, value: str) -> bool:
    """Whether a strong identifier may merge records by itself: a locally administered MAC may not."""
    return not (kind == IdentifierKind.MAC and is_locally_administered(value))
