// Acting on a dispatch from its page: redispatch (edit inputs, reuse, force rerun, preview the
// plan, then follow the new dispatch), cancel, delete. Everything goes through the REST API.
"use strict";

const Actions = (() => {
  const { el } = V;

  // Inputs as the form has them, as JSON text exactly as typed (JavaScript would turn 2.0
  // into 2: an int where the workflow had a float). Only changed ones are sent, by name.
  function changedInputs(form, inputs) {
    const kwargs = [];
    for (const input of inputs.filter((i) => i.editable)) {
      const box = form.querySelector(`textarea[data-name="${CSS.escape(input.name)}"]`);
      try {
        JSON.parse(box.value);
      } catch (error) {
        throw new Error(`${input.name}: not valid JSON (${error.message})`);
      }
      if (box.value.trim() !== box.defaultValue.trim()) {
        kwargs.push(`${JSON.stringify(input.name)}: ${box.value.trim()}`);
      }
    }
    return `{${kwargs.join(", ")}}`;
  }

  // The redispatch request body (JSON text).
  function request(form, inputs) {
    const names = form.querySelector("#force-rerun").value.split(",")
      .map((s) => s.trim()).filter(Boolean);
    return `{"args": [], "kwargs": ${changedInputs(form, inputs)}, `
      + `"reuse_previous_results": ${form.querySelector("#reuse").checked}, `
      + `"force_rerun": ${JSON.stringify(names)}}`;
  }

  function planTable(plan) {
    const tasks = plan.decisions.filter((d) => d.kind === "electron" || d.kind === "sublattice");
    const reused = tasks.filter((d) => d.action === "reuse").length;
    return el("div", { id: "plan" },
      el("p", { id: "plan-headline" }, el("strong", {}, `${reused} reused`), " · ",
        el("strong", {}, `${tasks.length - reused} to run`), ` (of ${tasks.length} tasks)`),
      el("div", { class: "scroll" }, el("table", { class: "table compact" }, el("tbody", {},
        tasks.map((d) => el("tr", { "data-action": d.action },
          el("th", {}, d.name), el("td", {}, d.action === "reuse" ? "↻ reuse" : "▶ run"),
          el("td", {}, el("code", {}, d.code)), el("td", { class: "small" }, d.text)))))));
  }

  function inputField(input) {
    const attrs = { "data-name": input.name, rows: 2, spellcheck: "false" };
    if (!input.editable) {
      return el("label", { class: "field" }, el("span", {}, input.name),
        el("textarea", { ...attrs, disabled: true }, input.preview),
        el("span", { class: "muted small" }, "not plain JSON: redispatched unchanged"));
    }
    return el("label", { class: "field" }, el("span", {}, input.name),
      el("textarea", attrs, JSON.stringify(input.json_value, null, 1)));
  }

  function redispatchDialog(d, inputs) {
    const message = el("p", { class: "message", id: "redispatch-message", hidden: true });
    const planBox = el("div", { id: "plan-box" });
    const say = (text) => { message.hidden = !text; V.fill(message, text || ""); };
    const form = el("form", { method: "dialog", id: "redispatch-form" },
      el("h2", {}, `Redispatch ${d.name}`),
      el("p", { class: "muted small" }, "Inputs are JSON; change only what should differ."),
      inputs.length ? inputs.map(inputField) : el("p", { class: "muted" }, "No inputs."),
      el("label", { class: "toggle" }, el("input", { type: "checkbox", id: "reuse",
        checked: true }), " reuse previous results that are still valid"),
      el("label", { class: "field" }, el("span", {}, "Force rerun (task names, comma-separated)"),
        el("input", { id: "force-rerun", placeholder: "e.g. load_data, train" })),
      message, planBox,
      el("div", { class: "actions" },
        el("button", { type: "button", class: "quiet", id: "redispatch-close",
          onclick: () => dialog.close() }, "Close"),
        el("button", { type: "button", class: "quiet", id: "plan-preview", onclick: preview },
          "Preview plan"),
        el("button", { type: "button", id: "redispatch-go", onclick: go }, "Redispatch")));
    const dialog = el("dialog", { id: "redispatch-dialog", class: "wide" }, form);
    dialog.addEventListener("close", () => dialog.remove());

    async function preview() {
      try {
        say("");
        const plan = await V.api(`/dispatches/${d.dispatch_id}/redispatch/plan`,
          { method: "POST", raw: request(form, inputs) });
        V.fill(planBox, planTable(plan));
      } catch (error) { say(error.message); }
    }
    async function go() {
      try {
        say("");
        const made = await V.api(`/dispatches/${d.dispatch_id}/redispatch`,
          { method: "POST", raw: request(form, inputs) });
        location.assign(`/dispatches/${made.dispatch_id}`);
      } catch (error) { say(error.message); }
    }
    document.body.append(dialog);
    dialog.showModal();
  }

  async function cancelDispatch(d, onChange) {
    const ok = await V.confirmAction(`Cancel ${d.name}?`, "No new task starts; tasks that are "
      + "running finish and their results are kept.", "Cancel dispatch");
    if (!ok) return;
    try {
      await V.api(`/dispatches/${d.dispatch_id}/cancel`, { method: "POST",
        json: { task_ids: null } });
      onChange();
    } catch (error) { V.showMessage(error.message); }
  }

  async function deleteDispatch(d) {
    let preview;
    try {
      preview = await V.api(`/dispatches/${d.dispatch_id}?dry_run=true`, { method: "DELETE" });
    } catch (error) { return V.showMessage(error.message); }
    const body = el("div", { id: "delete-preview" },
      el("p", {}, `Deletes ${preview.deleted.length} dispatch(es) and ${preview.blobs_deleted} `
        + "stored value(s) that nothing else uses:"),
      el("ul", { class: "mono small" }, preview.deleted.map((x) => el("li", {}, x))),
      preview.kept.length ? el("p", { class: "small" }, `Kept (a remaining dispatch reuses them): `
        + preview.kept.join(", ")) : null,
      preview.note ? el("p", { class: "muted small" }, preview.note) : null);
    const ok = await V.confirmAction(`Delete ${d.name}?`, body, "Delete");
    if (!ok) return;
    try {
      await V.api(`/dispatches/${d.dispatch_id}`, { method: "DELETE" });
      location.assign("/");
    } catch (error) { V.showMessage(error.message); }
  }

  // The buttons under a dispatch's name.
  function bar(d, inputs, { onChange }) {
    const finished = V.TERMINAL.has(d.status);
    return el("div", { class: "actions-bar" },
      el("button", { id: "redispatch-open", type: "button",
        onclick: () => redispatchDialog(d, inputs) }, "Redispatch…"),
      !finished && d.status !== "NEW_OBJECT" ? el("button", { id: "cancel-dispatch",
        class: "danger", type: "button", onclick: () => cancelDispatch(d, onChange) },
      "Cancel") : null,
      finished && !d.parent_dispatch_id ? el("button", { id: "delete-dispatch",
        class: "quiet danger-text", type: "button", onclick: () => deleteDispatch(d) },
      "Delete") : null);
  }

  return { bar, changedInputs };
})();
