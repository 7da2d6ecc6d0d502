// Dispatch page: the graph, the summary (inputs, result, error, times, lineage), the node panel.
"use strict";

(() => {
  const { el } = V;
  const root = document.querySelector(".dispatch");
  const id = root.dataset.dispatchId;
  const summary = document.getElementById("summary");
  const panel = document.getElementById("node-panel");
  const graph = Graph.create(document.getElementById("graph"), { onSelect: openNode });
  window.valenceGraph = graph; // for tests and the curious: valenceGraph.cy is cytoscape
  Graph.legend(document.getElementById("legend"));

  let openId = null;
  let lastStatus = null;
  let lastNodes = {};

  const section = (title, ...content) =>
    el("section", { class: "panel-section" }, el("h3", {}, title), ...content);

  function facts(d) {
    const rows = [
      ["Created", V.time(d.created_at)],
      ["Started", V.time(d.start_time)],
      ["Ended", V.time(d.end_time)],
      ["Duration", d.start_time ? V.duration(d.start_time, d.end_time) : "—"],
      ["Progress", V.progressBar(d.progress)],
    ];
    return el("dl", { class: "facts" }, rows.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  }

  function inputsTable(inputs) {
    if (!inputs.length) return el("p", { class: "muted" }, "No inputs.");
    return el("table", { class: "table compact", id: "dispatch-inputs" }, el("tbody", {},
      inputs.map((i) => el("tr", {}, el("th", {}, i.name),
        el("td", {}, el("pre", { class: "inline" }, i.preview))))));
  }

  function outcome(d, result) {
    if (d.error) {
      return section("Error", el("pre", { id: "dispatch-error", class: "error" }, d.error));
    }
    if (result.result) {
      return section("Result", el("pre", { id: "dispatch-result" }, result.result.preview));
    }
    return section("Result", el("p", { class: "muted" },
      V.TERMINAL.has(d.status) ? "No result." : "Not finished yet."));
  }

  const lineageItem = (s, extra = {}) => el("li", extra,
    el("span", { class: "dot", style: { background: V.colour(s.status) }, title: s.status }),
    V.dispatchLink(s.dispatch_id), " ", el("span", { class: "muted" }, V.time(s.created_at)));

  function lineage(l, d) {
    const chain = l.ancestors.map((s) => lineageItem(s));
    chain.push(el("li", { class: "current" },
      el("span", { class: "dot", style: { background: V.colour(d.status) } }),
      el("span", { class: "mono" }, id.slice(0, 8)), " this dispatch"));
    const parts = [
      el("h4", {}, "Redispatched from"), l.ancestors.length
        ? el("ol", { class: "lineage", id: "lineage-up" }, chain)
        : el("p", { class: "muted" }, "Not a redispatch: an original run."),
      el("h4", {}, "Derived redispatches"),
      l.derived.length
        ? el("ul", { class: "lineage", id: "lineage-down" }, l.derived.map((x) =>
          lineageItem(x.dispatch, { style: { marginLeft: `${(x.depth - 1) * 16}px` } })))
        : el("p", { class: "muted" }, "None yet."),
    ];
    if (l.sublattice_parent) {
      parts.push(el("h4", {}, `Sublattice run of node ${l.sublattice_parent_node} in`),
        el("ul", { class: "lineage" }, lineageItem(l.sublattice_parent)));
    }
    if (l.sublattices.length) {
      parts.push(el("h4", {}, "Sublattice runs"),
        el("ul", { class: "lineage" }, l.sublattices.map((s) => lineageItem(s))));
    }
    return section("Lineage", ...parts);
  }

  async function renderSummary() {
    const base = `/dispatches/${id}`;
    const [d, result, inputs, l] = await Promise.all([V.api(base), V.api(`${base}/result`),
      V.api(`${base}/inputs`), V.api(`${base}/lineage`)]);
    document.title = `${d.name} ${id.slice(0, 8)} · valence`;
    V.fill(summary,
      el("div", { class: "summary-head" }, el("h1", {}, d.name), V.badge(d.status)),
      el("p", { class: "mono muted id" }, d.dispatch_id),
      d.redispatched_from ? el("a", { href: `${base}/compare`, class: "button",
        id: "compare-link" }, "Compare with parent") : null,
      facts(d),
      section("Inputs", inputsTable(inputs.inputs)),
      outcome(d, result),
      lineage(l, d),
      d.lattice_source ? el("details", {}, el("summary", {}, "Lattice source"),
        el("pre", { class: "code" }, d.lattice_source)) : null);
  }

  function showPanel(nodeId) {
    return NodePanel.show(panel, id, nodeId, { onClose: closeNode, onPick: openNode })
      .catch((error) => V.showMessage(error.message));
  }

  function openNode(nodeId) {
    openId = nodeId;
    graph.select(nodeId);
    history.replaceState(null, "", `#node=${nodeId}`);
    showPanel(nodeId);
  }

  function closeNode() {
    openId = null;
    panel.hidden = true;
    delete panel.dataset.nodeId;
    graph.cy.nodes().unselect();
    history.replaceState(null, "", location.pathname);
  }

  // People count tasks; helper nodes are only mentioned, and shown on request.
  let graphCounts = { tasks: 0, all: 0 };
  function showCount() {
    const helpers = graphCounts.all - graphCounts.tasks;
    const state = document.getElementById("show-helpers").checked ? "shown" : "hidden";
    document.getElementById("graph-count").textContent =
      `${graphCounts.tasks} tasks` + (helpers ? ` · ${helpers} helper nodes ${state}` : "");
  }

  async function tick() {
    const data = await V.api(`/dispatches/${id}/graph`);
    graph.update(data);
    if (openId !== null) graph.select(openId);
    graphCounts = { tasks: data.nodes.filter((n) => !n.helper).length, all: data.nodes.length };
    showCount();
    if (data.status !== lastStatus || !data.done) await renderSummary();
    const nodes = Object.fromEntries(data.nodes.map((n) => [n.id, n.status]));
    // A running task's panel is refreshed every tick: its output streams in.
    const changed = openId in lastNodes && nodes[openId] !== lastNodes[openId];
    if (changed || nodes[openId] === "RUNNING") showPanel(openId);
    lastNodes = nodes;
    lastStatus = data.status;
    document.body.dataset.graphStatus = data.status;
    return !data.done;
  }

  document.getElementById("show-helpers").addEventListener("change", (event) => {
    graph.showHelpers(event.target.checked);
    showCount();
  });
  document.getElementById("fit").onclick = () => graph.fit();
  document.addEventListener("keydown", (event) => { if (event.key === "Escape") closeNode(); });

  const wanted = /^#node=(\d+)$/.exec(location.hash);
  if (wanted) openNode(Number(wanted[1]));
  V.poll(tick, 1000);
})();
