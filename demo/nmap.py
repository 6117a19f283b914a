"""``nmap -sV -O -oX`` reports, one per /24 subnet, streamed host by host."""
from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import escape

from demo.org import DNS_SUFFIX, NETWORK, SERVER, Asset, UnknownDevice

NMAP_MAC_VENDOR = {
    "Dell": "Dell", "HP": "Hewlett Packard", "Lenovo": "Lenovo", "Apple": "Apple",
    "Cisco": "Cisco Systems", "Supermicro": "Super Micro Computer",
}

SCAN_START = time(8, 0)
SCAN_STAGGER_SECONDS = 240

# nmap's default "top 1000" TCP ports, exactly as nmap 7.9x prints them in <scaninfo>.
NMAP_TOP_TCP_PORTS = (
    "1,3-4,6-7,9,13,17,19-26,30,32-33,37,42-43,49,53,70,79-85,88-90,99-100,106,109-111,113,"
    "119,125,135,139,143-144,146,161,163,179,199,211-212,222,254-256,259,264,280,301,306,311,"
    "340,366,389,406-407,416-417,425,427,443-445,458,464-465,481,497,500,512-515,524,541,"
    "543-545,548,554-555,563,587,593,616-617,625,631,636,646,648,666-668,683,687,691,700,705,"
    "711,714,720,722,726,749,765,777,783,787,800-801,808,843,873,880,888,898,900-903,911-912,"
    "981,987,990,992-993,995,999-1002,1007,1009-1011,1021-1100,1102,1104-1108,1110-1114,1117,"
    "1119,1121-1124,1126,1130-1132,1137-1138,1141,1145,1147-1149,1151-1152,1154,1163-1166,"
    "1169,1174-1175,1183,1185-1187,1192,1198-1199,1201,1213,1216-1218,1233-1234,1236,1244,"
    "1247-1248,1259,1271-1272,1277,1287,1296,1300-1301,1309-1311,1322,1328,1334,1352,1417,"
    "1433-1434,1443,1455,1461,1494,1500-1501,1503,1521,1524,1533,1556,1580,1583,1594,1600,"
    "1641,1658,1666,1687-1688,1700,1717-1721,1723,1755,1761,1782-1783,1801,1805,1812,"
    "1839-1840,1862-1864,1875,1900,1914,1935,1947,1971-1972,1974,1984,1998-2010,2013,"
    "2020-2022,2030,2033-2035,2038,2040-2043,2045-2049,2065,2068,2099-2100,2103,2105-2107,"
    "2111,2119,2121,2126,2135,2144,2160-2161,2170,2179,2190-2191,2196,2200,2222,2251,2260,"
    "2288,2301,2323,2366,2381-2383,2393-2394,2399,2401,2492,2500,2522,2525,2557,2601-2602,"
    "2604-2605,2607-2608,2638,2701-2702,2710,2717-2718,2725,2800,2809,2811,2869,2875,"
    "2909-2910,2920,2967-2968,2998,3000-3001,3003,3005-3007,3011,3013,3017,3030-3031,3052,"
    "3071,3077,3128,3168,3211,3221,3260-3261,3268-3269,3283,3300-3301,3306,3322-3325,3333,"
    "3351,3367,3369-3372,3389-3390,3404,3476,3493,3517,3527,3546,3551,3580,3659,3689-3690,"
    "3703,3737,3766,3784,3800-3801,3809,3814,3826-3828,3851,3869,3871,3878,3880,3889,3905,"
    "3914,3918,3920,3945,3971,3986,3995,3998,4000-4006,4045,4111,4125-4126,4129,4224,4242,"
    "4279,4321,4343,4443-4446,4449,4550,4567,4662,4848,4899-4900,4998,5000-5004,5009,5030,"
    "5033,5050-5051,5054,5060-5061,5080,5087,5100-5102,5120,5190,5200,5214,5221-5222,"
    "5225-5226,5269,5280,5298,5357,5405,5414,5431-5432,5440,5500,5510,5544,5550,5555,5560,"
    "5566,5631,5633,5666,5678-5679,5718,5730,5800-5802,5810-5811,5815,5822,5825,5850,5859,"
    "5862,5877,5900-5904,5906-5907,5910-5911,5915,5922,5925,5950,5952,5959-5963,5987-5989,"
    "5998-6007,6009,6025,6059,6100-6101,6106,6112,6123,6129,6156,6346,6389,6502,6510,6543,"
    "6547,6565-6567,6580,6646,6666-6669,6689,6692,6699,6779,6788-6789,6792,6839,6881,6901,"
    "6969,7000-7002,7004,7007,7019,7025,7070,7100,7103,7106,7200-7201,7402,7435,7443,7496,"
    "7512,7625,7627,7676,7741,7777-7778,7800,7911,7920-7921,7937-7938,7999-8002,8007-8011,"
    "8021-8022,8031,8042,8045,8080-8090,8093,8099-8100,8180-8181,8192-8194,8200,8222,8254,"
    "8290-8292,8300,8333,8383,8400,8402,8443,8500,8600,8649,8651-8652,8654,8701,8800,8873,"
    "8888,8899,8994,9000-9003,9009-9011,9040,9050,9071,9080-9081,9090-9091,9099-9103,"
    "9110-9111,9200,9207,9220,9290,9415,9418,9485,9500,9502-9503,9535,9575,9593-9595,9618,"
    "9666,9876-9878,9898,9900,9917,9929,9943-9944,9968,9998-10004,10009-10010,10012,"
    "10024-10025,10082,10180,10215,10243,10566,10616-10617,10621,10626,10628-10629,10778,"
    "11110-11111,11967,12000,12174,12265,12345,13456,13722,13782-13783,14000,14238,"
    "14441-14442,15000,15002-15004,15660,15742,16000-16001,16012,16016,16018,16080,16113,"
    "16992-16993,17877,17988,18040,18101,18988,19101,19283,19315,19350,19780,19801,19842,"
    "20000,20005,20031,20221-20222,20828,21571,22939,23502,24444,24800,25734-25735,26214,"
    "27000,27352-27353,27355-27356,27715,28201,30000,30718,30951,31038,31337,32768-32785,"
    "33354,33899,34571-34573,35500,38292,40193,40911,41511,42510,44176,44442-44443,44501,"
    "45100,48080,49152-49161,49163,49165,49167,49175-49176,49400,49999-50003,50006,50300,"
    "50389,50500,50636,50800,51103,51493,52673,52822,52848,52869,54045,54328,55055-55056,"
    "55555,55600,56737-56738,57294,57797,58080,60020,60443,61532,61900,62078,63331,64623,"
    "64680,65000,65129,65389"
)

