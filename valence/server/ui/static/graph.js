// The transport graph drawn with cytoscape + dagre: layered top to bottom, coloured by status,
// reused nodes with a purple double border and a "↻ reused" line, helper nodes optional.
"use strict";

const Graph = (() => {
  const READABLE_ZOOM = 0.6; // the first view never starts smaller than this...
  const NATURAL_ZOOM = 1.3; // ...nor larger than this

  const STYLE = [
    { selector: "node", style: {
      shape: "round-rectangle", width: "data(w)", height: "data(h)",
      "background-color": "data(colour)",
      "border-width": 1, "border-color": "#111827", "border-opacity": 0.25,
      label: "data(display)", color: "#fff", "font-size": 12, "font-weight": 600,
      "text-valign": "center", "text-halign": "center", "text-wrap": "wrap",
      "font-family": "system-ui, -apple-system, Segoe UI, sans-serif",
      "min-zoomed-font-size": 6,
    } },
    { selector: "node.sublattice", style: { shape: "cut-rectangle" } },
    { selector: "node.helper", style: {
      "background-opacity": 0.16, color: "#374151", "font-size": 10, "font-weight": 400,
      "border-color": "data(colour)", "border-opacity": 1, "border-style": "dashed",
    } },
    { selector: "node.reused", style: {
      "border-width": 5, "border-style": "double", "border-color": V.REUSED, "border-opacity": 1,
    } },
    { selector: "node:selected", style: {
      "underlay-color": "#f59e0b", "underlay-opacity": 0.7, "underlay-padding": 7,
      "underlay-shape": "round-rectangle",
    } },
    { selector: "node:active", style: { "overlay-opacity": 0 } },
    { selector: "edge", style: {
      width: 1.4, "curve-style": "bezier", "line-color": "#a7b0bd",
      "target-arrow-shape": "triangle", "target-arrow-color": "#a7b0bd", "arrow-scale": 0.8,
    } },
    { selector: "edge.wait", style: { "line-style": "dashed" } },
  ];

  function nodeElement(node) {
    const lines = node.reused ? [node.label, "↻ reused"] : [node.label];
    const chars = Math.max(...lines.map((l) => l.length));
    const scale = node.helper ? 6 : 7.4;
    const classes = [node.kind, node.helper && "helper", node.reused && "reused"];
    return {
      group: "nodes",
      data: {
        id: String(node.id), nodeId: node.id, name: node.name, kind: node.kind,
        status: node.status, colour: V.colour(node.status), reused: node.reused,
        helper: node.helper, display: lines.join("\n"),
        w: Math.min(Math.max(chars * scale + 24, node.helper ? 36 : 64), 260),
        h: node.helper ? 22 : 16 * lines.length + 16,
      },
      classes: classes.filter(Boolean).join(" "),
    };
  }

  const edgeElement = (edge, index) => ({
    group: "edges",
    data: { id: `e${index}`, source: String(edge.source), target: String(edge.target),
      name: edge.name },
    classes: edge.param_type === "wait" ? "wait" : "",
  });

  function create(container, { onSelect }) {
    const cy = cytoscape({
      container, style: STYLE, boxSelectionEnabled: false, minZoom: 0.03, maxZoom: 3,
    });
    let data = null;
    let helpers = false;
    cy.on("tap", "node", (event) => onSelect(event.target.data("nodeId")));

    function build() {
      const nodes = data.nodes.filter((n) => helpers || !n.helper);
      const edges = helpers ? data.edges : data.task_edges;
      cy.startBatch();
      cy.elements().remove();
      cy.add([...nodes.map(nodeElement), ...edges.map(edgeElement)]);
      cy.endBatch();
      cy.layout({
        name: "dagre", rankDir: "TB", nodeSep: 22, rankSep: 46, edgeSep: 8, animate: false,
      }).run();
      readableView();
    }

    // Fit the whole graph, unless that makes labels unreadable: then start at the top.
    function readableView() {
      cy.fit(undefined, 28);
      if (cy.zoom() > NATURAL_ZOOM) {
        cy.zoom(NATURAL_ZOOM);
        cy.center();
      }
      if (cy.zoom() >= READABLE_ZOOM || cy.nodes().empty()) return;
      const all = cy.elements().boundingBox();
      const top = cy.nodes().roots().boundingBox();
      cy.zoom(READABLE_ZOOM);
      cy.pan({
        x: cy.width() / 2 - ((top.x1 + top.x2) / 2) * READABLE_ZOOM,
        y: 24 - all.y1 * READABLE_ZOOM,
      });
    }

    function update(fresh) {
      const changed = !data || fresh.nodes.length !== data.nodes.length;
      data = fresh;
      if (changed) return build();
      cy.batch(() => {
        for (const node of fresh.nodes) {
          const element = cy.getElementById(String(node.id));
          if (element.empty()) continue;
          const next = nodeElement(node);
          element.data(next.data);
          element.classes(next.classes);
        }
      });
    }

    function showHelpers(on) {
      helpers = on;
      if (data) build();
    }

    function select(nodeId) {
      cy.nodes().unselect();
      const element = cy.getElementById(String(nodeId));
      if (element.nonempty()) element.select();
    }

    return { cy, update, showHelpers, select, fit: () => cy.fit(undefined, 28) };
  }

  function legend(box) {
    const item = (colour, text, extra = {}) => V.el("span", { class: "legend-item" },
      V.el("span", { class: "swatch", style: { background: colour, ...extra } }), text);
    V.fill(box,
      item(V.colour("COMPLETED"), "completed"), item(V.colour("RUNNING"), "running"),
      item(V.colour("PENDING_BACKEND"), "queued"),
      item(V.colour("FAILED"), "failed"), item(V.colour("NEW_OBJECT"), "not run"),
      item("#fff", "reused", { border: `3px double ${V.REUSED}` }));
  }

  return { create, legend };
})();
