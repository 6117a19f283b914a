"""The explorer's API on the demo company: neighborhood, path and chokePoints through GraphQL, their
bounds and their refusals, and `itam path` on the command line."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from api.cli import app as cli
from queries.explore import MAX_CHOKE_HOPS, MAX_NEIGHBOURS, MAX_PATH_HOPS

NEIGHBORHOOD = """query($id: ID!, $types: [String!], $limit: Int!) {
  neighborhood(id: $id, types: $types, limit: $limit) {
    nodes { id label name properties } edges { id source target type properties } truncated } }"""
PATH = """query($from: String!, $to: String!, $maxHops: Int!) {
  path(from: $from, to: $to, maxHops: $maxHops) { nodes { id label name } edges { source target type } } }"""
CHOKE = """query($target: String!, $maxHops: Int!) {
  chokePoints(target: $target, maxHops: $maxHops) {
    target { id name } points { node { id label name } share } reach { nodes { id } edges { source target type } } } }"""


def neighborhood(gql, id, types=None, limit=100):
    answer = gql(NEIGHBORHOOD, id=id, types=types, limit=limit)
    assert "errors" not in answer, answer
    return answer["data"]["neighborhood"]


def error_of(answer) -> str:
    assert answer.get("data") is None or not any(answer["data"].values()), answer
    return answer["errors"][0]["message"]


def test_search_by_hostname_gives_the_node_and_its_first_degree(gql, demo):
    server = demo.highlights["deployed_server"]
    graph = neighborhood(gql, server["hostname"])
    centre = graph["nodes"][0]
    assert centre["name"] == server["hostname"] and centre["label"] == "Host"
    assert centre["id"].startswith("Asset:") and centre["properties"]["verdict"] == "EXPECTED"
    assert {e["source"] for e in graph["edges"]} | {e["target"] for e in graph["edges"]} == {n["id"] for n in graph["nodes"]}
    assert all(centre["id"] in (e["source"], e["target"]) for e in graph["edges"])
    assert {"OWNS", "HAS_IP", "LISTENS_ON"} <= {e["type"] for e in graph["edges"]}
    # identifiers and sightings belong to the details panel unless asked for
    assert not {"IDENTIFIES", "SEEN_BY"} & {e["type"] for e in graph["edges"]}
    for kind in ("ip", "mac", "serial", "asset_tag"):
        assert neighborhood(gql, server[kind])["nodes"][0]["id"] == centre["id"], kind


def test_node_ids_round_trip_for_people_groups_and_the_internet(gql, demo):
    person = demo.highlights["departed_vpn_user"]["email"]
    by_mail = neighborhood(gql, person)
    assert by_mail["nodes"][0]["id"] == f"Person:{person}" and by_mail["nodes"][0]["label"] == "Person"
    assert neighborhood(gql, f"Person:{person}")["nodes"] == by_mail["nodes"]
    internet = neighborhood(gql, "Internet")
    assert internet["nodes"][0]["id"] == "Internet:internet"
    group = next(e["target"] for e in neighborhood(gql, demo.highlights["internet_bastion"]["cloud_id"])["edges"]
                 if e["target"].startswith("SecurityGroup:"))
    assert neighborhood(gql, group)["nodes"][0]["id"] == group
    for node in by_mail["nodes"]:
        assert neighborhood(gql, node["id"], limit=1)["nodes"][0]["id"] == node["id"]


def test_relationship_types_filter_and_verdicts_on_assets(gql, demo):
    person = demo.highlights["departed_vpn_user"]["email"]
    held = neighborhood(gql, person, types=["ISSUED_TO"])
    assert held["edges"] and {e["type"] for e in held["edges"]} == {"ISSUED_TO"}
    assert {n["label"] for n in held["nodes"][1:]} == {"Credential"}
    alone = neighborhood(gql, person, types=["INVOLVES"])
    assert [n["id"] for n in alone["nodes"]] == [f"Person:{person}"] and alone["edges"] == []
    identifiers = neighborhood(gql, demo.highlights["departed_owner"]["hostname"], types=["IDENTIFIES"])
    assert {n["label"] for n in identifiers["nodes"][1:]} == {"Identifier"}
    assert identifiers["nodes"][0]["properties"]["verdict"] == "REVIEW"
    assert any("left" in r for r in identifiers["nodes"][0]["properties"]["verdict_reasons"])


def test_bad_relationship_types_are_refused_and_run_nothing(gql, demo, settings):
    from graph.store import Store
    store = Store.from_settings(settings)
    before = store.counts()
    for bad in (["OWNS]->(x) DETACH DELETE x //"], ["owns"], ["OWNS", "FRIEND_OF"]):
        message = error_of(gql(NEIGHBORHOOD, id="Internet", types=bad, limit=10))
        assert "unknown relationship type" in message and "OWNS" in message.split("known:")[1]
    assert store.counts() == before
    store.close()


def test_neighbourhood_limit_is_bounded_and_truncation_is_told(gql, demo):
    host = demo.highlights["demo_laptop"]["hostname"]
    everything = neighborhood(gql, host, limit=MAX_NEIGHBOURS)
    count = len(everything["edges"])
    assert count > 2 and everything["truncated"] is False
    exact = neighborhood(gql, host, limit=count)
    assert len(exact["edges"]) == count and exact["truncated"] is False
    cut = neighborhood(gql, host, limit=count - 1)
    assert len(cut["edges"]) == count - 1 and cut["truncated"] is True
    for limit in (0, MAX_NEIGHBOURS + 1):
        assert "limit must be between 1 and" in error_of(gql(NEIGHBORHOOD, id=host, types=None, limit=limit))


def test_unknown_things_are_named_in_the_error(gql, demo):
    assert "nothing in the graph is called 'no-such-host'" in error_of(
        gql(NEIGHBORHOOD, id="no-such-host", types=None, limit=5))
    assert "no Person has email 'nobody@example.com'" in error_of(
        gql(NEIGHBORHOOD, id="nobody@example.com", types=None, limit=5))


def test_path_from_the_internet_to_the_database_is_shortest_and_bounded(gql, demo):
    database = demo.highlights["aws_database"]["cloud_id"]
    bastion = demo.highlights["internet_bastion"]["cloud_id"]
    found = gql(PATH, **{"from": "Internet", "to": database, "maxHops": 6})["data"]["path"]
    names = [n["name"] for n in found["nodes"]]
    assert names[0] == "Internet" and found["nodes"][-1]["label"] == "Host"
    bastion_id = neighborhood(gql, bastion, limit=1)["nodes"][0]["id"]
    assert bastion_id in [n["id"] for n in found["nodes"]]
    assert [e["type"] for e in found["edges"]] == ["CAN_REACH", "IN", "CAN_REACH", "IN", "CAN_REACH"]
    # five relationships: found at maxHops 5, not at 4
    assert len(gql(PATH, **{"from": "Internet", "to": database, "maxHops": 5})["data"]["path"]["edges"]) == 5
    assert gql(PATH, **{"from": "Internet", "to": database, "maxHops": 4})["data"]["path"] == {"nodes": [], "edges": []}
    # access flows one way: nothing from the database back out to the Internet
    assert gql(PATH, **{"from": database, "to": "Internet", "maxHops": 8})["data"]["path"]["nodes"] == []
    for hops in (0, MAX_PATH_HOPS + 1):
        assert "maxHops must be between 1 and" in error_of(gql(PATH, **{"from": "Internet", "to": database,
                                                                        "maxHops": hops}))


def test_path_from_a_departed_person_follows_their_credentials(gql, demo):
    person = demo.highlights["departed_vpn_user"]["email"]
    reached = [e for e in neighborhood(gql, person, types=["ISSUED_TO"])["nodes"][1:]]
    target = next(n for c in reached for n in neighborhood(gql, c["id"], types=["GRANTS_ACCESS_TO"])["nodes"][1:])
    found = gql(PATH, **{"from": person, "to": target["id"], "maxHops": 6})["data"]["path"]
    assert found["nodes"][0]["id"] == f"Person:{person}" and found["nodes"][-1]["id"] == target["id"]
    # ISSUED_TO is walked against its arrow; the edge keeps the arrow as stored
    assert found["edges"][0] == {"source": found["nodes"][1]["id"], "target": f"Person:{person}", "type": "ISSUED_TO"}


def test_choke_points_between_the_internet_and_the_database(gql, demo):
    database = demo.highlights["aws_database"]["cloud_id"]
    answer = gql(CHOKE, target=database, maxHops=4)["data"]["chokePoints"]
    shares = {p["node"]["name"]: p["share"] for p in answer["points"]}
    assert shares["prod-bastion-01"] == 1.0
    groups = [p for p in answer["points"] if p["node"]["label"] == "SecurityGroup"]
    assert len(groups) == 2 and all(p["share"] == 1.0 for p in groups)
    apps = [p for p in answer["points"] if p["node"]["name"].startswith("prod-app-")]
    assert apps and abs(sum(p["share"] for p in apps) - 1.0) < 1e-6
    assert answer["points"][0]["share"] >= answer["points"][-1]["share"]
    reach_ids = {n["id"] for n in answer["reach"]["nodes"]}
    assert {"Internet:internet", answer["target"]["id"]} | {p["node"]["id"] for p in answer["points"]} == reach_ids
    # Internet -> bastion -> app -> database is three host-to-host hops
    assert gql(CHOKE, target=database, maxHops=3)["data"]["chokePoints"]["points"]
    assert gql(CHOKE, target=database, maxHops=2)["data"]["chokePoints"]["points"] == []
    for hops in (0, MAX_CHOKE_HOPS + 1):
        assert "maxHops must be between 1 and" in error_of(gql(CHOKE, target=database, maxHops=hops))
    assert "not an asset" in error_of(gql(CHOKE, target="Internet", maxHops=2))


def test_itam_path_on_the_command_line(demo, cli_env):
    database = demo.highlights["aws_database"]["cloud_id"]
    result = CliRunner().invoke(cli, ["path", "Internet", database])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("Internet (Internet) -[CAN_REACH tcp/22]-> prod-bastion-01")
    as_json = json.loads(CliRunner().invoke(cli, ["path", "Internet", database, "--json"]).output)
    assert len(as_json["edges"]) == 5 and as_json["nodes"][0]["id"] == "Internet:internet"
    none = CliRunner().invoke(cli, ["path", "Internet", database, "--max-hops", "4"])
    assert none.exit_code == 4 and "no access path" in none.output


def test_pages_load_without_a_token_but_no_answer_does(settings, demo):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.auth import Role, TokenAuth
    from tests.explorer.conftest import TOKEN
    app = create_app(settings, TokenAuth({TOKEN: Role.READER}, allow_anonymous=False))
    with TestClient(app) as client:
        page = client.get("/explore")
        assert page.status_code == 200 and "/static/vendor/cytoscape.min.js" in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        ide = client.get("/graphql", headers={"Accept": "text/html"})
        assert ide.status_code == 200 and "/static/vendor/graphiql.min.js" in ide.text
        assert client.get("/static/vendor/cytoscape.min.js").status_code == 200
        query = "{ neighborhood(id: \"Internet\") { nodes { id } } }"
        assert client.get("/graphql", params={"query": query}, headers={"Accept": "text/html"}).status_code == 401
        assert client.post("/graphql", json={"query": query}).status_code == 401
        allowed = client.post("/graphql", json={"query": query}, headers={"Authorization": f"Bearer {TOKEN}"})
        assert allowed.json()["data"]["neighborhood"]["nodes"][0]["id"] == "Internet:internet"


def test_explorer_queries_seek_by_index(settings, demo):
    """Every explorer statement starts from an index or element-id seek, never a scan."""
    from graph.store import connect
    from queries.catalog import CATALOG
    driver = connect(settings)

    def operators(plan) -> set[str]:
        return {plan["operatorType"].split("@")[0]} | {op for child in plan.get("children", [])
                                                       for op in operators(child)}
    explorer = [q for q in CATALOG.values() if q.category == "explorer"]
    assert len(explorer) > 20
    with driver.session(database=settings.neo4j_database) as session:
        for query in explorer:
            plan = session.run("EXPLAIN " + query.cypher).consume().plan
            used = operators(plan)
            assert not used & {"AllNodesScan", "NodeByLabelScan"}, (query.name, used)
            assert used & {"NodeByElementIdSeek", "NodeUniqueIndexSeek", "NodeIndexSeek"}, (query.name, used)
    driver.close()
