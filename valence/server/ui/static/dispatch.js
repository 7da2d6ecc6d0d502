// Dispatch page: the graph or the timeline, the summary (inputs, result, error, times,
// lineage, actions), the node panel; find a node; react to #node=N in the address.
"use strict";

(() => {
  const { el } = V;
  const root = document.querySelector(".dispatch");
  const id = root.dataset.dispatchId;
  const summary = document.getElementById("summary");
  const panel = document.getElementById("node-panel");
  const graph = Graph.create(document.getElementById("graph"),
    { onSelect: openNode, onGroup: openGroup });
  const timeline = Timeline.create(document.getElementById("timeline-canvas"),
    { onSelect: openNode });
  window.valenceGraph = graph; // for tests and the curious: valenceGraph.cy is cytoscape
  Graph.legend(document.getElementById("legend"));

  const view = { helpers: false, expanded: new Set(), mode: "graph" };
  let openId = null;
  let openGroupKey = null;
  let last = null; // the latest /graph answer
  let lastStatus = null;
  let lastNodes = {};
  let record = null;

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
    record = d;
    document.title = `${d.name} ${id.slice(0, 8)} · valence`;
    V.fill(summary,
      el("div", { class: "summary-head" }, el("h1", {}, d.name), V.badge(d.status)),
      el("p", { class: "mono muted id" }, d.dispatch_id),
      Actions.bar(d, inputs.inputs, { onChange: refreshNow }),
      d.redispatched_from ? el("a", { href: `${base}/compare`, class: "button quiet",
        id: "compare-link" }, "Compare with parent") : null,
      facts(d),
      section("Inputs", inputsTable(inputs.inputs)),
      outcome(d, result),
      lineage(l, d),
      d.lattice_source ? el("details", {}, el("summary", {}, "Lattice source"),
        el("pre", { class: "code" }, d.lattice_source)) : null);
  }

  function showPanel(nodeId) {
    return NodePanel.show(panel, id, nodeId, { onClose: closeNode, onPick: openNode,
      onChange: refreshNow }).catch((error) => V.showMessage(error.message));
  }

  function openNode(nodeId) {
    openId = nodeId;
    openGroupKey = null;
    graph.select(nodeId);
    history.replaceState(null, "", `#node=${nodeId}`);
    showPanel(nodeId);
  }

  async function openGroup(key) {
    openId = null;
    openGroupKey = key;
    const box = last && last.boxes.find((b) => b.key === key);
    if (!box) return;
    graph.cy.nodes().unselect();
    graph.cy.getElementById(key).select();
    const nodes = new Map((await everyNode()).map((n) => [n.id, n]));
    if (openGroupKey !== key) return; // another box was clicked meanwhile
    NodePanel.showGroup(panel, box, nodes, { onClose: closeNode, onPick: openNode,
      onExpand: () => expand(key) });
  }

  function expand(key) {
    view.expanded.add(key);
    closeNode();
    refreshNow();
  }

  function closeNode() {
    openId = null;
    openGroupKey = null;
    panel.hidden = true;
    delete panel.dataset.nodeId;
    graph.cy.nodes().unselect();
    history.replaceState(null, "", location.pathname);
  }

  // People count tasks; helper nodes are only mentioned, and drawn on request.
  function countText(data) {
    const groups = data.boxes.filter((b) => b.group).length;
    const helpers = data.total_nodes - data.total_tasks;
    let text = `${data.total_tasks} tasks`;
    if (groups) text += ` in ${data.boxes.length} boxes (${groups} grouped)`;
    if (helpers) text += ` · ${helpers} helper nodes ${view.helpers ? "shown" : "hidden"}`;
    return text;
  }

  function graphUrl(all = false) {
    const params = new URLSearchParams();
    if (all) params.set("nodes", "all");
    if (view.helpers) params.set("helpers", "true");
    if (view.expanded.size) params.set("expand", [...view.expanded].join(","));
    return `/dispatches/${id}/graph?${params}`;
  }

  // Every node (find, the timeline, a group's members): the graph route sends only the
  // nodes drawn alone unless asked, so a 10,000-task fan-out opens with a tiny answer.
  let allNodes = null;
  async function everyNode() {
    if (allNodes === null) allNodes = (await V.api(graphUrl(true))).nodes;
    return allNodes;
  }

  async function tick() {
    const timelineOn = view.mode === "timeline";
    const data = await V.api(graphUrl(timelineOn));
    last = data;
    allNodes = timelineOn ? data.nodes : null;
    graph.update(data);
    if (timelineOn) timeline.update(data);
    if (openId !== null) graph.select(openId);
    document.getElementById("graph-count").textContent = countText(data);
    document.getElementById("collapse").hidden = view.expanded.size === 0;
    if (data.status !== lastStatus || !data.done) await renderSummary();
    const nodes = Object.fromEntries(data.nodes.map((n) => [n.id, n.status]));
    if (openId in lastNodes && nodes[openId] !== lastNodes[openId]) showPanel(openId);
    else if (openId in nodes && !V.TERMINAL.has(nodes[openId])) NodePanel.refreshLogs(panel);
    lastNodes = nodes;
    lastStatus = data.status;
    document.body.dataset.graphStatus = data.status;
    return !data.done;
  }

  // Big graphs are polled less often: each answer carries every node.
  const poller = V.poll(tick, () => (last && last.total_nodes > 2000 ? 3000 : 1000));
  const refreshNow = () => poller.now();

  // ---- find -----------------------------------------------------------------------------
  let matches = [];
  let matchIndex = 0;
  document.getElementById("find").addEventListener("submit", async (event) => {
    event.preventDefault();
    const query = document.getElementById("find-input").value.trim().toLowerCase();
    const count = document.getElementById("find-count");
    if (!query || !last) return V.fill(count, "");
    const fresh = matches.query !== query;
    if (fresh) {
      // A number is a node id; anything else a part of a name, any case (helpers only
      // while they are drawn).
      const every = await everyNode();
      matches = /^\d+$/.test(query) ? every.filter((n) => String(n.id) === query)
        : every.filter((n) => (view.helpers || !n.helper)
          && n.name.toLowerCase().includes(query));
      matches = matches.map((n) => n.id);
      matches.query = query;
      matchIndex = 0;
    } else {
      matchIndex = (matchIndex + 1) % Math.max(matches.length, 1);
    }
    if (!matches.length) return V.fill(count, "no match");
    V.fill(count, `${matchIndex + 1} of ${matches.length}`);
    const nodeId = matches[matchIndex];
    if (view.mode === "graph") graph.reveal(nodeId);
    openNode(nodeId);
  });

  // ---- toolbar --------------------------------------------------------------------------
  document.getElementById("show-helpers").addEventListener("change", (event) => {
    view.helpers = event.target.checked;
    refreshNow();
  });
  document.getElementById("collapse").onclick = () => {
    view.expanded.clear();
    refreshNow();
  };
  document.getElementById("fit").onclick = () => graph.fit();
  for (const button of document.querySelectorAll("#views button")) {
    button.onclick = () => {
      view.mode = button.dataset.view;
      for (const b of document.querySelectorAll("#views button")) {
        b.classList.toggle("active", b === button);
      }
      const timelineOn = view.mode === "timeline";
      document.getElementById("graph").hidden = timelineOn;
      document.getElementById("timeline").hidden = !timelineOn;
      root.dataset.view = view.mode;
      if (timelineOn) refreshNow(); // the timeline needs every node
      if (!timelineOn) graph.cy.resize();
    };
  }
  document.addEventListener("keydown", (event) => { if (event.key === "Escape") closeNode(); });

  function followHash() {
    const wanted = /^#node=(\d+)$/.exec(location.hash);
    if (wanted && Number(wanted[1]) !== openId) openNode(Number(wanted[1]));
  }
  window.addEventListener("hashchange", followHash);
  document.addEventListener("valence:token", refreshNow);
  followHash();
})();