# =========================================================================== nmap scan profiles


@dataclass(frozen=True)
class _Service:
    """One open port as nmap -sV reports it."""

    port: int
    name: str
    product: str = ""
    version: str = ""
    extrainfo: str = ""
    ostype: str = ""
    tunnel: str = ""
    cpes: tuple[str, ...] = ()
    proto: str = "tcp"
    probed: bool = True  # False: only the nmap-services table guess (conf 3)


@dataclass(frozen=True)
class _OsGuess:
    """The best <osmatch> nmap -O gives for a device."""

    name: str
    accuracy: int
    line: int
    device_type: str
    vendor: str
    family: str
    generation: str
    cpe: str


_LINUX_CPE = "cpe:/o:linux:linux_kernel"
SSH_UBUNTU = _Service(22, "ssh", "OpenSSH", "8.9p1 Ubuntu 3ubuntu0.4", "Ubuntu Linux; protocol 2.0",
                      "Linux", cpes=("cpe:/a:openbsd:openssh:8.9p1", _LINUX_CPE))
SERVER_ROLE_SERVICES = {
    "web": (_Service(80, "http", "nginx", "1.24.0", cpes=("cpe:/a:igor_sysoev:nginx:1.24.0",)),
            _Service(443, "https", "nginx", "1.24.0", tunnel="ssl", cpes=("cpe:/a:igor_sysoev:nginx:1.24.0",))),
    "postgresql": (_Service(5432, "postgresql", "PostgreSQL DB", "14.9", cpes=("cpe:/a:postgresql:postgresql:14.9",)),),
    "mysql": (_Service(3306, "mysql", "MySQL", "8.0.35", cpes=("cpe:/a:mysql:mysql:8.0.35",)),),
    "app": (_Service(8080, "http-proxy", "Apache Tomcat", "9.0.83", cpes=("cpe:/a:apache:tomcat:9.0.83",)),),
    "files": (_Service(445, "microsoft-ds", "Samba smbd", "4.15", "workgroup: CORP", cpes=("cpe:/a:samba:samba",)),),
    "ci": (_Service(8080, "http", "Jenkins", "2.426.1", "Jetty 10.0.18", cpes=("cpe:/a:jenkins:jenkins:2.426.1",)),),
}
WINDOWS_SERVICES = (
    _Service(135, "msrpc", "Microsoft Windows RPC", ostype="Windows", cpes=("cpe:/o:microsoft:windows",)),
    _Service(139, "netbios-ssn", "Microsoft Windows netbios-ssn", ostype="Windows", cpes=("cpe:/o:microsoft:windows",)),
    _Service(445, "microsoft-ds", probed=False),
    _Service(3389, "ms-wbt-server", "Microsoft Terminal Services", ostype="Windows", cpes=("cpe:/o:microsoft:windows",)),
)
MACOS_SERVICES = (_Service(22, "ssh", "OpenSSH", "9.0", "protocol 2.0", cpes=("cpe:/a:openbsd:openssh:9.0",)),)
CISCO_SERVICES = (
    _Service(22, "ssh", "Cisco SSH", "1.25", "protocol 2.0", "IOS", cpes=("cpe:/o:cisco:ios",)),
    _Service(443, "https", "Cisco IOS http config", tunnel="ssl", ostype="IOS", cpes=("cpe:/o:cisco:ios",)),
    _Service(161, "snmp", "Cisco SNMP service", extrainfo="SNMPv1 server; SNMPv3 server",
             cpes=("cpe:/o:cisco:ios",), proto="udp"),
)
UNKNOWN_DEVICE_SERVICES = {
    "printer": (_Service(631, "ipp", probed=False), _Service(9100, "jetdirect", probed=False)),
    "raspberrypi": (_Service(22, "ssh", "OpenSSH", "7.9p1 Raspbian 10+deb10u2+rpt1", "protocol 2.0", "Linux",
                             cpes=("cpe:/a:openbsd:openssh:7.9p1", _LINUX_CPE)),),
    "camera": (_Service(80, "http", "Hikvision IP camera httpd", cpes=("cpe:/h:hikvision:ip_camera",)),
               _Service(554, "rtsp", "Hikvision 7513 POE IP camera rtspd", cpes=("cpe:/h:hikvision:ip_camera",))),
    "iot": (_Service(80, "http", probed=False),),
}

