"""CycloneDX 1.5 JSON SBOMs of two internal applications (``sbom-<app>.cdx.json``)."""
from __future__ import annotations

import json
from typing import Any
import uuid as uuid_module
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

from demo.org import stream
from ingest.purls import package_purl

SBOM_APPS: tuple[dict[str, Any], ...] = (
    {
        "name": "payroll-portal", "version": "3.4.1", "group": "com.example", "ecosystem": "maven",
        "tool": ("org.cyclonedx", "cyclonedx-maven-plugin", "2.7.9"),
        "components": (
            ("org.springframework.boot", "spring-boot-starter-web", "2.5.4", "Apache-2.0"),
            ("org.springframework", "spring-core", "5.3.9", "Apache-2.0"),
            ("org.springframework", "spring-webmvc", "5.3.9", "Apache-2.0"),
            ("org.apache.tomcat.embed", "tomcat-embed-core", "9.0.52", "Apache-2.0"),
            ("org.apache.logging.log4j", "log4j-api", "2.14.1", "Apache-2.0"),
            ("org.apache.logging.log4j", "log4j-core", "2.14.1", "Apache-2.0"),
            ("com.fasterxml.jackson.core", "jackson-databind", "2.12.3", "Apache-2.0"),
            ("org.apache.commons", "commons-text", "1.9", "Apache-2.0"),
            ("org.yaml", "snakeyaml", "1.28", "Apache-2.0"),
            ("com.google.guava", "guava", "30.1-jre", "Apache-2.0"),
            ("org.postgresql", "postgresql", "42.2.18", "BSD-2-Clause"),
            ("ch.qos.logback", "logback-classic", "1.2.5", "EPL-1.0"),
        ),
    },
    {
        "name": "customer-portal", "version": "2.8.0", "group": "", "ecosystem": "npm",
        "tool": ("@cyclonedx", "cyclonedx-npm", "1.16.1"),
        "components": (
            ("", "express", "4.17.1", "MIT"),
            ("", "lodash", "4.17.15", "MIT"),
            ("", "axios", "0.21.0", "MIT"),
            ("", "minimist", "1.2.5", "MIT"),
            ("", "moment", "2.29.1", "MIT"),
            ("", "jsonwebtoken", "8.5.1", "MIT"),
            ("", "node-fetch", "2.6.0", "MIT"),
            ("", "qs", "6.7.0", "BSD-3-Clause"),
            ("", "ws", "7.4.5", "MIT"),
            ("", "semver", "5.7.1", "ISC"),
            ("", "react", "17.0.2", "MIT"),
            ("", "react-dom", "17.0.2", "MIT"),
            ("@babel", "runtime", "7.12.5", "MIT"),
        ),
    },
)


def _purl(ecosystem: str, group: str, name: str, version: str) -> str:
    qualifiers = (("type", "jar"),) if ecosystem == "maven" else ()
    return package_purl(ecosystem, group or None, name, version, qualifiers)


def write_sboms(out_dir: Path, seed: int, scan_date: date, counts: dict[str, int]) -> list[Path]:
    """One CycloneDX 1.5 JSON SBOM per internal application, as its build plugin writes it."""
    rng = stream(seed, "sbom")
    paths, components = [], 0
    for app in SBOM_APPS:
        built = datetime.combine(scan_date, time(0, 0), tzinfo=timezone.utc) - timedelta(
            days=rng.randint(1, 20), seconds=rng.randint(0, 86399))
        tool_group, tool_name, tool_version = app["tool"]
        app_purl = _purl(app["ecosystem"], app["group"], app["name"], app["version"])
        libraries = []
        for group, name, version, license_id in app["components"]:
            purl = _purl(app["ecosystem"], group, name, version)
            library: dict[str, Any] = {"type": "library", "bom-ref": purl}
            if group:
                library["group"] = group
            library.update({"name": name, "version": version, "scope": "required",
                            "licenses": [{"license": {"id": license_id}}], "purl": purl})
            libraries.append(library)
        component: dict[str, Any] = {"type": "application", "bom-ref": app["name"]}
        if app["group"]:
            component["group"] = app["group"]
        component.update({"name": app["name"], "version": app["version"], "purl": app_purl})
        document = {
            "$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json",
            "bomFormat": "CycloneDX",
            "specVersion": "1.5",
            "serialNumber": f"urn:uuid:{uuid_module.UUID(int=rng.getrandbits(128), version=4)}",
            "version": 1,
            "metadata": {
                "timestamp": built.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "tools": {"components": [{"type": "application", "group": tool_group, "name": tool_name,
                                          "version": tool_version}]},
                "component": component,
            },
            "components": libraries,
            "dependencies": [{"ref": app["name"], "dependsOn": [lib["bom-ref"] for lib in libraries]}]
            + [{"ref": lib["bom-ref"], "dependsOn": []} for lib in libraries],
        }
        path = out_dir / f"sbom-{app['name']}.cdx.json"
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8", newline="\n")
        paths.append(path)
        components += len(libraries)
    counts.update({"sbom_files": len(paths), "sbom_components": components})
    return paths


