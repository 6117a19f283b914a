"""Which address ranges the Internet can send from.

The rule: a CIDR that includes any globally routable address is reachable from the Internet. So
0.0.0.0/0 is, and so are 0.0.0.0/1 + 128.0.0.0/1, 8.0.0.0/7 or a partner's single public /32 (a
firewall cannot tell that partner from anyone who spoofs or takes over the address). Only ranges
made entirely of the IANA special-purpose blocks below (private, shared, loopback, link-local,
documentation, benchmarking, multicast, reserved) are not.
"""
from __future__ import annotations

import ipaddress
from typing import Any, cast
from functools import cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# IANA IPv4/IPv6 special-purpose address registries, entries with "Globally Reachable: False"
# (plus multicast and reserved space, which no Internet host sends from).
NOT_GLOBAL = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
    "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    "::/128", "::1/128", "::ffff:0:0/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32",
    "fc00::/7", "fe80::/10", "ff00::/8",
))


@cache
def includes_public_addresses(cidr: str) -> bool:
    """True when the range holds at least one globally routable address (see the module's rule)."""
    remaining: list[Network] = [ipaddress.ip_network(cidr, strict=False)]
    for blocked in NOT_GLOBAL:
        kept: list[Network] = []
        for net in remaining:
            if net.version != blocked.version or not net.overlaps(blocked):
                kept.append(net)
            elif (same := cast(Any, blocked)).subnet_of(net) and blocked != net:   # same IP version: checked above
                kept.extend(net.address_exclude(same))
            # else: the whole of net is not global
        remaining = kept
    return bool(remaining)