OS_GUESSES = {
    "linux": _OsGuess("Linux 5.0 - 5.14", 98, 67000, "general purpose", "Linux", "Linux", "5.X",
                      "cpe:/o:linux:linux_kernel:5"),
    "windows10": _OsGuess("Microsoft Windows 10 1709 - 21H2", 97, 104802, "general purpose", "Microsoft",
                          "Windows", "10", "cpe:/o:microsoft:windows_10"),
    "windows11": _OsGuess("Microsoft Windows 11 21H2 - 23H2", 96, 105170, "general purpose", "Microsoft",
                          "Windows", "11", "cpe:/o:microsoft:windows_11"),
    "macos": _OsGuess("Apple macOS 12 (Monterey) - 13 (Ventura) (Darwin 21.1.0 - 22.6.0)", 95, 6214,
                      "general purpose", "Apple", "macOS", "12.X", "cpe:/o:apple:mac_os_x:12"),
    "raspbian": _OsGuess("Linux 4.15 - 5.8", 96, 66950, "general purpose", "Linux", "Linux", "4.X",
                         "cpe:/o:linux:linux_kernel:4"),
    "printer-hp": _OsGuess("HP LaserJet Pro M404dn printer", 96, 33102, "printer", "HP", "embedded", "",
                           "cpe:/h:hp:laserjet_pro_m404dn"),
    "printer-brother": _OsGuess("Brother HL-L2350DW printer", 95, 12907, "printer", "Brother", "embedded", "",
                                "cpe:/h:brother:hl-l2350dw"),
    "camera": _OsGuess("Hikvision DS-2CD2xxx IP camera (Linux 3.X)", 94, 32470, "webcam", "Hikvision",
                       "embedded", "", "cpe:/h:hikvision:ds-2cd2032-i"),
    "iot": _OsGuess("Espressif esp8266 firmware (lwIP stack)", 93, 27301, "specialized", "Espressif",
                    "embedded", "", "cpe:/o:espressif:esp8266_firmware"),
}
CISCO_DEVICE_TYPE = {"sw": "switch", "fw": "firewall", "ap": "WAP"}
_WITH_UPTIME = ("linux", "macos", "ios", "raspbian")


