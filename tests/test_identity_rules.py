"""The table of values that look like identifiers but name no single machine (graph/identity_rules.py)."""
from __future__ import annotations

import pytest

from graph.identifiers import canonical_mac, lookup_keys
from graph.identity_rules import identifies, is_placeholder_code, is_virtual_interface, links_alone
from graph.schema import IdentifierKind


@pytest.mark.parametrize("text", [
    "To Be Filled By O.E.M.", "to be filled by o.e.m.", "  TO BE  FILLED BY O.E.M. ", "Default string",
    "  default STRING ", "System Serial Number", "0123456789", "None", "N/A", "n/a", "Not Specified",
    "Chassis Serial Number", "0", "00000000", "000000000000", "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
    "00000000-0000-0000-0000-000000000000", "03000200-0400-0500-0006-000700080009", "XXXXXXXX", "-",
])
def test_placeholder_codes_identify_nothing(text):
    assert is_placeholder_code(text)
    for kind in (IdentifierKind.SERIAL, IdentifierKind.ASSET_TAG, IdentifierKind.AGENT_ID):
        assert not identifies(kind, text.strip().upper())


@pytest.mark.parametrize("text", ["C02ZK1ABMD6T", "PF3ABCDE", "01", "0123456788", "03000200-0400-0500-0006-00070008000A",
                                  "4C4C4544-0042-3510-8052-B4C04F4B4E32", "ITAM-1", "S1"])
def test_real_codes_identify(text):
    assert not is_placeholder_code(text)
    assert identifies(IdentifierKind.SERIAL, text)


@pytest.mark.parametrize("mac", [
    "00:00:00:00:00:00", "FF:FF:FF:FF:FF:FF", "0A:00:27:00:00:00", "0a-00-27-00-00-01", "01:00:5E:00:00:FB",
    "33:33:00:00:00:01", "00:00:5E:00:01:01", "00:00:0C:07:AC:14", "00:50:56:C0:00:08", "00:1C:42:00:00:09",
    "20:41:53:59:4E:FF", "00:05:9A:3C:7A:00", "52:54:00:12:34:56",
])
def test_shared_and_multicast_macs_identify_nothing(mac):
    assert not identifies(IdentifierKind.MAC, canonical_mac(mac))
    assert lookup_keys(mac) == [k for k in lookup_keys(mac) if not k.startswith("mac:")]


@pytest.mark.parametrize("mac, alone", [
    ("a4:83:e7:11:22:01", True), ("00:50:56:a1:0b:11", True), ("08:00:27:aa:bb:cc", True),
    ("0a:00:27:00:01:00", False),       # locally administered, yet not the host-only default: weak
    ("02:42:ac:11:00:02", False), ("6e:1f:9a:33:10:4b", False), ("52:54:00:12:34:57", False),
    ("00:00:5e:00:03:01", True), ("00:50:56:c1:00:08", True),   # one step outside the listed families
])
def test_real_macs_identify_and_locally_administered_ones_need_company(mac, alone):
    assert identifies(IdentifierKind.MAC, mac)
    assert links_alone(IdentifierKind.MAC, mac) is alone


@pytest.mark.parametrize("name, virtual", [
    ("lo", True), ("lo0", True), ("tun0", True), ("utun3", True), ("docker0", True), ("br-3f1c2a9b8e77", True),
    ("vboxnet0", True), ("virbr0", True), ("veth12ab", True), ("vmnet8", True), ("tap0", True),
    ("eth0", False), ("en0", False), ("enp3s0", False), ("ens192", False), ("wlan0", False), ("12", False),
    ("local", False), ("bond0", False), (None, False),
])
def test_virtual_interfaces_by_name(name, virtual):
    assert is_virtual_interface(name) is virtual


def test_a_placeholder_answers_no_lookup_but_a_real_value_does():
    assert lookup_keys("To Be Filled By O.E.M.") == []
    assert "serial:C02ZK1ABMD6T" in lookup_keys("C02ZK1ABMD6T")
    assert lookup_keys("serial:Default string") == []
