// The node panel: everything about one node, from the node, source and arguments routes.
"use strict";

const NodePanel = (() => {
  const { el } = V;

  const section = (title, ...content) =>
    el("section", { class: "panel-section" }, el("h3", {}, title), ...content);

  const text = (id, value, empty = "(empty)") => value
    ? el("pre", { id, class: id === "node-traceback" ? "error" : "" }, value)
    : el("p", { id, class: "muted" }, empty);

  function facts(node, dispatchId) {
    const rows = [
      ["Node id", node.node_id],
      ["Executor", node.executor || "— (resolved inline)"],
      ["Started", V.time(node.start_time)],
      ["Ended", V.time(node.end_time)],
      ["Duration", node.start_time ? V.duration(node.start_time, node.end_time || null) : "—"],
      ["Attempts", node.attempts],
    ];
    if (node.sub_dispatch_id) rows.push(["Sublattice run", V.dispatchLink(node.sub_dispatch_id)]);
    if (node.not_reusable) rows.push(["Not reusable", node.not_reusable]);
    return el("dl", { class: "facts", "data-dispatch": dispatchId },
      rows.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  }

  function decision(node) {
    const reason = node.reason;
    if (!reason) return el("p", { id: "node-reuse", class: "muted" }, "No reuse decision: "
      + "this dispatch was not a redispatch with reuse.");
    const reused = reason.decision === "reuse";
    const from = node.reused_from_dispatch;
    return el("div", { id: "node-reuse", class: `decision ${reused ? "reuse" : "run"}` },
      el("strong", {}, reused ? "↻ Reused" : "▶ Ran"),
      el("code", {}, reason.code), el("span", {}, reason.text),
      reused && from ? el("div", { class: "small" }, "output taken from ",
        el("a", { href: `/dispatches/${from}#node=${node.reused_from_node}`, class: "mono" },
          `${from.slice(0, 8)} node ${node.reused_from_node}`)) : null);
  }

  function argumentsTable(args, onPick) {
    if (!args.length) return el("p", { class: "muted" }, "No arguments.");
    return el("table", { class: "table compact", id: "node-arguments" },
      el("tbody", {}, args.map((a) => el("tr", {},
        el("th", {}, a.param_type === "wait" ? "(waits for)" : a.name),
        el("td", {}, el("pre", { class: "inline" }, a.preview ?? "— not computed yet")),
        el("td", { class: "from" }, el("a", { href: "#", class: "small", title: a.parent_name,
          onclick: (event) => {
            event.preventDefault();
            onPick(a.parent_id);
          } }, `node ${a.parent_id}`))))));
  }

  function sourceBlock(node, source) {
    if (source) return el("pre", { id: "node-source", class: "code" }, source);
    const task = node.kind === "electron" || node.kind === "sublattice";
    return el("p", { id: "node-source", class: "muted" }, task
      ? "The source text of this function was not stored."
      : "A helper node: resolved inline, it has no function of its own.");
  }

  // A table, an array or an image when the output is one; the plain preview otherwise.
  function richView(rich) {
    if (rich.kind === "table") {
      return el("div", { id: "node-rich", class: "rich-table" },
        el("p", { class: "muted small" }, `${rich.shape.join(" × ")} table` +
          (rich.shape[0] > rich.rows.length ? `, first ${rich.rows.length} rows` : "")),
        el("div", { class: "scroll" }, el("table", { class: "table compact data" },
          el("thead", {}, el("tr", {}, el("th", {}, ""), rich.columns.map((c) => el("th", {}, c)))),
          el("tbody", {}, rich.rows.map((row, i) => el("tr", {}, el("th", {}, rich.index[i]),
            row.map((v) => el("td", {}, v))))))));
    }
    if (rich.kind === "array") {
      return el("div", { id: "node-rich", class: "rich-array" },
        el("p", { class: "muted small" }, `array · shape (${rich.shape.join(", ")}) · ` +
          `dtype ${rich.dtype}`), el("pre", {}, rich.preview));
    }
    if (rich.kind === "image") {
      return el("div", { id: "node-rich", class: "rich-image" },
        el("img", { src: rich.image, alt: "the task's output as an image" }));
    }
    return null;
  }

  function outputSection(node, rich, dispatchId) {
    const plain = text("node-output", node.output ? node.output.preview : "",
      node.status === "COMPLETED" ? "(empty)" : `No output (${node.status}).`);
    const fancy = rich ? richView(rich) : null;
    const download = node.output ? el("button", { class: "quiet small", id: "node-download",
      type: "button", onclick: () => V.download(
        `/dispatches/${dispatchId}/nodes/${node.node_id}/output`,
        `${dispatchId.slice(0, 8)}-node-${node.node_id}.pickle`)
        .catch((error) => V.showMessage(error.message)) }, "Download raw value") : null;
    return section("Output", fancy, fancy ? el("details", {}, el("summary", {}, "as text"), plain)
      : plain, download);
  }

  const LIVE = new Set(["RUNNING", "PENDING_BACKEND", "STARTING", "PENDING_REPLACEMENT"]);

  function cancelButton(node, dispatchId, onChange) {
    if (!LIVE.has(node.status) && node.status !== "NEW_OBJECT") return null;
    return el("button", { id: "node-cancel", class: "danger small", type: "button",
      onclick: async () => {
        const ok = await V.confirmAction(`Cancel task ${node.name}?`,
          "It is stopped if it runs, and the tasks that depend on it will not run. "
          + "Completed results are kept.", "Cancel task");
        if (!ok) return;
        try {
          await V.api(`/dispatches/${dispatchId}/cancel`,
            { method: "POST", json: { task_ids: [node.node_id] } });
          onChange();
        } catch (error) { V.showMessage(error.message); }
      } }, "Cancel task");
  }

  // While the open node runs: what it has printed so far.
  async function refreshLogs(box) {
    const dispatchId = box.dataset.dispatchId;
    const nodeId = box.dataset.nodeId;
    if (!dispatchId || nodeId === undefined) return;
    const base = `/dispatches/${dispatchId}/nodes/${nodeId}`;
    const [out, err] = await Promise.all([V.api(`${base}/stdout`, { text: true }),
      V.api(`${base}/stderr`, { text: true })]);
    if (box.dataset.nodeId !== nodeId) return;
    for (const [id, value] of [["node-stdout", out], ["node-stderr", err]]) {
      const old = box.querySelector(`#${id}`);
      if (old) old.replaceWith(text(id, value));
    }
  }

  async function show(box, dispatchId, nodeId, { onClose, onPick, onChange = () => {} }) {
    box.hidden = false;
    box.dataset.loading = nodeId;
    const fresh = box.dataset.nodeId !== String(nodeId); // else: a refresh of the same node
    if (fresh) V.fill(box, el("p", { class: "muted" }, "Loading…"));
    const base = `/dispatches/${dispatchId}/nodes/${nodeId}`;
    const [node, source, args, rich] = await Promise.all(
      [V.api(base), V.api(`${base}/source`), V.api(`${base}/arguments`),
        V.api(`${base}/rich`).catch(() => null)]);
    if (box.dataset.loading !== String(nodeId)) return; // another node was clicked meanwhile
    const failed = node.error || node.traceback;
    V.fill(box,
      el("div", { class: "panel-head" }, el("h2", { id: "node-name" }, node.name),
        el("button", { class: "close quiet", title: "close (Esc)", onclick: onClose }, "×")),
      el("div", { class: "badges" }, V.badge(node.status), el("span", { class: "tag" }, node.kind),
        node.reused_from_dispatch ? el("span", { class: "tag reused" }, "↻ reused") : null,
        cancelButton(node, dispatchId, onChange)),
      facts(node, dispatchId),
      failed ? section("Error", el("p", { class: "error-line" }, node.error || ""),
        text("node-traceback", node.traceback)) : null,
      section("Reuse decision", decision(node)),
      outputSection(node, rich, dispatchId),
      section("Arguments", argumentsTable(args, onPick)),
      section(LIVE.has(node.status) ? "stdout (live)" : "stdout", text("node-stdout", node.stdout)),
      section(LIVE.has(node.status) ? "stderr (live)" : "stderr", text("node-stderr", node.stderr)),
      section("Source", sourceBlock(node, source.source)));
    box.dataset.nodeId = nodeId;
    box.dataset.dispatchId = dispatchId;
    if (fresh) box.scrollTop = 0;
  }

  // A group of sibling tasks: counts per status, its members, and a way to draw them all.
  function showGroup(box, group, nodes, { onClose, onPick, onExpand }) {
    box.hidden = false;
    delete box.dataset.nodeId;
    box.dataset.group = group.key;
    const shown = group.members.slice(0, 500);
    V.fill(box,
      el("div", { class: "panel-head" }, el("h2", { id: "node-name" }, group.label),
        el("button", { class: "close quiet", title: "close (Esc)", onclick: onClose }, "×")),
      el("div", { class: "badges" }, V.badge(group.status), el("span", { class: "tag" }, "group"),
        group.reused ? el("span", { class: "tag reused" }, `↻ ${group.reused} reused`) : null),
      el("p", { class: "muted" }, group.key.startsWith("c")
        ? `${group.members.length} tasks of one name, each fed by the one before, drawn as `
          + "one box."
        : `${group.members.length} tasks with the same name under the same parents, drawn as `
          + "one box."),
      el("p", { id: "group-counts" }, Graph.countsLine(group.counts)),
      el("button", { id: "group-expand", type: "button", onclick: onExpand },
        `Draw all ${group.members.length}`),
      section(shown.length < group.members.length
        ? `Members (first ${shown.length})` : "Members",
      el("ul", { class: "members", id: "group-members" }, shown.map((m) => {
        const node = nodes.get(m);
        return el("li", {}, el("span", { class: "dot",
          style: { background: V.colour(node.status) } }),
        el("a", { href: `#node=${m}`, onclick: (event) => {
          event.preventDefault();
          onPick(m);
        } }, `node ${m}`), " ", el("span", { class: "muted small" }, node.status));
      }))));
    box.scrollTop = 0;
  }

  return { show, showGroup, refreshLogs };
})();
