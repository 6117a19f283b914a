"""Hostile files, property-based: every connector's parser, fed arbitrary bytes and its own real fixture
files mutated (truncated, fields swapped, encodings broken, numbers overflowed, hostile text inserted),
gives a clean parse or an IngestError naming the file, never another exception; and an ingest of such
a file either succeeds or leaves the graph exactly as it was.

The budget is the Hypothesis profile's (tests/hostile.py): `ci` in `make test`, `make fuzz` for longer."""
from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings as hypothesis_settings, strategies as st

from graph.models import Batch
from ingest.errors import IngestError
from ingest.pipeline import ingest_files
from ingest.registry import CONNECTORS
from tests.hostile import mutated, seeds

COMMANDS = sorted(CONNECTORS)
LIMIT = 8 * 1024 * 1024


def parse_bytes(command: str, name: str, data: bytes) -> Batch | IngestError:
    """Write the bytes to a file called `name` and parse it; an IngestError is returned, anything else raised."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        try:
            return CONNECTORS[command].parse(path, LIMIT)
        except IngestError as exc:
            assert exc.problems, "an IngestError names at least one problem"
            for problem in exc.problems:
                assert Path(problem.file).name == name or Path(problem.file) == path.parent, str(exc)
                assert problem.message.strip(), str(exc)
            assert name in str(exc)
            return exc


def test_every_connector_has_a_seed_file():
    for command in COMMANDS:
        assert seeds(command), f"{command} has no seed file in tests/hostile.py SEEDS"


def test_every_seed_file_parses_cleanly():
    """The mutations start from valid files, so what they find is the mutation's doing."""
    for command in COMMANDS:
        for name, data in seeds(command):
            result = parse_bytes(command, name, data)
            if name == "spdx3.jsonld":         # refused by design: SPDX 3 is another format
                assert isinstance(result, IngestError) and "SPDX 3" in str(result)
            else:
                assert isinstance(result, Batch), f"{command} {name}: {result}"


@pytest.mark.parametrize("command", COMMANDS)
@given(data=st.binary(max_size=4096))
def test_arbitrary_bytes_are_parsed_or_refused_cleanly(command, data):
    suffix = Path(seeds(command)[0][0]).suffix
    parse_bytes(command, f"input{suffix}", data)


@pytest.mark.parametrize("command", COMMANDS)
@given(data=st.data())
def test_mutated_real_files_are_parsed_or_refused_cleanly(command, data):
    name, content = data.draw(mutated(command))
    parse_bytes(command, name, content)


@pytest.mark.parametrize("command", COMMANDS)
@hypothesis_settings(max_examples=max(10, hypothesis_settings.default.max_examples // 10))   # each one a real ingest
@given(data=st.data())
def test_an_ingest_of_a_mutated_file_succeeds_or_writes_nothing(command, data, store, settings, tmp_path):
    settings = replace(settings, evaluate_findings=False)
    name, content = data.draw(mutated(command))
    path = tmp_path / name
    path.write_bytes(content)
    before = store.counts()
    try:
        ingest_files(store, CONNECTORS[command].source, [path], settings)
    except IngestError as exc:
        assert name in str(exc)
        assert store.counts() == before, f"refused, yet the graph changed: {exc}"


@pytest.mark.parametrize("days, refused", [("36500", False), ("36501", True)])
def test_a_notice_period_is_at_most_36500_of_its_unit(tmp_path, days, refused):
    path = tmp_path / "contracts.csv"
    path.write_text(f"vendor,reference,start_date,end_date,notice_period\nDell,D-1,2024-01-15,2027-01-14,{days} days\n")
    result = parse_bytes("contracts", path.name, path.read_bytes())
    if refused:
        assert isinstance(result, IngestError)
        assert str(result).endswith(f"contracts.csv line 2, field 'notice_period': '{days} days' is not a notice period: "
                                      "more than 36500 of anything")
    else:
        assert result.contracts[0].notice_days == 36500


@pytest.mark.parametrize("port, refused", [(65535, False), (65536, True)])
def test_an_nmap_port_number_is_at_most_65535(port, refused):
    name, scan = seeds("nmap")[0]
    assert b'portid="' in scan
    data = scan.replace(b'portid="', f'portid="{port}" x="'.encode(), 1)
    result = parse_bytes("nmap", name, data)
    if refused:
        assert isinstance(result, IngestError)
        assert f"field 'portid': <port portid={port}> is not a port number (0-65535)" in str(result)
    else:
        assert port in {p.number for h in result.hosts for p in h.ports}


def test_an_nmap_time_past_the_calendar_is_a_clean_error():
    name, scan = seeds("nmap")[0]
    data = scan.replace(b'endtime="', b'endtime="99999999999999999999" x="')
    result = parse_bytes("nmap", name, data)
    assert isinstance(result, IngestError) and "field 'endtime': time 99999999999999999999 is out of range" in str(result)
