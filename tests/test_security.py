"""Hostile callers and hostile data: the local database's login, file access, and what the CLI prints."""
from __future__ import annotations

import stat

import pytest
from neo4j import GraphDatabase
from neo4j.exceptions import AuthError, ClientError

from graph.local_secrets import NEO4J_PASSWORD_FILE


def test_local_neo4j_refuses_a_connection_without_its_password(neo4j_server):
    for auth in (None, ("neo4j", "neo4j"), ("neo4j", "not-the-password-at-all")):
        with GraphDatabase.driver(neo4j_server.uri, auth=auth) as driver:
            with pytest.raises(AuthError):
                driver.execute_query("RETURN 1")


def test_the_password_is_random_and_readable_by_its_owner_only(neo4j_server, settings):
    path = settings.home / NEO4J_PASSWORD_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_text().strip()) >= 32
    assert settings.auth == ("neo4j", path.read_text().strip())
    with GraphDatabase.driver(neo4j_server.uri, auth=settings.auth) as driver:
        assert driver.execute_query("RETURN 1 AS one").records[0]["one"] == 1


def test_load_csv_cannot_read_local_files(store):
    with pytest.raises(ClientError, match="allow_csv_import_from_file_urls"):
        store.read("LOAD CSV FROM 'file:///etc/passwd' AS line RETURN line LIMIT 1")
