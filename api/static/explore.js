// The analyst's explorer: every answer comes from /graphql (with the tab's token), drawn with
// cytoscape.js. No build step; `window.explorer` exposes the state and the entry points.
(function () {
  "use strict";

  const TOKEN_KEY = "itam-token";
  const params = new URLSearchParams(window.location.search);
  // Over this many nodes the view becomes a table instead of freezing the tab (?cap= lowers it).
  const NODE_CAP = Math.min(Math.max(parseInt(params.get("cap") || "300", 10) || 300, 1), 300);
  const FINDINGS_PAGE = 50;          // findings highlighted at once (a page of the API's findings)
  const COLOURS = {
    Host: "#1f77b4", Application: "#17becf", DataStore: "#9467bd", Person: "#ff7f0e", Team: "#c49c94",
    Software: "#8c564b", License: "#bcbd22", Credential: "#d62728", IPAddress: "#7f7f7f", Subnet: "#2ca02c",
    Port: "#aec7e8", Internet: "#000000", Source: "#98df8a", IngestRun: "#dbdb8d", Conflict: "#ff9896",
    Control: "#9edae5", Contract: "#f7b6d2", SecurityGroup: "#e377c2", Identifier: "#c7c7c7", Group: "#ffffff",
  };
  const NODE_FIELDS = "id label name properties";
  const SUBGRAPH = `nodes { ${NODE_FIELDS} } edges { id source target type properties } truncated`;
  const $ = (id) => document.getElementById(id);

  const state = { token: sessionStorage.getItem(TOKEN_KEY), queries: [], hiddenLabels: new Set(),
                  hiddenTypes: new Set(), overCap: null };

  const cy = cytoscape({
    container: $("cy"),
    style: [
      { selector: "node", style: {
          "background-color": (n) => COLOURS[n.data("label")] || "#999", label: "data(caption)",
          "font-size": 9, "text-valign": "bottom", "text-wrap": "wrap", "text-max-width": 110,
          width: 22, height: 22, "border-width": 1, "border-color": "#fff" } },
      { selector: "node[verdict = 'UNEXPECTED']", style: { "border-width": 5, "border-color": "#b00020", color: "#b00020" } },
      { selector: "node[verdict = 'REVIEW']", style: { "border-width": 4, "border-color": "#f5a623", color: "#8a5a00" } },
      { selector: "node.group", style: { shape: "round-rectangle", "border-color": "#555", "border-width": 1,
                                         "border-style": "dashed", width: 40 } },
      { selector: "edge", style: {
          width: 1.2, "line-color": "#bbb", "target-arrow-color": "#bbb", "target-arrow-shape": "triangle",
          "curve-style": "bezier", label: "data(caption)", "font-size": 7, color: "#666",
          "text-rotation": "autorotate" } },
      { selector: "edge.reach", style: { "line-style": "dashed", "line-color": "#d62728", "target-arrow-color": "#d62728" } },
      { selector: ".filtered", style: { display: "none" } },
      { selector: ".faded", style: { opacity: 0.25 } },
      { selector: "node.highlighted", style: { "overlay-color": "#ffd400", "overlay-opacity": 0.45, "overlay-padding": 6 } },
      { selector: "edge.highlighted", style: { width: 4, "line-color": "#ffb000", "target-arrow-color": "#ffb000" } },
      { selector: ":selected", style: { "overlay-color": "#0074d9", "overlay-opacity": 0.3 } },
    ],
  });

  // ------------------------------------------------------------------------------ the API

  class AuthNeeded extends Error {}

  async function gql(query, variables, remember = true) {
    const headers = { "Content-Type": "application/json" };
    if (state.token) headers.Authorization = "Bearer " + state.token;
    const response = await fetch("/graphql", { method: "POST", headers, body: JSON.stringify({ query, variables }) });
    if (response.status === 401 || response.status === 403) throw new AuthNeeded(await response.text());
    const body = await response.json();
    if (body.errors && body.errors.length) throw new Error(body.errors.map((e) => e.message).join("; "));
    if (remember) state.queries.push({ query, variables });
    return body.data;
  }

  function say(text, isError) {
    $("status").textContent = text;
    $("status").className = isError ? "error" : "";
  }

  async function run(work) {
    try {
      await work();
    } catch (error) {
      if (error instanceof AuthNeeded) return askForToken(state.token ? "That token was refused." : "");
      say(error.message, true);
    }
  }

  // ------------------------------------------------------------------------------ tokens

  function askForToken(message) {
    clearView();
    $("token-error").textContent = message || "";
    say("An API token is needed to see the graph.", true);
    if (!$("token-dialog").open) $("token-dialog").showModal();
  }

  $("token-form").addEventListener("submit", () => {
    state.token = $("token-input").value.trim();
    sessionStorage.setItem(TOKEN_KEY, state.token);
    $("token-input").value = "";
    start();
  });

  // ------------------------------------------------------------------------------ drawing

  function caption(node) {
    const verdict = node.properties && node.properties.verdict;
    return verdict && verdict !== "EXPECTED" ? `${node.name}\n${verdict}` : node.name;
  }

  function edgeCaption(edge) {
    const ports = edge.properties && edge.properties.ports;
    return ports && ports.length ? `${edge.type} ${ports.join(",")}` : edge.type;
  }

  /** Add a subgraph to the view; over the node cap, show a table instead. Returns the node ids. */
  function addSubgraph(graph, relayout = true) {
    const fresh = graph.nodes.filter((n) => cy.getElementById(n.id).empty());
    if (cy.nodes().length + fresh.length > NODE_CAP) {
      showTable(cy.nodes().map((n) => n.data("raw")).concat(fresh));
      return graph.nodes.map((n) => n.id);
    }
    cy.batch(() => {
      for (const node of fresh) {
        cy.add({ group: "nodes", data: { id: node.id, label: node.label, caption: caption(node),
                                          verdict: node.properties.verdict || null, raw: node } });
      }
      for (const edge of graph.edges) {
        if (cy.getElementById(edge.id).empty() && !cy.getElementById(edge.source).empty()
            && !cy.getElementById(edge.target).empty()) {
          cy.add({ group: "edges", data: { id: edge.id, source: edge.source, target: edge.target, type: edge.type,
                                            caption: edgeCaption(edge), raw: edge },
                   classes: edge.type === "REACHES" ? "reach" : "" });
        }
      }
    });
    if (graph.truncated) say(`Only the first ${graph.nodes.length} were returned (limit reached).`);
    applyFilters();
    if (relayout) layout();
    return graph.nodes.map((n) => n.id);
  }

  // Force-directed for small views; rings by degree for big ones (cose on 300 nodes takes seconds).
  const FORCE_LAYOUT_MAX = 80;

  function layout(name) {
    const started = performance.now();
    const big = cy.nodes().length > FORCE_LAYOUT_MAX;
    cy.layout({ name: name || (big ? "concentric" : "cose"), animate: false, fit: true, padding: 30,
                randomize: false, nodeRepulsion: 9000, idealEdgeLength: 70, numIter: 600,
                concentric: (n) => n.degree(false), levelWidth: () => 2, minNodeSpacing: 6 }).run();
    state.lastLayoutMs = performance.now() - started;
  }

  function showTable(nodes) {
    state.overCap = nodes;
    $("cy").hidden = true;
    $("table-view").hidden = false;
    $("cap-message").textContent = `${nodes.length} nodes are more than the ${NODE_CAP}-node cap of the graph view: ` +
      "they are listed here instead. Narrow the view with a relationship type or fewer hops.";
    const body = $("node-table").tBodies[0];
    body.replaceChildren(...nodes.map((n) => {
      const row = document.createElement("tr");
      for (const value of [n.name, n.label, (n.properties && n.properties.verdict) || "", n.id]) {
        const cell = document.createElement("td");
        cell.textContent = value;
        row.append(cell);
      }
      return row;
    }));
  }

  function clearView() {
    cy.elements().remove();
    state.overCap = null;
    $("cy").hidden = false;
    $("table-view").hidden = true;
    $("highlight-panel").hidden = true;
    $("details").replaceChildren();
    refreshLegend();
  }

  // ------------------------------------------------------------------------------ highlighting

  /**
   * Highlight nodes and list them in the side panel under a title. ids are node ids
   * ('Asset:<id>', 'Person:<e-mail>') or bare asset ids; nodes not yet in view are fetched and added.
   * notes: optional {id: text} shown beside each entry. Used by paths and choke points (and findings).
   */
  async function highlight(ids, title, notes) {
    const nodeIds = ids.map((id) => (/^[A-Z][A-Za-z]*:/.test(id) ? id : "Asset:" + id));
    const missing = nodeIds.filter((id) => cy.getElementById(id).empty());
    for (let i = 0; i < missing.length; i += 10) {
      const chunk = missing.slice(i, i + 10);
      const query = "query Nodes(" + chunk.map((_, k) => `$n${k}: ID!`).join(", ") + ") { " +
        chunk.map((_, k) => `n${k}: node(id: $n${k}) { ${NODE_FIELDS} }`).join(" ") + " }";
      const data = await gql(query, Object.fromEntries(chunk.map((id, k) => ["n" + k, id])));
      addSubgraph({ nodes: Object.values(data), edges: [], truncated: false }, false);
    }
    if (missing.length) layout();
    cy.elements().removeClass("highlighted faded");
    const chosen = cy.collection(nodeIds.map((id) => cy.getElementById(id)).filter((n) => n.nonempty()));
    const between = chosen.edgesWith(chosen);
    chosen.addClass("highlighted");
    between.addClass("highlighted");
    cy.elements().not(chosen).not(between).addClass("faded");
    $("highlight-title").textContent = title;
    $("highlight-list").replaceChildren(...nodeIds.map((id) => {
      const node = cy.getElementById(id);
      const item = document.createElement("li");
      item.dataset.id = id;
      item.textContent = (node.nonempty() ? `${node.data("raw").name} (${node.data("label")})` : id) +
        (notes && notes[id] ? ` — ${notes[id]}` : "");
      item.addEventListener("click", () => select(id));
      return item;
    }));
    $("highlight-panel").hidden = false;
    return chosen.map((n) => n.id());
  }

  function unhighlight() {
    cy.elements().removeClass("highlighted faded");
    $("highlight-panel").hidden = true;
  }

  // ------------------------------------------------------------------------------ views

  function setLink(entries) {
    const url = new URL(window.location.href);
    url.search = new URLSearchParams(Object.entries(entries).filter(([, v]) => v !== null && v !== "")).toString();
    if (params.get("cap")) url.searchParams.set("cap", params.get("cap"));
    history.replaceState(null, "", url);
  }

  const NEIGHBORHOOD = `query Neighborhood($id: ID!, $types: [String!], $limit: Int!) {
  neighborhood(id: $id, types: $types, limit: $limit) { ${SUBGRAPH} }
}`;

  async function neighbours(id, types) {
    const data = await gql(NEIGHBORHOOD, { id, types: types || null, limit: Math.min(NODE_CAP, 500) });
    return data.neighborhood;
  }

  /** Search: the node and its neighbourhood, `hops` steps out. */
  async function focus(text, hops) {
    hops = Math.max(1, Math.min(parseInt(hops, 10) || 1, 2));
    clearView();
    state.queries = [];
    const first = await neighbours(text);
    const centre = first.nodes[0].id;
    addSubgraph(first, false);
    let frontier = first.nodes.slice(1).map((n) => n.id);
    for (let hop = 2; hop <= hops && !state.overCap; hop++) {
      const next = [];
      for (const id of frontier) {
        if (state.overCap) break;
        const graph = await neighbours(id);
        next.push(...graph.nodes.map((n) => n.id));
        addSubgraph(graph, false);
      }
      frontier = next;
    }
    if (!state.overCap) layout();
    setLink({ focus: text, hops: hops > 1 ? hops : null });
    say(`${cy.nodes().length} nodes around ${first.nodes[0].name}.`);
    if (!state.overCap) select(centre);
  }

  async function expand(id, type) {
    const graph = await neighbours(id, type ? [type] : null);
    addSubgraph(graph);
    say(`Expanded ${cy.getElementById(id).data("raw").name}${type ? " by " + type : ""}.`);
  }

  /** Remove the neighbours that hang only on this node (undo an expansion). */
  function collapse(id) {
    const node = cy.getElementById(id);
    node.neighborhood("node").filter((n) => n.degree(false) <= 1).remove();
    refreshLegend();
  }

  function hide(id) {
    cy.getElementById(id).remove();
    $("details").replaceChildren();
    refreshLegend();
  }

  /** Fold same-label leaf neighbours into one node ("37 Software"); clicking it unfolds them. */
  function group(id) {
    const node = cy.getElementById(id);
    const leaves = node.neighborhood("node").filter((n) => n.degree(false) <= 1 && !n.hasClass("group"));
    const byLabel = {};
    leaves.forEach((n) => { (byLabel[n.data("label")] = byLabel[n.data("label")] || []).push(n); });
    for (const [label, members] of Object.entries(byLabel)) {
      if (members.length < 2) continue;
      const groupId = `group:${id}:${label}`;
      const stored = cy.collection(members).union(cy.collection(members).connectedEdges()).jsons();
      cy.collection(members).remove();
      cy.add({ group: "nodes", data: { id: groupId, label, caption: `${members.length} ${label}`, stored,
                                        raw: { id: groupId, label, name: `${members.length} ${label}`, properties: {} } },
               classes: "group" });
      cy.add({ group: "edges", data: { id: groupId + ":edge", source: id, target: groupId, caption: "", type: "GROUP" } });
    }
    layout();
  }

  function ungroup(groupNode) {
    const stored = groupNode.data("stored");
    groupNode.remove();
    cy.add(stored);
    layout();
  }

  const REACHABLE = `query Reachable($id: ID!, $hops: Int!) {
  node(id: $id) { id name asset { reachable(maxHops: $hops) {
    asset { id name kind shouldExist { verdict } } hops ports } } }
}`;

  /** Blast radius: hosts reachable within 1–3 hops, joined to the origin by edges labelled with ports. */
  async function blastRadius(id, hops) {
    const data = await gql(REACHABLE, { id, hops });
    const reached = data.node.asset ? data.node.asset.reachable : [];
    const graph = { nodes: reached.map((r) => ({ id: "Asset:" + r.asset.id, label: r.asset.kind || "Host",
                                                  name: r.asset.name || r.asset.id,
                                                  properties: { verdict: r.asset.shouldExist.verdict } })),
                    edges: reached.map((r) => ({ id: `${id}>REACHES>Asset:${r.asset.id}`, source: id,
                                                 target: "Asset:" + r.asset.id, type: "REACHES",
                                                 properties: { ports: r.ports, hops: r.hops } })),
                    truncated: false };
    addSubgraph(graph);
    setLink({ focus: id, blast: hops });
    say(`${data.node.name} reaches ${reached.length} hosts within ${hops} hop${hops > 1 ? "s" : ""}.`);
    if (!state.overCap) {
      await highlight([id].concat(graph.nodes.map((n) => n.id)), `Blast radius of ${data.node.name} (${hops} hops)`,
                      Object.fromEntries(reached.map((r) => ["Asset:" + r.asset.id, `${r.hops} hop(s): ${r.ports.join(" ")}`])));
    }
  }

  const PATH = `query Path($from: String!, $to: String!, $maxHops: Int!) {
  path(from: $from, to: $to, maxHops: $maxHops) { ${SUBGRAPH} }
}`;

  async function showPath(from, to, maxHops) {
    maxHops = parseInt(maxHops, 10) || 6;
    const data = await gql(PATH, { from, to, maxHops });
    setLink({ from, to, maxHops });
    if (!data.path.nodes.length) {
      say(`No access path from ${from} to ${to} within ${maxHops} relationships.`, true);
      return [];
    }
    addSubgraph(data.path);
    say(`Path from ${from} to ${to}: ${data.path.edges.length} relationships.`);
    return highlight(data.path.nodes.map((n) => n.id), `Path: ${from} → ${to}`);
  }

  // A page of a rule's open findings: the assets they involve are highlighted, each with its finding's subject.
  const FINDINGS = `query Findings($rule: String!, $first: Int!) {
  findings(rule: $rule, first: $first) { edges { node { subject severity assets { id name } } } pageInfo { hasNextPage } }
}`;

  async function loadRules() {
    const rules = (await gql("{ rules { id title openCount } }")).rules;
    $("findings-rule").replaceChildren($("findings-rule").options[0], ...rules.map((r) => {
      const option = document.createElement("option");
      option.value = r.id;
      option.textContent = `${r.id} (${r.openCount})`;
      option.title = r.title;
      return option;
    }));
  }

  async function showFindings(rule) {
    const data = (await gql(FINDINGS, { rule, first: FINDINGS_PAGE })).findings;
    setLink({ finding: rule });
    const notes = {};
    for (const { node } of data.edges) {
      for (const asset of node.assets) notes["Asset:" + asset.id] = notes["Asset:" + asset.id] || node.subject;
    }
    const more = data.pageInfo.hasNextPage ? ` (the first ${FINDINGS_PAGE}; \`itam findings --rule ${rule}\` lists all)` : "";
    if (!data.edges.length) {
      unhighlight();
      say(`No open findings of ${rule}.`);
      return [];
    }
    say(`${data.edges.length} open findings of ${rule}${more}.`);
    return highlight(Object.keys(notes), `Findings: ${rule}`, notes);
  }

  const CHOKE = `query ChokePoints($target: String!, $maxHops: Int!) {
  chokePoints(target: $target, maxHops: $maxHops) {
    target { ${NODE_FIELDS} } points { node { ${NODE_FIELDS} } share } reach { ${SUBGRAPH} } }
}`;

  async function showChokePoints(target, maxHops) {
    maxHops = parseInt(maxHops, 10) || 4;
    const data = (await gql(CHOKE, { target, maxHops })).chokePoints;
    setLink({ choke: target, maxHops });
    addSubgraph(data.reach);
    if (!data.points.length) {
      say(`The Internet does not reach ${data.target.name} within ${maxHops} hops.`);
      return [];
    }
    say(`${data.points.length} choke points between the Internet and ${data.target.name}.`);
    return highlight(data.points.map((p) => p.node.id), `Choke points: Internet → ${data.target.name}`,
                     Object.fromEntries(data.points.map((p) => [p.node.id, `${Math.round(p.share * 100)}% of paths`])));
  }

  // ------------------------------------------------------------------------------ details

  const ASSET_DETAILS = `query Details($id: ID!) {
  node(id: $id) { ${NODE_FIELDS} asset {
    name kind hostType lifecycleStage os identifiers { kind value }
    owner { name email active leftOn } team { name }
    shouldExist { verdict reasons }
    openPorts { protocol number service product }
    software { name version } controls { tool verb current }
    credentials { kind name fingerprint via issuedTo }
    sightings { source lastSeen current } } }
}`;
  const RELATED = { Person: ["OWNS", "ISSUED_TO", "MEMBER_OF", "REPORTS_TO"],
                    Credential: ["ISSUED_TO", "GRANTS_ACCESS_TO", "STORED_ON", "NAMES"] };

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function facts(pairs) {
    const list = el("dl");
    for (const [key, value] of pairs) {
      if (value === null || value === undefined || value === "" || (Array.isArray(value) && !value.length)) continue;
      list.append(el("dt", key), el("dd", Array.isArray(value) ? value.join(", ") : String(value)));
    }
    return list;
  }

  function button(text, action) {
    const b = el("button", text);
    b.type = "button";
    b.addEventListener("click", () => run(action));
    return b;
  }

  async function select(id) {
    const element = cy.getElementById(id);
    if (element.nonempty()) {
      cy.elements().unselect();
      element.select();
    }
    if (element.hasClass("group")) return ungroup(element);
    const panel = $("details");
    panel.replaceChildren(el("p", "Loading…", "hint"));
    const label = element.nonempty() ? element.data("label") : "";
    const parts = [];
    if (RELATED[label]) {
      const data = await gql(NEIGHBORHOOD, { id, types: RELATED[label], limit: 100 }, false);
      const centre = data.neighborhood.nodes[0];
      parts.push(el("h3", `${centre.name} (${centre.label})`), facts(Object.entries(centre.properties)));
      const byType = {};
      for (const edge of data.neighborhood.edges) {
        const other = edge.source === id ? edge.target : edge.source;
        const node = data.neighborhood.nodes.find((n) => n.id === other);
        (byType[edge.type] = byType[edge.type] || []).push(`${node.name} (${node.label})`);
      }
      parts.push(el("h2", label === "Person" ? "Owns and holds" : "Who and what it grants"),
                 facts(Object.entries(byType)));
    } else {
      const data = await gql(ASSET_DETAILS, { id }, false);
      const node = data.node;
      parts.push(el("h3", `${node.name} (${node.label})`));
      const a = node.asset;
      if (a) {
        const verdict = a.shouldExist.verdict;
        parts.push(el("p", verdict, "verdict-" + verdict));
        const reasons = el("ul");
        a.shouldExist.reasons.forEach((r) => reasons.append(el("li", "• " + r)));
        parts.push(reasons, facts([
          ["kind", `${a.kind}/${a.hostType || "?"}`], ["stage", a.lifecycleStage], ["os", a.os],
          ["owner", a.owner ? `${a.owner.name || ""} <${a.owner.email}>${a.owner.active ? "" : " (departed " + (a.owner.leftOn || "") + ")"}` : "none"],
          ["team", a.team && a.team.name],
          ["identifiers", a.identifiers.map((i) => `${i.kind}=${i.value}`)],
          ["ports", a.openPorts.map((p) => `${p.number}/${p.protocol} ${p.service || ""}`.trim())],
          ["software", a.software.map((s) => `${s.name} ${s.version || ""}`.trim())],
          ["controls", a.controls.map((c) => `${c.tool} ${c.verb}${c.current ? "" : " (stale)"}`)],
          ["credentials", a.credentials.map((c) => `${c.kind} ${c.name || c.fingerprint.slice(0, 12)} ${c.via}` +
                                                   (c.issuedTo.length ? " → " + c.issuedTo.join(", ") : ""))],
          ["sightings", a.sightings.map((s) => `${s.source} ${s.lastSeen.slice(0, 10)}${s.current ? "" : " (stale)"}`)],
        ]));
      } else {
        parts.push(facts(Object.entries(node.properties).filter(([k]) => k !== "verdict_reasons")));
      }
    }
    const actions = el("div", undefined, "actions");
    const types = el("select");
    types.append(new Option("any relationship", ""));
    for (const t of RELATIONSHIP_TYPES) types.append(new Option(t, t));
    types.id = "expand-type";
    actions.append(button("Expand", () => expand(id, types.value)), types,
                   button("Collapse", async () => collapse(id)), button("Hide", async () => hide(id)),
                   button("Group", async () => group(id)));
    if (id.startsWith("Asset:")) {
      const hops = el("select");
      hops.id = "blast-hops";
      [1, 2, 3].forEach((h) => hops.append(new Option(`${h} hop${h > 1 ? "s" : ""}`, h)));
      actions.append(button("Blast radius", () => blastRadius(id, parseInt(hops.value, 10))), hops);
    }
    panel.replaceChildren(...parts, actions);
  }

  // Relationship verbs of the graph model, from the API's own schema.
  const RELATIONSHIP_TYPES = ["ASSIGNED_TO", "CAN_REACH", "COVERS", "GRANTS_ACCESS_TO", "HAS_IP", "IDENTIFIES", "IN",
    "INSTALLED", "INVOLVES", "ISSUED_TO", "LISTENS_ON", "MANAGES", "MEMBER_OF", "MONITORS", "NAMES", "OWNS",
    "PROTECTS", "REPORTS_TO", "SEEN_BY", "STORED_ON"];

  // ------------------------------------------------------------------------------ legend and filters

  function checkboxItem(text, colour, checked, onChange) {
    const item = el("li");
    const box = el("input");
    box.type = "checkbox";
    box.checked = checked;
    box.addEventListener("change", () => onChange(box.checked));
    const name = el("label");
    if (colour) {
      const swatch = el("span", undefined, "swatch");
      swatch.style.background = colour;
      name.append(swatch);
    }
    name.append(text);
    name.prepend(box);
    item.append(name);
    return item;
  }

  function refreshLegend() {
    const labels = {}, types = {};
    cy.nodes().forEach((n) => { labels[n.data("label")] = (labels[n.data("label")] || 0) + 1; });
    cy.edges().forEach((e) => { types[e.data("type")] = (types[e.data("type")] || 0) + 1; });
    $("legend").replaceChildren(...Object.keys(labels).sort().map((label) =>
      checkboxItem(`${label} (${labels[label]})`, COLOURS[label], !state.hiddenLabels.has(label), (on) => {
        on ? state.hiddenLabels.delete(label) : state.hiddenLabels.add(label);
        applyFilters();
      })));
    $("rel-filter").replaceChildren(...Object.keys(types).sort().map((type) =>
      checkboxItem(`${type} (${types[type]})`, null, !state.hiddenTypes.has(type), (on) => {
        on ? state.hiddenTypes.delete(type) : state.hiddenTypes.add(type);
        applyFilters();
      })));
  }

  function applyFilters() {
    cy.batch(() => {
      cy.nodes().forEach((n) => n.toggleClass("filtered", state.hiddenLabels.has(n.data("label"))));
      cy.edges().forEach((e) => e.toggleClass("filtered", state.hiddenTypes.has(e.data("type"))));
    });
    refreshLegend();
  }

  // ------------------------------------------------------------------------------ export and query

  function download(name, href) {
    const link = el("a");
    link.href = href;
    link.download = name;
    document.body.append(link);
    link.click();
    link.remove();
  }

  function visibleSubgraph() {
    const visible = cy.elements().not(".filtered");
    return {
      nodes: visible.nodes().map((n) => n.data("raw")),
      edges: visible.edges().filter((e) => e.data("raw")).map((e) => e.data("raw")),
    };
  }

  $("export-png").addEventListener("click", () => download("itam-explorer.png", cy.png({ full: true, bg: "#ffffff", scale: 2 })));
  $("export-json").addEventListener("click", () => {
    const blob = new Blob([JSON.stringify(visibleSubgraph(), null, 2)], { type: "application/json" });
    download("itam-explorer.json", URL.createObjectURL(blob));
  });
  $("show-query").addEventListener("click", () => {
    const text = state.queries.length
      ? state.queries.map((q) => `${q.query}\n\n# variables\n${JSON.stringify(q.variables, null, 2)}`).join("\n\n# ---\n\n")
      : "# Nothing shown yet.";
    $("query-text").textContent = text;
    const last = state.queries[state.queries.length - 1];
    $("query-graphiql").href = last ? "/graphql?" + new URLSearchParams({ query: last.query,
                                                                       variables: JSON.stringify(last.variables) }) : "/graphql";
    $("query-dialog").showModal();
  });
  $("query-close").addEventListener("click", () => $("query-dialog").close());
  $("clear").addEventListener("click", () => { clearView(); setLink({}); say(""); });

  // ------------------------------------------------------------------------------ wiring

  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    run(() => focus($("search").value.trim(), $("hops").value));
  });
  $("path-form").addEventListener("submit", (event) => {
    event.preventDefault();
    run(() => showPath($("path-from").value.trim(), $("path-to").value.trim(), $("path-hops").value));
  });
  $("findings-form").addEventListener("submit", (event) => {
    event.preventDefault();
    run(() => showFindings($("findings-rule").value));
  });
  $("choke-form").addEventListener("submit", (event) => {
    event.preventDefault();
    run(() => showChokePoints($("choke-target").value.trim(), $("choke-hops").value));
  });
  cy.on("tap", "node", (event) => run(() => select(event.target.id())));
  cy.on("tap", (event) => { if (event.target === cy) unhighlight(); });
  cy.on("add remove", () => refreshLegend());

  /** Open the view the URL describes (deep links), after checking that the API lets us in. */
  async function start() {
    await run(async () => {
      await gql("{ __typename }", {}, false);
      if ($("token-dialog").open) $("token-dialog").close();
      await loadRules();
      if (params.get("focus")) {
        $("search").value = params.get("focus");
        $("hops").value = params.get("hops") || "1";
        await focus(params.get("focus"), params.get("hops") || 1);
        if (params.get("blast")) await blastRadius(cy.nodes()[0].id(), parseInt(params.get("blast"), 10));
      } else if (params.get("from") && params.get("to")) {
        $("path-from").value = params.get("from");
        $("path-to").value = params.get("to");
        $("path-hops").value = params.get("maxHops") || 6;
        await showPath(params.get("from"), params.get("to"), params.get("maxHops") || 6);
      } else if (params.get("finding")) {
        $("findings-rule").value = params.get("finding");
        await showFindings(params.get("finding"));
      } else if (params.get("choke")) {
        $("choke-target").value = params.get("choke");
        $("choke-hops").value = params.get("maxHops") || 4;
        await showChokePoints(params.get("choke"), params.get("maxHops") || 4);
      } else {
        say("Search for a host, an address, a person's e-mail or 'Internet'.");
      }
    });
    document.body.dataset.ready = "true";
  }

  window.explorer = { cy, state, highlight, unhighlight, addSubgraph, focus, expand, collapse, hide, group,
                      blastRadius, showPath, showChokePoints, showFindings, select, layout, gql, NODE_CAP };
  start();
})();