@dataclass(frozen=True)
class _ScanProfile:
    """Everything per-host-constant in a <host> element, pre-rendered once."""

    services: tuple[_Service, ...]
    ports_xml: str
    os_xml: str
    reports_uptime: bool

    def port_summary(self) -> str:
        return ", ".join(f"{s.port}/{s.name}" for s in self.services)


def asset_profile(asset: Asset) -> _ScanProfile:
    return _profile(asset.kind, asset.flavor or asset.role, asset.os)


def _device_profile(device: UnknownDevice) -> _ScanProfile:
    os_key = {"raspberrypi": "raspbian", "camera": "camera", "iot": "iot"}.get(device.device_type)
    if os_key is None:
        os_key = "printer-hp" if device.vendor == "Hewlett Packard" else "printer-brother"
    return _profile("unknown", device.device_type, os_key)


@lru_cache(maxsize=None)
def _profile(kind: str, role: str, os_key: str) -> _ScanProfile:
    """Services, firewalling and OS guess for one kind of device."""
    if kind == SERVER:
        services = (SSH_UBUNTU, *SERVER_ROLE_SERVICES[role])
    elif kind == NETWORK:
        services = CISCO_SERVICES
    elif kind == "unknown":
        services = UNKNOWN_DEVICE_SERVICES[role]
    elif os_key.startswith("windows"):
        services = WINDOWS_SERVICES
    elif os_key == "macos":
        services = MACOS_SERVICES
    else:
        services = (SSH_UBUNTU,)

    if os_key == "ios":
        guess = _OsGuess("Cisco IOS 15.2(2)E - 15.2(7)E", 95, 17140, CISCO_DEVICE_TYPE[role], "Cisco", "IOS",
                         "15.X", "cpe:/o:cisco:ios:15.2")
    else:
        guess = OS_GUESSES[os_key]
    firewalled = os_key.startswith("windows")
    ttl = {"windows10": 128, "windows11": 128, "ios": 255}.get(os_key, 64)
    return _ScanProfile(
        services=services,
        ports_xml=_ports_xml(services, ttl, firewalled),
        os_xml=_os_xml(services, guess, firewalled),
        reports_uptime=os_key in _WITH_UPTIME,
    )


def _ports_xml(services: tuple[_Service, ...], ttl: int, firewalled: bool) -> str:
    open_tcp = {s.port for s in services if s.proto == "tcp"}
    not_shown = [port for port in _top_tcp_ports() if port not in open_tcp]
    state, reason = ("filtered", "no-response") if firewalled else ("closed", "reset")
    lines = [
        f'<ports><extraports state="{state}" count="{len(not_shown)}">\n'
        f'<extrareasons reason="{reason}" count="{len(not_shown)}" proto="tcp" ports="{_port_ranges(not_shown)}"/>\n'
        "</extraports>\n"
    ]
    ordered = sorted(services, key=lambda s: (s.proto != "tcp", s.port))
    lines.extend(_port_xml(service, ttl) for service in ordered)
    lines.append("</ports>\n")
    return "".join(lines)


def _port_xml(service: _Service, ttl: int) -> str:
    attrs = [f'name="{_attr(service.name)}"']
    for key, value in (("product", service.product), ("version", service.version),
                       ("extrainfo", service.extrainfo), ("ostype", service.ostype),
                       ("tunnel", service.tunnel)):
        if value:
            attrs.append(f'{key}="{_attr(value)}"')
    attrs.append('method="probed" conf="10"' if service.probed else 'method="table" conf="3"')
    cpes = "".join(f"<cpe>{escape(cpe)}</cpe>" for cpe in service.cpes)
    body = f"<service {' '.join(attrs)}>{cpes}</service>" if cpes else f"<service {' '.join(attrs)}/>"
    reason = "syn-ack" if service.proto == "tcp" else "udp-response"
    return (
        f'<port protocol="{service.proto}" portid="{service.port}">'
        f'<state state="open" reason="{reason}" reason_ttl="{ttl}"/>{body}</port>\n'
    )


