"""Seeded, deterministic generator of a realistic company as real-format files.

The demo and the benchmarks feed these files to the product's connectors exactly as
a customer would, one set per source (see ``SOURCE_ORDER``), one module per format:

- ``hr.csv`` (:mod:`demo.hr`, the HR directory) and ``scim-users.json`` (:mod:`demo.scim`, the
  identity provider's SCIM 2.0 ListResponse of the same people);
- ``snipeit-assets.csv`` (:mod:`demo.snipeit`, the inventory of record), ``snipeit-licenses.csv``
  (:mod:`demo.licenses`, licence seats) and ``contracts.csv`` (:mod:`demo.contracts`);
- ``aws-ec2-describe-{instances,security-groups,subnets,vpcs}.json`` and
  ``aws-iam-credential-report.json`` (:mod:`demo.aws`: an AWS account with an internet-facing
  bastion, app servers behind it and databases behind those);
- one ``nmap -sV -O`` XML report per /24 subnet (:mod:`demo.nmap`), and ``osquery-results.log``
  (:mod:`demo.osquery`: snapshots of system_info, os_version, packages, interfaces, listening
  ports, certificates and authorized_keys from ~85% of deployed hosts);
- ``coverage-{edr,mdm,logging}.csv`` (:mod:`demo.coverage`, control consoles' exports,
  deliberately incomplete);
- ``certs/`` (:mod:`demo.certificates`: an internal CA, TLS server and VPN client certificates, no
  private keys) and ``sbom-<app>.cdx.json`` (:mod:`demo.sbom`, CycloneDX 1.5 SBOMs of two
  internal applications).

:mod:`demo.org` builds the company (people, assets, unknown devices, addresses) and
:mod:`demo.plan` the decisions the other sources share. Everything is derived from
``random.Random(seed)`` streams consumed in a fixed order (the original HR/Snipe-IT/nmap stream,
and one named stream per other concern), and no wall-clock time is used, so a given
(hosts, seed, scan_date, subnets, cloud_hosts) always produces byte-identical files, whichever
``sources`` are written. Rows, hosts and instances are written as they are rendered, and every
step is linear in the company's size, so a million hosts stream out without large strings.

Usage::

    python -m demo OUT_DIR [--hosts N] [--seed S] [--subnets K] [--scan-date YYYY-MM-DD]
                           [--sources hr,snipeit,nmap,...] [--cloud-hosts N]
"""
from demo.generate import SOURCE_ORDER, OrgManifest, generate_org, main
from demo.org import DEFAULT_SCAN_DATE, MIN_HOSTS

__all__ = ["DEFAULT_SCAN_DATE", "MIN_HOSTS", "OrgManifest", "SOURCE_ORDER", "generate_org", "main"]
