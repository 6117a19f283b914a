"""The explorer in real headless Chromium against the demo company: what an analyst clicks, and
what the browser fetched (only ever the app's own origin)."""
from __future__ import annotations

import struct
from urllib.parse import quote

from tests.explorer.conftest import TOKEN, docs_dir

READY = "body[data-ready=true]"


def open_explorer(page, live, query: str = "") -> None:
    page.goto(f"{live.url}/explore{query}")
    page.wait_for_selector(READY)


def node_ids(page) -> set[str]:
    return set(page.evaluate("explorer.cy.nodes().map(n => n.id())"))


def highlighted(page) -> set[str]:
    return set(page.evaluate("explorer.cy.nodes('.highlighted').map(n => n.id())"))


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", data[:16]
    return struct.unpack(">II", data[16:24])


def test_search_then_focus_shows_the_neighbourhood_and_the_details(page, live, gql, demo):
    server = demo.highlights["deployed_server"]
    open_explorer(page, live)
    page.fill("#search", server["mac"])
    page.click("#search-form button")
    page.wait_for_selector("#status:has-text('nodes around')")
    centre = gql('{ node(id: "%s") { id } }' % server["serial"])["data"]["node"]["id"]
    expected = gql('{ neighborhood(id: "%s", limit: 300) { nodes { id } } }' % server["serial"])
    assert node_ids(page) == {n["id"] for n in expected["data"]["neighborhood"]["nodes"]}
    assert page.evaluate("explorer.cy.$(':selected').map(n => n.id())") == [centre]
    page.wait_for_selector("#details .verdict-EXPECTED")
    assert server["hostname"] in page.inner_text("#details")
    assert f"focus={quote(server['mac'])}" in page.url or "focus=" + server["mac"] in page.url


def test_expand_by_relationship_type_adds_only_that_type(page, live, demo):
    host = demo.highlights["departed_owner"]["hostname"]
    open_explorer(page, live, f"?focus={host}")
    before = node_ids(page)
    assert not any(i.startswith("Identifier:") for i in before)
    page.wait_for_selector("#expand-type")
    page.select_option("#expand-type", "IDENTIFIES")
    page.click("#details button:has-text('Expand')")
    page.wait_for_selector("#status:has-text('by IDENTIFIES')")
    added = node_ids(page) - before
    assert added and all(i.startswith("Identifier:") for i in added)
    assert f"Identifier:hostname:{host}" in added
    # the owner left: the host's verdict is on the node
    assert page.evaluate("explorer.cy.$(':selected').data('caption')") == f"{host}\nREVIEW"


def test_internet_to_database_path_is_highlighted(page, live, gql, demo):
    database = demo.highlights["aws_database"]["cloud_id"]
    open_explorer(page, live)
    page.fill("#path-from", "Internet")
    page.fill("#path-to", database)
    page.click("#path-form button")
    page.wait_for_selector("#highlight-panel:not([hidden])")
    path = gql('{ path(from: "Internet", to: "%s") { nodes { id } } }' % database)["data"]["path"]["nodes"]
    assert highlighted(page) == {n["id"] for n in path} and "Internet:internet" in highlighted(page)
    assert page.evaluate("explorer.cy.edges('.highlighted').length") == len(path) - 1
    items = page.locator("#highlight-list li")
    assert items.count() == len(path) and items.first.inner_text().startswith("Internet")
    assert "from=Internet" in page.url
    # the deep link opens the same picture
    again = page.context.new_page()
    again.goto(page.url)
    again.wait_for_selector("#highlight-panel:not([hidden])")
    assert highlighted(again) == highlighted(page)


def test_choke_points_are_highlighted_with_their_share(page, live, demo):
    database = demo.highlights["aws_database"]["cloud_id"]
    open_explorer(page, live, f"?choke={database}&maxHops=3")
    page.wait_for_selector("#highlight-panel:not([hidden])")
    listed = page.inner_text("#highlight-list")
    assert "prod-bastion-01 (Host) — 100% of paths" in listed
    assert sum(1 for i in highlighted(page) if i.startswith("SecurityGroup:")) == 2