def _os_xml(services: tuple[_Service, ...], guess: _OsGuess, firewalled: bool) -> str:
    first_open = min(s.port for s in services if s.proto == "tcp")
    used = [f'<os><portused state="open" proto="tcp" portid="{first_open}"/>\n']
    if not firewalled:
        used.append('<portused state="closed" proto="tcp" portid="1"/>\n')
        used.append('<portused state="closed" proto="udp" portid="40125"/>\n')
    generation = f' osgen="{_attr(guess.generation)}"' if guess.generation else ""
    return "".join(used) + (
        f'<osmatch name="{_attr(guess.name)}" accuracy="{guess.accuracy}" line="{guess.line}">\n'
        f'<osclass type="{_attr(guess.device_type)}" vendor="{_attr(guess.vendor)}" '
        f'osfamily="{_attr(guess.family)}"{generation} accuracy="{guess.accuracy}">'
        f"<cpe>{escape(guess.cpe)}</cpe></osclass>\n"
        "</osmatch>\n</os>\n"
    )


@lru_cache(maxsize=1)
def _top_tcp_ports() -> tuple[int, ...]:
    ports: list[int] = []
    for part in NMAP_TOP_TCP_PORTS.split(","):
        low, _, high = part.partition("-")
        ports.extend(range(int(low), int(high or low) + 1))
    return tuple(ports)


def _port_ranges(ports: list[int]) -> str:
    """Compress sorted port numbers the way nmap does: ``1,3-4,6-7``."""
    ranges: list[str] = []
    start = previous = ports[0]
    for port in ports[1:] + [-1]:
        if port == previous + 1:
            previous = port
            continue
        ranges.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = port
    return ",".join(ranges)


# =========================================================================== nmap writer


def write_nmap_scans(
    rng: random.Random,
    out_dir: Path,
    networks: list[ipaddress.IPv4Network],
    assets: list[Asset],
    devices: list[UnknownDevice],
    free_offsets: list[list[int]],
    scan_date: date,
) -> tuple[list[Path], dict[str, int]]:
    """One nmap XML report per subnet; returns the paths and up/down host totals."""
    targets: list[list[tuple[int, Asset | UnknownDevice]]] = [[] for _ in networks]
    for asset in assets:
        if asset.seen:
            targets[asset.subnet].append((_last_octet(asset.ip), asset))
    for device in devices:
        targets[device.subnet].append((_last_octet(device.ip), device))

    first_start = int(datetime.combine(scan_date, SCAN_START, tzinfo=timezone.utc).timestamp())
    paths, hosts_up, hosts_down = [], 0, 0
    for index, network in enumerate(networks):
        down = rng.sample(free_offsets[index], min(rng.randint(1, 3), len(free_offsets[index])))
        path = out_dir / f"nmap-{str(network.network_address).replace('.', '-')}.xml"
        up = _write_scan(rng, path, network, targets[index], down, first_start + index * SCAN_STAGGER_SECONDS)
        paths.append(path)
        hosts_up += up
        hosts_down += len(down)
    return paths, {"hosts_up": hosts_up, "hosts_down_listed": hosts_down}


def _write_scan(
    rng: random.Random,
    path: Path,
    network: ipaddress.IPv4Network,
    targets: list[tuple[int, Asset | UnknownDevice]],
    down_offsets: list[int],
    start: int,
) -> int:
    """Stream one subnet's report, hosts in address order; returns the hosts-up count."""
    prefix = str(network.network_address).rsplit(".", 1)[0] + "."
    elapsed = round(rng.uniform(600.0, 900.0), 2)
    finished = start + int(elapsed)
    entries: list[tuple[int, Asset | UnknownDevice | None]] = [*targets, *((o, None) for o in down_offsets)]
    entries.sort(key=lambda entry: entry[0])
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        handle.write(_scan_header(path.name, str(network), start))
        for offset, target in entries:
            if target is None:
                handle.write(_down_host_xml(prefix + str(offset)))
            else:
                handle.write(_up_host_xml(rng, target, start, finished))
        handle.write(_scan_footer(len(targets), finished, elapsed, network.num_addresses))
    return len(targets)


