"""Hostile input for the property-based tests: real seed files for every connector, mutations of them,
and an injection corpus of strings. The Hypothesis budget is a profile (tests/conftest.py)."""
from __future__ import annotations

import re

from hypothesis import strategies as st

from demo.hr import HR_COLUMNS
from tests.conftest import FIXTURES

HR_CSV = (",".join(HR_COLUMNS).encode() + b"\n"
          b"ada@example.com,Ada Lovelace,E-0001,Engineering,,2019-03-01,\n"
          b"grace@example.com,Grace Hopper,E-0002,Engineering,ada@example.com,2020-01-15,2026-06-04\n"
          b"alan@example.com,\"Turing, Alan\",E-0003,Research,ada@example.com,2021-07-01,\n")

# Real-format seed files per connector command (tests/fixtures; HR has no fixture file, so its seed is here).
SEEDS: dict[str, list[str]] = {
    "snipeit-assets": ["identity/snipeit-whitebox.csv"],
    "nmap": ["nmap/2_hosts.xml", "nmap/os_scan6.xml", "identity/nmap-vlan10.xml"],
    "hr": [],
    "scim": ["scim/users.json"],
    "osquery": ["osquery/snapshot.log", "osquery/events.log", "osquery/batch.log", "osquery/osqueryi-deb_packages.json"],
    "aws": ["aws/ec2-describe-instances.json", "aws/ec2-describe-security-groups.json",
            "aws/ec2-describe-network-interfaces.json", "aws/iam-get-credential-report.json"],
    "sbom": ["sbom/spdx23.spdx.json", "sbom/certificate.cbom.json", "sbom/spdx3.jsonld"],
    "licenses": ["licenses/snipeit-licenses.csv"],
    "contracts": ["licenses/contracts.csv"],
    "certificates": ["osquery/web01.pem"],
    "coverage": ["coverage/edr-hosts.csv", "coverage/mdm-devices.csv"],
}


def seeds(command: str) -> list[tuple[str, bytes]]:
    """(file name, bytes) of each seed: the name keeps its suffix, which some connectors look at."""
    found = [((FIXTURES / name).name, (FIXTURES / name).read_bytes()) for name in SEEDS[command]]
    return found or ([("hr.csv", HR_CSV)] if command == "hr" else [])   # HR's seed is built here


# Numbers a parser may choke on: overflow, floats that are not finite, signs, hex, a thousand digits.
HOSTILE_NUMBERS = ["9" * 400, "1e999", "-1e999", "-1", "-0", "NaN", "inf", "18446744073709551616",
                   "0x1F", "1_000", "1.5", "99999999999999999999.5", "٣", "0" * 50 + "1"]
# Text built to escape a query, a terminal, a parser or a database: Cypher and SQL injection, quotes,
# backslashes, unicode controls and separators, NUL, a lone surrogate-like escape, and a huge string.
INJECTION = [
    "}) DETACH DELETE n //",
    "'}) MATCH (n) DETACH DELETE n //",
    "\"}) MATCH (n) DETACH DELETE n RETURN 1 //",
    "x' OR 1=1 --",
    "web-01` DETACH DELETE n //",
    "MATCH (n) DETACH DELETE n",
    "') CALL dbms.killQueries([]) //",
    "\\\\'\\\"\\u0027\\x00",
    "\\",
    "'",
    "\"",
    "`",
    "{{7*7}}${7*7}",
    "\x00\x01\x1b[2J\x1b]8;;http://evil/\x07",
    "\u202e\u200b\ufeff\u2028\u2029",
    "../../../../etc/passwd",
    "file:///etc/passwd",
    "serial:' OR 1=1 //",
    "kind:value:with:colons",
    "A" * 60_000,                                  # a huge string, still inside the 64 KiB body limit
]

_TOKEN = re.compile(rb"[^,\"<>\n:{}\[\]=\s]+")
_DIGITS = re.compile(rb"\d+")


def _truncate(data: bytes, at: int) -> bytes:
    return data[:at % (len(data) + 1)]


def _swap_fields(data: bytes, i: int, j: int) -> bytes:
    """Two fields (values between delimiters) change places: a column's value lands in another column."""
    spans = [m.span() for m in _TOKEN.finditer(data)]
    if len(spans) < 2:
        return data
    a, b = sorted((spans[i % len(spans)], spans[j % len(spans)]))
    if a == b or a[1] > b[0]:
        return data
    return data[:a[0]] + data[b[0]:b[1]] + data[a[1]:b[0]] + data[a[0]:a[1]] + data[b[1]:]


def _overflow_number(data: bytes, i: int, number: str) -> bytes:
    spans = [m.span() for m in _DIGITS.finditer(data)]
    if not spans:
        return data + number.encode()
    start, end = spans[i % len(spans)]
    return data[:start] + number.encode() + data[end:]


def _break_encoding(data: bytes, at: int, junk: bytes) -> bytes:
    at %= len(data) + 1
    return data[:at] + junk + data[at:]


def _reencode(data: bytes, encoding: str) -> bytes:
    return data.decode("utf-8", "replace").encode(encoding, "replace")


def _insert_text(data: bytes, at: int, text: str) -> bytes:
    at %= len(data) + 1
    return data[:at] + text.encode("utf-8", "surrogatepass") + data[at:]


_index = st.integers(min_value=0, max_value=2**20)
MUTATION = st.one_of(
    st.builds(lambda at: lambda d: _truncate(d, at), _index),
    st.builds(lambda i, j: lambda d: _swap_fields(d, i, j), _index, _index),
    st.builds(lambda i, n: lambda d: _overflow_number(d, i, n), _index, st.sampled_from(HOSTILE_NUMBERS)),
    st.builds(lambda at, junk: lambda d: _break_encoding(d, at, junk), _index,
              st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\xef\xbb\xbf", b"\x80\x80"])
              | st.binary(min_size=1, max_size=8)),
    st.builds(lambda enc: lambda d: _reencode(d, enc), st.sampled_from(["utf-16", "latin-1", "utf-32", "cp1252"])),
    st.builds(lambda at, text: lambda d: _insert_text(d, at, text), _index,
              st.sampled_from(INJECTION[:-1] + ["\x85", "\u2028", "\ud800", "\n", "\"", "<", "]]>", "&#0;"])),
)


@st.composite
def mutated(draw, command: str) -> tuple[str, bytes]:
    """A real seed file of this connector, named as it was, with one to three mutations applied."""
    name, data = draw(st.sampled_from(seeds(command)))
    for mutation in draw(st.lists(MUTATION, min_size=1, max_size=3)):
        data = mutation(data)
    return name, data