def test_node_cap_turns_the_view_into_a_table(page, live, gql, demo):
    host = demo.highlights["demo_laptop"]["hostname"]
    size = len(gql('{ neighborhood(id: "%s", limit: 300) { nodes { id } } }' % host)["data"]["neighborhood"]["nodes"])
    open_explorer(page, live, f"?focus={host}&cap={size}")
    assert page.is_hidden("#table-view") and len(node_ids(page)) == size
    page.goto(f"{live.url}/explore?focus={host}&cap={size - 1}")
    page.wait_for_selector("#table-view:not([hidden])")
    assert f"{size} nodes are more than the {size - 1}-node cap" in page.inner_text("#cap-message")
    assert page.locator("#node-table tbody tr").count() == size
    assert page.is_hidden("#cy") and node_ids(page) == set()


def test_png_and_json_exports(page, live, demo, tmp_path):
    open_explorer(page, live, f"?focus={demo.highlights['internet_bastion']['cloud_id']}&hops=2")
    with page.expect_download() as download:
        page.click("#export-png")
    png = tmp_path / "view.png"
    download.value.save_as(png)
    width, height = png_size(png.read_bytes())
    assert width > 100 and height > 100 and png.stat().st_size > 5000
    with page.expect_download() as download:
        page.click("#export-json")
    saved = tmp_path / "view.json"
    download.value.save_as(saved)
    import json
    exported = json.loads(saved.read_text())
    assert {n["id"] for n in exported["nodes"]} == node_ids(page)
    assert all({"source", "target", "type"} <= set(e) for e in exported["edges"]) and exported["edges"]


def test_show_query_gives_the_graphql_behind_the_view(page, live, demo):
    open_explorer(page, live, "?focus=Internet")
    page.click("#show-query")
    text = page.inner_text("#query-text")
    assert "neighborhood(id: $id, types: $types, limit: $limit)" in text and '"id": "Internet"' in text
    assert page.get_attribute("#query-graphiql", "href").startswith("/graphql?query=")


def test_token_prompt_shows_nothing_until_a_valid_token(page, live_with_tokens, demo):
    host = demo.highlights["deployed_server"]["hostname"]
    page.goto(f"{live_with_tokens.url}/explore?focus={host}")
    page.wait_for_selector("#token-dialog[open]")
    assert node_ids(page) == set() and "token is needed" in page.inner_text("#status")
    page.fill("#token-input", "not-the-right-token-000")
    page.click("#token-form button")
    page.wait_for_selector("#token-error:has-text('refused')")
    assert node_ids(page) == set()
    page.fill("#token-input", TOKEN)
    page.click("#token-form button")
    page.wait_for_selector("#status:has-text('nodes around')")
    assert any(n.startswith("Asset:") for n in node_ids(page))
    assert page.evaluate("sessionStorage.getItem('itam-token')") == TOKEN
    # a new tab keeps nothing: it asks again
    other = page.context.new_page()
    other.goto(f"{live_with_tokens.url}/explore")
    other.wait_for_selector("#token-dialog[open]")


def test_nothing_leaves_the_apps_origin(page, live, demo):
    database = demo.highlights["aws_database"]["cloud_id"]
    open_explorer(page, live, f"?focus={demo.highlights['demo_laptop']['email']}&hops=2")
    page.fill("#path-from", "Internet")
    page.fill("#path-to", database)
    page.click("#path-form button")
    page.wait_for_selector("#highlight-panel:not([hidden])")
    page.goto(f"{live.url}/graphql")
    page.wait_for_selector(".graphiql-execute-button")
    page.click(".graphiql-execute-button")
    page.wait_for_selector(".result-window :text('data')")
    assert len(page.requests_seen) > 10
    assert [url for url in page.requests_seen if not url.startswith(live.url + "/")] == []
    assert any(url.endswith("/static/vendor/cytoscape.min.js") for url in page.requests_seen)
    assert any(url.endswith("/static/vendor/graphiql.min.js") for url in page.requests_seen)


def test_readme_screenshot_of_the_demo(page, live, demo):
    """Writes docs/explorer.png: the Internet-to-database choke points on the demo company."""
    database = demo.highlights["aws_database"]["cloud_id"]
    open_explorer(page, live, f"?focus={demo.highlights['internet_bastion']['cloud_id']}")
    page.fill("#choke-target", database)
    page.click("#choke-form button")
    page.wait_for_selector("#highlight-panel:not([hidden])")
    target = docs_dir() / "explorer.png"
    page.screenshot(path=str(target))
    width, height = png_size(target.read_bytes())
    assert (width, height) == (1400, 850)