def _scan_header(file_name: str, cidr: str, start: int) -> str:
    args = f"nmap -sV -O -oX {file_name} {cidr}"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<!DOCTYPE nmaprun>\n"
        f'<nmaprun scanner="nmap" args="{_attr(args)}" start="{start}" startstr="{_ctime(start)}" '
        'version="7.94" xmloutputversion="1.05">\n'
        f'<scaninfo type="syn" protocol="tcp" numservices="1000" services="{NMAP_TOP_TCP_PORTS}"/>\n'
        '<scaninfo type="udp" protocol="udp" numservices="1" services="161"/>\n'
        '<verbose level="0"/>\n'
        '<debugging level="0"/>\n'
    )


def _scan_footer(up: int, finished: int, elapsed: float, total: int) -> str:
    when = _ctime(finished)
    summary = (
        f"Nmap done at {when}; {total} IP addresses ({up} {'host' if up == 1 else 'hosts'} up) "
        f"scanned in {elapsed:.2f} seconds"
    )
    return (
        f'<runstats><finished time="{finished}" timestr="{when}" summary="{_attr(summary)}" '
        f'elapsed="{elapsed:.2f}" exit="success"/><hosts up="{up}" down="{total - up}" total="{total}"/>\n'
        "</runstats>\n"
        "</nmaprun>\n"
    )


def _up_host_xml(rng: random.Random, target: Asset | UnknownDevice, scan_start: int, scan_end: int) -> str:
    """A live host: addresses, PTR name, open ports, OS guess, uptime and timings."""
    if isinstance(target, Asset):
        vendor = NMAP_MAC_VENDOR[target.manufacturer]
        fqdn = target.hostname + DNS_SUFFIX if target.has_ptr else None
        profile = asset_profile(target)
    else:
        vendor = target.vendor
        fqdn = target.hostname + DNS_SUFFIX if target.hostname else None
        profile = _device_profile(target)

    started = scan_start + rng.randint(1, max(2, scan_end - scan_start - 60))
    ended = min(scan_end, started + rng.randint(5, 45))
    parts = [
        f'<host starttime="{started}" endtime="{ended}"><status state="up" reason="arp-response" reason_ttl="0"/>\n',
        f'<address addr="{target.ip}" addrtype="ipv4"/>\n',
        f'<address addr="{target.mac.upper()}" addrtype="mac" vendor="{_attr(vendor)}"/>\n',
        "<hostnames>\n",
        f'<hostname name="{_attr(fqdn)}" type="PTR"/>\n' if fqdn else "",
        "</hostnames>\n",
        profile.ports_xml,
        profile.os_xml,
    ]
    if profile.reports_uptime:
        uptime = rng.randint(3600, 180 * 86400)
        parts.append(f'<uptime seconds="{uptime}" lastboot="{_ctime(ended - uptime)}"/>\n')
    srtt, rttvar = rng.randint(150, 2500), rng.randint(50, 1500)
    parts.append('<distance value="1"/>\n')
    parts.append(f'<times srtt="{srtt}" rttvar="{rttvar}" to="{max(100000, srtt + 4 * rttvar)}"/>\n</host>\n')
    return "".join(parts)


def _down_host_xml(ip: str) -> str:
    return (
        '<host><status state="down" reason="no-response" reason_ttl="0"/>\n'
        f'<address addr="{ip}" addrtype="ipv4"/>\n'
        "</host>\n"
    )


def _attr(value: str) -> str:
    """Escape a value for use inside a double-quoted XML attribute."""
    return escape(value, {'"': "&quot;"})


def _ctime(unix_time: int) -> str:
    """nmap's time format (``Fri Nov 20 08:00:00 2026``), in UTC."""
    return datetime.fromtimestamp(unix_time, tz=timezone.utc).ctime()


def _last_octet(ip: str) -> int:
    return int(ip.rsplit(".", 1)[1])