def test_filters_legend_group_collapse_and_hide(page, live, demo):
    open_explorer(page, live, f"?focus={demo.highlights['demo_laptop']['hostname']}")
    software = page.evaluate("explorer.cy.nodes('[label = \"Software\"]').length")
    assert software >= 2
    legend = page.locator("#legend li", has_text="Software")
    assert legend.inner_text().strip() == f"Software ({software})"
    legend.locator("input").uncheck()
    assert page.evaluate("explorer.cy.nodes('.filtered').map(n => n.data('label'))") == ["Software"] * software
    legend.locator("input").check()
    assert page.evaluate("explorer.cy.nodes('.filtered').length") == 0
    page.locator("#rel-filter li", has_text="INSTALLED").locator("input").uncheck()
    assert set(page.evaluate("explorer.cy.edges('.filtered').map(e => e.data('type'))")) == {"INSTALLED"}
    page.locator("#rel-filter li", has_text="INSTALLED").locator("input").check()

    centre = page.evaluate("explorer.cy.$(':selected').id()")
    total = len(node_ids(page))
    page.click("#details button:has-text('Group')")
    group = f"group:{centre}:Software"
    assert page.evaluate(f"explorer.cy.getElementById('{group}').data('caption')") == f"{software} Software"
    assert page.evaluate("explorer.cy.nodes('[label = \"Software\"]').length") == 1
    groups = page.evaluate("explorer.cy.nodes('.group').map(n => n.id())")
    assert group in groups and len(node_ids(page)) < total
    for folded in groups:  # every label with two or more leaves was folded; unfold them all
        page.evaluate(f"explorer.select('{folded}')")
    assert page.evaluate("explorer.cy.nodes('[label = \"Software\"]').length") == software
    assert len(node_ids(page)) == total

    leaves = page.evaluate(f"explorer.cy.getElementById('{centre}').neighborhood('node')"
                           ".filter(n => n.degree(false) <= 1).length")
    page.evaluate(f"explorer.select('{centre}')")
    page.wait_for_selector("#details button:has-text('Collapse')")
    page.click("#details button:has-text('Collapse')")
    assert len(node_ids(page)) == total - leaves
    page.click("#details button:has-text('Hide')")
    assert centre not in node_ids(page)


def test_blast_radius_labels_edges_with_ports(page, live, gql, demo):
    bastion = demo.highlights["internet_bastion"]["cloud_id"]
    open_explorer(page, live, f"?focus={bastion}")
    page.select_option("#blast-hops", "2")
    page.click("#details button:has-text('Blast radius')")
    page.wait_for_selector("#highlight-title:has-text('Blast radius')")
    reached = gql('{ asset(identifier: "%s") { reachable(maxHops: 2) { asset { id } ports } } }'
                  % bastion)["data"]["asset"]["reachable"]
    edges = page.evaluate("explorer.cy.edges('.reach').map(e => [e.target().id(), e.data('caption')])")
    assert reached and sorted(edges) == sorted(
        [f"Asset:{r['asset']['id']}", " ".join(["REACHES"] + ([",".join(r["ports"])] if r["ports"] else []))]
        for r in reached)
    assert "blast=2" in page.url


def test_a_findings_rule_highlights_its_subjects(page, live, gql, demo):
    rule = "decommissioned-but-seen"
    found = gql('{ findings(rule: "%s", first: 50) { edges { node { subject assets { id name } } } } }' % rule)
    expected = {"Asset:" + a["id"] for e in found["data"]["findings"]["edges"] for a in e["node"]["assets"]}
    alive = demo.highlights["decommissioned_alive"]["hostname"]
    assert expected and any(a["name"] == alive for e in found["data"]["findings"]["edges"] for a in e["node"]["assets"])
    open_explorer(page, live)
    page.select_option("#findings-rule", rule)
    page.click("#findings-form button")
    page.wait_for_selector("#highlight-panel:not([hidden])")
    assert highlighted(page) == expected
    assert page.text_content("#highlight-title") == f"Findings: {rule}" and alive in page.inner_text("#highlight-list")
    assert f"finding={rule}" in page.url
    page.goto(f"{live.url}/explore?finding=shadow-it")   # the deep link opens another rule's view
    page.wait_for_selector(READY)
    shadow = gql('{ findings(rule: "shadow-it", first: 50) { edges { node { assets { id } } } } }')
    assert highlighted(page) == {"Asset:" + a["id"] for e in shadow["data"]["findings"]["edges"]
                                 for a in e["node"]["assets"]}
