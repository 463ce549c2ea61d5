// The review queue: list suggestions, show one with its input, evidence and provenance, edit it, decide on it.

import { api, apiPage, labelsInUse, project, whoami } from "./api.js";
import { $, SUPERSEDED, flash, h, latestOnly, linkButton, table, when } from "./dom.js";
import { commentList, confirmDelete, followView, offerMentions, offerPeople } from "./comments.js";
import { valueEffortMatrix } from "./matrix.js";
import {
  chosenPoints, conversationView, findingsList, keptChoices, keptLabels, prioritySignal, quotesList, refinementView, restoreChoices,
  saidQuotes,
} from "./payloads.js";

const TYPES = ["feature", "bug", "tech_debt", "research"];
const PRIORITY_INPUTS = ["reach", "impact", "confidence", "effort", "business_value", "time_criticality", "risk_reduction", "moscow"];
// unsaved: a pending suggestion's edits not yet accepted, kept (by id) while the reviewer looks elsewhere: another
// suggestion, another tab, a filter. `shown` is the suggestion the detail pane was last drawn for.
// commentDrafts: a comment typed and not yet sent, by suggestion id, kept across re-renders and other suggestions.
const state = { items: [], selected: null, selectId: undefined, busy: false, ticked: new Set(), unsaved: new Map(), shown: null, lastDecided: [], commentDrafts: new Map() };
const QUEUE_PAGE = 200;
const fetchQueue = latestOnly((params) => apiPage(`/v1/suggestions?${params}`));

const lines = (text) => text.split("\n").map((x) => x.trim()).filter(Boolean);
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const STORIES = ["story_draft", "rewrite"];  // kinds whose payload is a story the reviewer can edit before accepting
// Kinds whose acceptance can be undone (service/review/decisions.py: HANDLERS with an `undo`); any rejection can be.
export const UNDONE_ACCEPTS = ["story_draft", "rewrite", "split", "estimate", "labels"];
export const undoable = (s) => s.status === "rejected" || (s.status === "accepted" && UNDONE_ACCEPTS.includes(s.kind));
const queueRow = (id) => document.querySelector(`#queue li[data-id="${id}"]`);

export async function loadQueue(selectId) {
  if (selectId !== undefined) state.selectId = selectId; // a later reload that supersedes this one selects it
  const params = new URLSearchParams({ limit: String(QUEUE_PAGE) });
  if ($("#filter-kind").value) params.set("kind", $("#filter-kind").value);
  const status = $("#filter-status").value;
  if (status !== "all") params.set("status", status);
  if ($("#filter-q").value.trim()) params.set("q", $("#filter-q").value.trim());
  const assigned = $("#filter-assignee").value;
  if (assigned === "none") params.set("unassigned", "true");
  else if (assigned === "me") {
    if (!whoami().name) flash("Type your name in Reviewer first: \"to me\" means the suggestions given to that name.", "info");
    params.set("assignee", whoami().name || " ");  // no name: none (assignees are stripped, never a space)
  }
  const page = await fetchQueue(params);
  if (page === SUPERSEDED) return; // a later reload (say, after a filter changed) shows its own reply
  state.items = page.items;
  $("#queue-total").textContent = page.total > page.items.length
    ? `the newest ${page.items.length} of ${page.total} shown: decide these, or filter or search, to see the rest` : "";
  state.items.reverse(); // oldest first: review in the order things arrived
  const pendingIds = new Set(pendingShown().map((s) => s.id));
  state.ticked = new Set([...state.ticked].filter((id) => pendingIds.has(id)));  // ticks on what is still shown
  const queue = $("#queue");
  queue.replaceChildren(...state.items.map((s) => h("li", {
    dataset: { id: s.id }, class: `queue-item ${s.status}${state.unsaved.has(s.id) ? " edited" : ""}`, tabindex: "0",
    onclick: () => select(s.id),
  }, s.status === "pending" ? tickBox(s.id) : h("span", {}),
     h("span", { class: `kind ${s.kind}` }, s.kind.replace("_", " ")), " ",
     h("span", { class: "title" }, s.summary, commentCount(s.comment_count), waited(s), s.assignee ? h("span", { class: "assignee" }, ` → ${s.assignee}`) : ""),
     h("span", { class: `status ${s.status}` }, s.status))));
  showTicked();
  const matrix = valueEffortMatrix(state.items, select);
  $("#matrix-slot").replaceChildren(...(matrix ? [matrix] : []));
  const asked = state.selectId;  // opened from elsewhere (the inbox, the activity, a link): looked at
  const keep = state.items.find((s) => s.id === (asked ?? state.selected?.id));
  state.selectId = undefined;
  if (keep) select(keep.id, keep.id === asked);
  else if (state.items.length) select(state.items[0].id, false);  // shown first by itself: not yet looked at
  else { state.selected = null; $("#detail").replaceChildren(h("p", { class: "empty" }, "Nothing to review here.")); }
  refreshCount();
}

// Ticking: several pending suggestions accepted as they are, or rejected for one reason, in one request.
function tickBox(id) {
  const box = h("input", { type: "checkbox", class: "tick", title: "Tick to decide on several at once (x)", "aria-label": `Tick #${id}` });
  box.addEventListener("click", (event) => event.stopPropagation());
  box.addEventListener("change", () => { if (box.checked) state.ticked.add(id); else state.ticked.delete(id); showTicked(); });
  return box;
}

const pendingShown = () => state.items.filter((s) => s.status === "pending");

function showTicked() {  // the boxes, the count and "all pending shown" as `state.ticked` says
  const pending = pendingShown();
  $("#bulk").hidden = !pending.length;
  $("#bulk-count").textContent = `${state.ticked.size} ticked`;
  $("#bulk-all").checked = pending.length > 0 && pending.every((s) => state.ticked.has(s.id));
  for (const box of document.querySelectorAll("#queue .tick")) box.checked = state.ticked.has(Number(box.closest("li").dataset.id));
}

export function tick() {
  const s = state.selected;
  if (!s || s.status !== "pending") return;
  if (state.ticked.has(s.id)) state.ticked.delete(s.id); else state.ticked.add(s.id);
  showTicked();
}

export function tickAll(on) {
  state.ticked = new Set(on ? pendingShown().map((s) => s.id) : []);
  showTicked();
}

export function decideTicked(verb) {
  const ids = [...state.ticked];
  if (!ids.length) { flash("Tick the suggestions to decide on first (x, or the boxes in the queue).", "info"); return; }
  const reason = $("#bulk-reason").value.trim();
  if (verb === "reject" && !reason) { $("#bulk-reason").focus(); flash("Say why you reject them, then press Reject ticked.", "info"); return; }
  keepUnsaved();
  const edited = verb === "accept" ? ids.filter((id) => state.unsaved.has(id)) : [];
  if (edited.length) {
    flash(`${edited.map((id) => `#${id}`).join(", ")} ${edited.length > 1 ? "have" : "has"} your edits, not yet accepted: accept ${edited.length > 1 ? "each" : "it"} on its own (a) to keep them, or untick ${edited.length > 1 ? "them" : "it"}.`, "info");
    return;
  }
  let said = "";
  return decide(async () => {
    const result = await api(`/v1/suggestions/${verb}`, { method: "POST", json: verb === "reject" ? { ids, reason } : { ids } });
    const refused = result.refused.map((r) => `#${r.id}: ${r.detail}`).join("; ");
    said = `${verb === "reject" ? "Rejected" : "Accepted"} ${result.decided.length} of ${ids.length}.${refused ? ` Not decided: ${refused}` : ""}`;
    state.ticked.clear();
    $("#bulk-reason").value = "";
    return decided(result.decided, verb);
  }, () => said, () => ids.every((id) => state.ticked.has(id)));
}

// The Review tab's badge: pending suggestions, and how many of them are given to me.
export async function refreshCount() {
  const me = whoami().name;
  const [all, mine] = await Promise.all([apiPage("/v1/suggestions?status=pending&limit=1"),
    me ? apiPage(`/v1/suggestions?status=pending&limit=1&assignee=${encodeURIComponent(me)}`) : { total: 0 }]);
  $("#pending-count").textContent = all.total ? `${all.total}${mine.total ? ` · ${mine.total} yours` : ""}` : "";
}

// How long an undecided suggestion has waited, once it is a day or more.
function waited(s) {
  const days = Math.floor((Date.now() - new Date(s.created_at).getTime()) / 86_400_000);
  return days >= 1 && (s.status === "pending" || s.status === "failed")
    ? h("span", { class: "age", title: `made ${when(s.created_at)}` }, ` · waiting ${days} d`) : "";
}

// Show suggestion `id`; `looked`: a person chose it (a click, a key, opened from elsewhere), so the inbox marks its
// lines read.
function select(id, looked = true) {
  state.selected = state.items.find((s) => s.id === id) || null;
  if (looked && state.selected) document.dispatchEvent(new CustomEvent("refinery:shown", { detail: id }));
  for (const li of document.querySelectorAll("#queue li")) li.classList.toggle("selected", Number(li.dataset.id) === id);
  queueRow(id)?.scrollIntoView({ block: "nearest" });
  render();
}

export function move(step) {
  if (!state.items.length) return;
  const at = state.items.findIndex((s) => s.id === state.selected?.id);
  const next = Math.min(Math.max(at + step, 0), state.items.length - 1);
  select(state.items[next].id);
}

function provenance(s) {
  const usage = s.usage || {};
  return h("p", { class: "provenance" },
    h("span", { class: "model" }, `model ${s.model} (${s.provider})`), " · ",
    h("span", { class: "prompt" }, `prompt ${s.prompt_version}`),
    usage.attempts ? ` · ${usage.attempts} attempt(s)` : "",
    ` · created ${when(s.created_at)}`,
    s.decided_at ? ` · ${s.status} by ${s.decided_by || "someone"} at ${when(s.decided_at)}` : "",
    s.reason ? h("span", { class: "reason" }, ` · reason: ${s.reason}`) : "");
}

function evidenceBlock(s) {
  const ev = s.evidence || {};
  const parts = [];
  if (ev.duplicates?.length) {
    parts.push(h("h4", {}, "Possible duplicates"), table(["", "Title", "Score", "Verdict"],
      ev.duplicates.map((d) => [`${d.kind === "backlog_item" ? "item" : "draft"} #${d.item_id}`, d.closed ? `${d.title} (closed)` : d.title,
        Number(d.score).toFixed(3), h("span", { class: `verdict ${d.verdict}` }, d.verdict)])));
  }
  if (saidQuotes(ev.quotes)) {  // from a conversation; a note's own view shows its quotes already
    if (!saidQuotes(s.payload?.quotes)) parts.push(h("h4", {}, "Said in the meeting"), quotesList(ev.quotes));
    else parts.push(h("p", { class: "hint" }, `${ev.quotes.length === 1 ? "The line" : "The lines"} quoted below, found in the transcript.`));
  } else if (ev.quotes?.length) {
    parts.push(h("h4", {}, "Customer quotes"), h("ul", { class: "quotes" },
      ev.quotes.map((q) => h("li", {}, h("q", {}, q.text ?? q), q.ticket_id ? ` (ticket ${q.ticket_id})` : ""))));
  }
  const counts = [];
  if (ev.ticket_count) counts.push(`${ev.ticket_count} tickets`);
  if (ev.distinct_customers) counts.push(`${ev.distinct_customers} customers`);
  if (ev.date_range) counts.push(`${when(ev.date_range[0])} – ${when(ev.date_range[1])}`);
  if (ev.categories) counts.push(Object.entries(ev.categories).map(([c, n]) => `${n} ${c}`).join(", "));
  const linked = ev.ticket_keys?.length ? ev.ticket_keys : ev.ticket_ids || [];
  if (linked.length) counts.push(`tickets ${linked.slice(0, 20).join(", ")}${linked.length > 20 ? " …" : ""}`);
  if (counts.length) parts.push(h("p", { class: "counts" }, counts.join(" · ")));
  if (ev.why) parts.push(h("p", { class: "why" }, `Why: ${ev.why}`));
  if (ev.requirements?.length) parts.push(h("h4", {}, "Requirements"), h("ol", { class: "requirements" }, ev.requirements.map((r) => h("li", {}, r))));
  if (ev.findings?.length) parts.push(h("h4", {}, "Findings"), findingsList(ev.findings));
  if (ev.comparables?.length) {  // a priority suggestion: similar items whose priority the team already set
    parts.push(h("h4", {}, "Similar items the team already prioritized"), table(["Item", "Priority", "Time criticality", "Set by", "Similarity"],
      ev.comparables.map((c) => [`#${c.item_id} ${c.title}`, c.priority, String(c.time_criticality ?? "-"), c.set_by, Number(c.score).toFixed(2)])));
  }
  if (ev.team) {  // a priority suggestion, once the team has decided enough priorities to learn from
    parts.push(h("p", { class: "team" }, `The team's own priorities (${ev.team.items} decided items) suggest ${ev.team.level} ` +
      "for words like these; the urgency is the average of that and the model's estimate."));
  }
  if (ev.team_words) parts.push(h("p", { class: "hint" }, "What the team's words suggest is shown with the estimate below."));
  if (ev.rationale) parts.push(h("h4", {}, "Rationales"), table(["Input", "Why"], Object.entries(ev.rationale).map(([k, v]) => [k.replace("_rationale", ""), v])));
  return parts.length ? h("section", { class: "evidence" }, h("h3", {}, "Evidence"), parts) : h("p", { class: "hint" }, "No evidence recorded.");
}

function inputBlock(s) {
  const input = s.input || {};
  if (input.tickets) {
    return h("section", { class: "input" }, h("h3", {}, "Input: tickets of the theme (redacted, first few)"),
      h("ul", { class: "tickets" }, input.tickets.map((t) => h("li", {}, t))));
  }
  if ("conversation_id" in input && s.kind !== "story_draft") {  // a note from a conversation
    return h("section", { class: "input" }, h("h3", {}, "Input"),
      h("p", {}, "Said in ", h("a", { class: "meeting-link", href: `#meetings/${input.conversation_id}` },
        input.conversation_title ? `the meeting "${input.conversation_title}"` : `meeting #${input.conversation_id}`),
        input.backlog_item_id != null ? ` about backlog item #${input.backlog_item_id}` : ""));
  }
  if ("backlog_item_id" in input && "fingerprint" in input) {  // a rewrite, split or estimate of a backlog item
    return h("section", { class: "input" }, h("h3", {}, "Input"),
      h("p", {}, `Backlog item #${input.backlog_item_id} as it was: `, h("strong", {}, input.title || ""),
        input.comment_ids?.length ? h("span", { class: "read-comments" }, `, with its ${input.comment_ids.length} comment${input.comment_ids.length === 1 ? "" : "s"} `,
          h("a", { href: `#backlog/${input.backlog_item_id}` }, "(thread)")) : ""));
  }
  if (s.kind !== "story_draft") return h("details", {}, h("summary", {}, "Input"), h("pre", {}, JSON.stringify(input, null, 2)));
  return h("section", { class: "input" }, h("h3", {}, "Input"),
    h("blockquote", { id: "input-text" }, input.text || ""), input.context ? h("p", { class: "context" }, `Context: ${input.context}`) : "",
    input.conversation_id != null ? h("p", {}, h("a", { class: "meeting-link", href: `#meetings/${input.conversation_id}` }, "Open the meeting")) : "");
}

function criterionRow(c = { given: "", when: "", then: "" }) {
  const row = h("div", { class: "criterion" },
    h("label", {}, "Given", h("textarea", { name: "given", rows: "2" }, c.given)),
    h("label", {}, "When", h("textarea", { name: "when", rows: "2" }, c.when)),
    h("label", {}, "Then", h("textarea", { name: "then", rows: "2" }, c.then)),
    h("button", { type: "button", class: "remove", title: "Remove this criterion", onclick: () => row.remove() }, "×"));
  return row;
}

// The labels a draft's most similar labelled items agree on (evidence.team_labels), each a button that adds it to
// the draft's labels: drafts take the team's own labels.
function teamLabels(evidence, editable) {
  const shares = evidence?.team_labels?.shares || [];
  if (!shares.length) return "";
  const add = (label) => {
    const input = $("#story-form").elements.labels;
    const now = input.value.split(",").map((x) => x.trim()).filter(Boolean);
    if (now.map((x) => x.toLowerCase()).includes(label.toLowerCase())) return;
    input.value = [...now, label].join(", ");
    input.dispatchEvent(new Event("input", { bubbles: true }));  // kept as an edit, like typing
  };
  return h("p", { class: "team-labels hint" }, "Similar items are labelled: ", ...shares.map((v) => h("button", {
    type: "button", class: "add-label", disabled: !editable, dataset: { label: v.label },
    title: `${Math.round(Number(v.share) * 100)}% of the vote of the most similar labelled items, on ${v.items.length} of them`,
    onclick: () => add(v.label) }, `+ ${v.label}`)));
}

// The labels in `input` that no item of the project has yet (each would be a new label in the tracker once sent),
// said under it as it changes; nothing while the project has no labels at all.
function newLabels(input) {
  const hint = h("p", { class: "new-labels hint" });
  const update = async () => {
    const known = new Set((await labelsInUse()).map((l) => l.label.toLowerCase()));
    const added = known.size ? input.value.split(",").map((x) => x.trim()).filter((x) => x && !known.has(x.toLowerCase())) : [];
    hint.textContent = added.length ? `New to this project: ${added.join(", ")} (no item has ${added.length === 1 ? "it" : "them"} yet)` : "";
  };
  input.addEventListener("input", () => update().catch(() => {}));
  update().catch(() => {});
  return hint;
}

function storyForm(p, editable, evidence = null) {
  const field = (name, label, value) => h("label", {}, label, h("input", { name, value: value || "", disabled: !editable }));
  const area = (name, label, values) => h("label", {}, label, h("textarea", { name, rows: "2", disabled: !editable }, (values || []).join("\n")));
  const criteria = h("div", { id: "criteria" }, (p.acceptance_criteria || []).map(criterionRow));
  const labelsField = field("labels", "Labels (comma-separated)", (p.labels || []).join(", "));
  if (!editable) criteria.querySelectorAll("textarea, button").forEach((x) => { x.disabled = true; });
  return h("form", { id: "story-form", onsubmit: (e) => e.preventDefault() },
    field("title", "Title", p.title),
    h("label", {}, "Type", h("select", { name: "item_type", disabled: !editable },
      TYPES.map((t) => h("option", { value: t, selected: t === p.item_type }, t)))),
    field("persona", "As a", p.persona), field("goal", "I want", p.goal), field("benefit", "so that", p.benefit),
    h("fieldset", {}, h("legend", {}, "Acceptance criteria"), criteria,
      editable ? h("button", { type: "button", id: "add-criterion", onclick: () => criteria.append(criterionRow()) }, "+ criterion") : ""),
    labelsField, teamLabels(evidence, editable), newLabels(labelsField.querySelector("input")),
    area("assumptions", "Assumptions (one per line)", p.assumptions),
    area("open_questions", "Open questions (one per line)", p.open_questions));
}

function readStory() {
  const form = $("#story-form");
  const value = (name) => form.elements[name].value.trim();
  return {
    title: value("title"), persona: value("persona"), goal: value("goal"), benefit: value("benefit"),
    item_type: value("item_type"),
    acceptance_criteria: [...form.querySelectorAll(".criterion")].map((row) => ({
      given: row.querySelector("[name=given]").value.trim(), when: row.querySelector("[name=when]").value.trim(),
      then: row.querySelector("[name=then]").value.trim(),
    })),
    labels: value("labels").split(",").map((x) => x.trim().toLowerCase()).filter(Boolean),
    assumptions: lines(form.elements.assumptions.value), open_questions: lines(form.elements.open_questions.value),
  };
}

// The story form's fields that differ from the suggested story `p`.
const readStoryEdits = (p) => Object.fromEntries(Object.entries(readStory()).filter(([k, v]) => !same(v, p[k] ?? [])));

function priorityForm(p, editable) {
  const inputs = p.inputs || {};
  return h("form", { id: "priority-form", onsubmit: (e) => e.preventDefault() },
    h("p", {}, `${p.framework?.toUpperCase()} score ${p.score} (${p.score_text}) · proposed rank ${p.proposed_rank}, priority ${p.proposed_priority}`,
      p.goal ? ` · serves: ${p.goal}` : "", ` · reach from ${p.reach_source}`),
    h("div", { class: "grid" }, PRIORITY_INPUTS.filter((k) => k in inputs).map((k) =>
      h("label", {}, k.replace("_", " "), h("input", { name: k, value: String(inputs[k] ?? ""), disabled: !editable, title: inputs[`${k}_rationale`] || "" })))),
    h("label", {}, "Depends on (backlog item ids, comma-separated; proposed only where the item's text names the other item, or a person linked them)",
      h("input", { name: "depends_on", value: (inputs.depends_on || []).join(", "), disabled: !editable })),
    h("ul", { class: "evidence", id: "dependency-evidence" }, (p.dependencies || []).map((d) =>
      h("li", {}, `#${d.item_id} ${d.title || ""}: `, d.source === "text" ? h("q", {}, d.evidence) : d.evidence))));
}

// A number typed as a number; anything else as typed, for the server to say what is wrong with it (a NaN would be sent
// as null and come back as "NaN" in a kept edit).
const numberOrText = (raw) => (raw !== "" && Number.isFinite(Number(raw)) ? Number(raw) : raw);
const ids = (text) => text.split(/[\s,]+/).filter(Boolean).map(numberOrText);

function readInputEdits(p) {
  const edits = {};
  for (const input of $("#priority-form").querySelectorAll("input")) {
    const before = p.inputs[input.name];
    const raw = input.value.trim();
    const after = input.name === "depends_on" ? ids(raw) : typeof before === "number" ? numberOrText(raw) : raw;
    if (!same(after, before)) edits[input.name] = after;
  }
  return edits;
}

function otherPayload(s) {
  const p = s.payload || {};
  if (s.kind === "merge") {
    return h("section", {}, h("p", {}, "Keep ", h("strong", {}, `item #${p.keep.item_id} ${p.keep.title}${p.keep.closed ? " (closed)" : ""}`)),
      h("p", {}, "Fold in ", h("strong", {}, `${p.fold_in.kind === "suggestion" ? "draft" : "item"} #${p.fold_in.item_id} ${p.fold_in.title}`)),
      h("p", {}, `score ${Number(p.score).toFixed(3)} · verdict ${p.verdict}`));
  }
  if (s.kind === "sprint_plan") {
    return h("section", {}, h("p", {}, `${p.points_used} of ${p.capacity_points} points`),
      table(["#", "Item", "Points"], (p.items || []).map((i, n) => [String(n + 1), `#${i.backlog_item_id ?? i.id} ${i.title ?? ""}`, String(i.story_points ?? i.points ?? "")])));
  }
  return h("pre", {}, JSON.stringify(p, null, 2));
}

// Keep what the reviewer typed into the shown suggestion's form, if it differs from the suggestion, before the pane
// is drawn again; drawn again from the same suggestion, the form shows it (a changed suggestion drops it).
function keepUnsaved() {
  const s = state.shown;
  if (!s || s.status !== "pending" || $("#detail").dataset.id !== String(s.id)) return;
  let edited = null;
  if ($("#story-form")) {
    const edits = readStoryEdits(s.payload);
    if (Object.keys(edits).length) edited = { ...s.payload, ...edits };
  } else if ($("#priority-form")) {
    const edits = readInputEdits(s.payload);
    if (Object.keys(edits).length) edited = { ...s.payload, inputs: { ...s.payload.inputs, ...edits } };
  }
  if (edited) state.unsaved.set(s.id, { from: JSON.stringify(s.payload), payload: edited });
  else state.unsaved.delete(s.id);
  queueRow(s.id)?.classList.toggle("edited", Boolean(edited));
}

function unsavedPayload(s) {
  const kept = state.unsaved.get(s.id);
  if (kept && s.status === "pending" && kept.from === JSON.stringify(s.payload)) return kept.payload;
  if (kept) {
    state.unsaved.delete(s.id);
    queueRow(s.id)?.classList.remove("edited");
  }
  return null;
}

function render() {
  const s = state.selected;
  const detail = $("#detail");
  if (!s) return;
  keepUnsaved();
  state.shown = s;
  const unsaved = unsavedPayload(s);
  const payload = unsaved || s.payload || {};
  // A re-render of the same suggestion (a refresh of the queue) keeps a half-typed reject reason and its focus: lost
  // focus would send the rest of the reason to the review shortcuts (an "a" in it would accept).
  const typed = $("#reject-reason");
  const kept = typed && detail.dataset.id === String(s.id) ? { value: typed.value, focused: document.activeElement === typed } : null;
  const choices = detail.dataset.id === String(s.id) && s.status === "pending" ? keptChoices(detail) : null;  // points, labels
  detail.dataset.id = String(s.id);
  const pending = s.status === "pending";
  const regenerable = s.kind === "story_draft" && "text" in (s.input || {}) && (pending || s.status === "failed");
  const body = [];
  if (unsaved) body.push(h("p", { class: "unsaved" }, "Your edits, not yet accepted, are kept: accept to keep them, or edit them back."));
  if (STORIES.includes(s.kind) && s.status !== "failed") body.push(storyForm(payload, pending, s.evidence));
  else if (s.kind === "priority" && !prioritySignal(s)) body.push(priorityForm(payload, pending));
  else if (s.status === "failed") body.push(h("section", { class: "failed" }, h("p", {}, `The model's output failed validation: ${s.reason}`), h("pre", {}, s.payload?.raw_output ?? "")));
  else body.push(refinementView(s) || conversationView(s) || otherPayload(s));
  detail.replaceChildren(
    h("h2", {}, h("span", { class: `kind ${s.kind}` }, s.kind.replace("_", " ")), ` #${s.id} `, h("span", { class: `status ${s.status}` }, s.status),
      " ", linkButton(`review/${s.id}`, project())),
    provenance(s),
    s.warnings?.length ? h("ul", { class: "warnings" }, s.warnings.map((w) => h("li", {}, w))) : "",
    inputBlock(s), evidenceBlock(s), ...body,
    h("div", { class: "actions" },
      pending ? h("button", { id: "accept", class: "primary", onclick: accept }, "Accept (a)") : "",
      pending ? h("input", { id: "reject-reason", placeholder: "Reason for rejecting", maxlength: "2000" }) : "",
      pending ? h("button", { id: "reject", onclick: reject }, "Reject (r)") : "",
      regenerable ? h("button", { id: "regenerate", onclick: regenerate }, "Regenerate (g)") : "",
      undoable(s) ? h("button", { id: "undo", class: "undo", onclick: () => undo([s.id]) }, "Undo this decision (u)") : "",
      h("button", { id: "show-history", onclick: history }, "History (h)"),
      pending || s.status === "failed" ? assignBox(s) : (s.assignee ? h("span", { class: "hint" }, `assigned to ${s.assignee}`) : ""),
      s.backlog_item_id ? h("a", { href: "#backlog" }, `backlog item #${s.backlog_item_id}`) : ""),
    regenerable ? h("details", { id: "revise" }, h("summary", {}, "Revise the input before regenerating"),
      h("textarea", { id: "revise-text", rows: "3" }, s.input.text || ""), h("input", { id: "revise-context", value: s.input.context || "", placeholder: "Product context" })) : "",
    h("section", { id: "comments", dataset: { id: s.id } }),
    h("div", { id: "history" }));
  loadComments(s).catch((error) => flash(error.message, "error"));
  if (choices) restoreChoices(detail, choices);
  const reason = $("#reject-reason");
  if (kept && reason) {
    reason.value = kept.value;
    if (kept.focused) reason.focus();
  }
}

// A decision asked for while the queue reloads waits for the reload, then goes ahead only if `stands()` (what was
// decided on is still shown, still pending): a key pressed meanwhile is neither lost nor applied to something else.
async function decide(work, done, stands) {
  if (state.busy) return;
  state.busy = true;
  document.body.classList.add("busy");
  try {
    if (fetchQueue.pending) {
      await fetchQueue.settled();
      if (!stands()) { flash("The queue changed while it reloaded: check what is shown, then decide again.", "info"); return; }
    }
    const made = await work();  // the ids of decisions it made that can be undone, if any
    flash(typeof done === "function" ? done() : done, "info", Array.isArray(made) && made.length ? undoButton(made) : null);
    await loadQueue();
  } catch (error) {
    flash(error.message, "error");
  } finally {
    state.busy = false;
    document.body.classList.remove("busy");
  }
}

const stillShown = (s) => () => state.selected?.id === s.id && state.selected.status === "pending";

// A decided suggestion's form edits are spent: the queue's reload must not keep them.
function forget(s) {
  state.unsaved.delete(s.id);
  if (state.shown?.id === s.id) state.shown = null;
}

export function accept() {
  const s = state.selected;
  if (!s || s.status !== "pending") return;
  const body = {};
  if (STORIES.includes(s.kind)) {
    const edits = readStoryEdits(s.payload);
    if (Object.keys(edits).length) body.edits = edits;
  }
  const kept = s.kind === "labels" ? keptLabels($("#detail .labels-view")) : null;
  if (kept) body.edits = kept;
  const points = s.kind === "estimate" ? chosenPoints($("#detail div.estimate")) : null;
  if (points !== null) body.points = points;
  if (s.kind === "priority" && $("#priority-form")) {  // a conversation's priority signal has no inputs to edit
    const edits = readInputEdits(s.payload);
    if (Object.keys(edits).length) body.input_edits = edits;
  }
  return decide(() => api(`/v1/suggestions/${s.id}/accept`, { method: "POST", json: body }).then(() => decided([s], "accept")),
    `Accepted #${s.id}${body.edits ? " with your edits" : body.points !== undefined ? ` with ${body.points} points` : ""}.`, stillShown(s));
}

export function reject() {
  const s = state.selected;
  if (!s || s.status !== "pending") return;
  const reason = $("#reject-reason");
  const text = reason.value;
  if (!text.trim()) { reason.focus(); flash("Say why you reject it, then press Enter.", "info"); return; }
  return decide(() => api(`/v1/suggestions/${s.id}/reject`, { method: "POST", json: { reason: text } }).then(() => decided([s], "reject")),
    `Rejected #${s.id}.`, stillShown(s));
}

// The reviewer's last decisions on this page (one, or a ticked batch) that can be undone, which `u` (or the Undo
// next to their message) undoes; their ids.
function decided(list, verb) {
  for (const s of list) forget(s);
  state.lastDecided = list.filter((s) => verb === "reject" || UNDONE_ACCEPTS.includes(s.kind)).map((s) => s.id);
  return state.lastDecided;
}

const undoButton = (ids) => h("button", { type: "button", class: "undo", onclick: () => undo(ids) }, "Undo (u)");

// Undo decisions (the decided suggestion shown, else the last ones made here): each is pending again, or refused by
// the API saying why (the backlog has moved on since).
export function undo(ids = undefined) {
  const s = state.selected;
  if (ids === undefined && s?.status === "accepted" && !undoable(s)) {  // not some other decision instead
    flash(`Accepting a ${s.kind.replace("_", " ")} is not undone here: edit the items it changed instead.`, "info");
    return;
  }
  ids ??= s && undoable(s) ? [s.id] : state.lastDecided;
  if (!ids?.length) { flash("No decision to undo: decide one first, or open a decided suggestion.", "info"); return; }
  let said = "";
  return decide(async () => {
    const undone = [], refused = [];
    for (const id of ids) {
      try {
        await api(`/v1/suggestions/${id}/undo`, { method: "POST" });
        undone.push(id);
      } catch (error) {
        refused.push(`#${id}: ${error.message}`);
      }
    }
    state.lastDecided = (state.lastDecided || []).filter((id) => !undone.includes(id));
    if (!undone.length) throw new Error(`Not undone: ${refused.join("; ")}`);
    state.selectId = undone[0];  // shown again, to decide anew
    said = ids.length === 1 ? `Undone: #${undone[0]} is pending again.`
      : `Undone ${undone.length} of ${ids.length}: pending again.${refused.length ? ` Not undone: ${refused.join("; ")}` : ""}`;
  }, () => said, () => true);
}

export function regenerate() {
  const s = state.selected;
  if (!$("#regenerate")) return;
  const revise = $("#revise");
  const json = {};
  if (revise?.open) {
    const text = $("#revise-text").value.trim();
    const context = $("#revise-context").value.trim();
    if (text && text !== s.input.text) json.text = text;
    if (context !== (s.input.context || "")) json.context = context;
  }
  flash(`Regenerating #${s.id} …`);
  return decide(() => api(`/v1/suggestions/${s.id}/regenerate`, { method: "POST", json }), `Regenerated #${s.id}.`,
    () => state.selected?.id === s.id);
}

export async function history() {
  const s = state.selected;
  if (!s) return;
  const events = await api(`/v1/suggestions/${s.id}/history`);
  $("#history").replaceChildren(h("h3", {}, "History"), table(["When", "Action", "By", "Before", "After"],
    events.map((e) => [when(e.at), e.action, e.actor || "", h("pre", {}, JSON.stringify(e.before, null, 1)), h("pre", {}, JSON.stringify(e.after, null, 1))])));
}

// Assigning: an undecided suggestion is given to a person to decide ("me": the Reviewer name or the signed-in user),
// or to no one; anyone may still decide it. The queue filters on it.
function assignBox(s) {
  return h("span", { class: "assign" },
    h("input", { id: "assignee", value: s.assignee || "", placeholder: "assign to…", maxlength: "200", "aria-label": "Assignee", onfocus: (e) => offerPeople(e.target) }),
    h("button", { type: "button", id: "assign", onclick: () => assignTo($("#assignee").value.trim() || null) }, s.assignee ? "Reassign" : "Assign"),
    h("button", { type: "button", id: "assign-me", onclick: () => assignTo("me") }, "To me (m)"),
    s.assignee ? h("button", { type: "button", id: "unassign", onclick: () => assignTo(null) }, "Unassign") : "");
}

// The ticked suggestions given to one person (or to no one, with the name left empty), each on its own request.
export function assignTicked() {
  const ids = [...state.ticked];
  if (!ids.length) { flash("Tick the suggestions to assign first (x, or the boxes in the queue).", "info"); return; }
  const name = $("#bulk-assignee").value.trim() || null;
  let said = "";
  return decide(async () => {
    const refused = [];
    for (const id of ids) {
      try {
        await api(`/v1/suggestions/${id}/assign`, { method: "POST", json: { assignee: name } });
      } catch (error) {
        refused.push(`#${id}: ${error.message}`);
      }
    }
    state.ticked.clear();
    said = `Assigned ${ids.length - refused.length} of ${ids.length} to ${name || "no one"}.${refused.length ? ` Not assigned: ${refused.join("; ")}` : ""}`;
  }, () => said, () => true);
}

export function assignTo(who) {
  const s = state.selected;
  if (!s || (s.status !== "pending" && s.status !== "failed")) return;
  const name = who === "me" ? whoami().name : who;
  if (who === "me" && !name) { flash("Type your name in Reviewer first.", "info"); return; }
  return decide(async () => {
    await api(`/v1/suggestions/${s.id}/assign`, { method: "POST", json: { assignee: name } });
    state.selectId = s.id;
  }, name ? `#${s.id} is assigned to ${name}.` : `#${s.id} is assigned to no one.`, () => state.selected?.id === s.id);
}

// Comments: people discuss a suggestion (a question to the team, why it is held) before or after deciding it
// (comments.js draws the thread).
const commentCount = (n) => n ? h("span", { class: "comment-count" }, ` · ${n} comment${n === 1 ? "" : "s"}`) : "";

async function loadComments(s) {
  const me = whoami();
  const [list, subscribed] = await Promise.all([api(`/v1/suggestions/${s.id}/comments`),
    me.name ? api(`/v1/suggestions/${s.id}/subscription`).catch(() => null) : null]);
  const slot = $("#comments");
  if (!slot || slot.dataset.id !== String(s.id)) return;  // another suggestion is shown by now
  const text = h("textarea", { id: "comment-text", rows: "2", maxlength: "10000", placeholder: "A question to the team, why it is held… (c; Ctrl+Enter sends)" });
  text.value = state.commentDrafts.get(s.id) || "";
  text.addEventListener("input", () => state.commentDrafts.set(s.id, text.value));
  const focused = document.activeElement?.id === "comment-text";
  const follow = subscribed ? followView(`/v1/suggestions/${s.id}`, "Its comments and decisions", subscribed, () => loadComments(s)) : "";
  slot.replaceChildren(h("h3", {}, `Comments (${list.length})`), follow,
    list.length ? commentList(list, (c) => deleteComment(s, c), (c, said) => editComment(s, c, said)) : "",
    h("form", { id: "comment-form", onsubmit: (event) => { event.preventDefault(); sendComment(); } },
      offerMentions(text), h("button", { type: "submit" }, "Comment")));
  if (focused) text.focus();
  const item = state.items.find((x) => x.id === s.id);
  if (item && item.comment_count !== list.length) {  // someone else commented meanwhile, or this page did
    item.comment_count = list.length;
    queueRow(s.id)?.querySelector(".title .comment-count")?.remove();
    queueRow(s.id)?.querySelector(".title")?.append(commentCount(list.length));
  }
}

export async function sendComment() {
  const s = state.selected;
  const text = $("#comment-text");
  if (!s || !text) return;
  if (!text.value.trim()) { text.focus(); flash("Write the comment first.", "info"); return; }
  try {
    await api(`/v1/suggestions/${s.id}/comments`, { method: "POST", json: { text: text.value } });
    state.commentDrafts.delete(s.id);
    text.value = "";
    await loadComments(s);
    flash(`Commented on #${s.id}.`);
  } catch (error) {
    flash(error.message, "error");
  }
}

// Throws what the server said (the editor shows it and keeps the text).
async function editComment(s, c, said) {
  await api(`/v1/suggestions/${s.id}/comments/${c.id}`, { method: "PATCH", json: { text: said } });
  await loadComments(s);
  flash("Comment edited.");
}

async function deleteComment(s, c) {
  if (!confirmDelete(c)) return;
  try {
    await api(`/v1/suggestions/${s.id}/comments/${c.id}`, { method: "DELETE" });
    await loadComments(s);
    flash("Comment deleted.");
  } catch (error) {
    flash(error.message, "error");
  }
}

export function focusComment() {
  $("#comment-text")?.focus();
}

// Opens one suggestion by id, whatever its status (an inbox line; a link's `#review/12`).
export async function open(id) {
  return showSuggestion(await api(`/v1/suggestions/${id}`));
}

export function showSuggestion(suggestion) {
  $("#filter-kind").value = "";
  $("#filter-q").value = "";
  $("#filter-status").value = suggestion.status;
  return loadQueue(suggestion.id);
}

// Whether edits not yet accepted would be lost by leaving the page (the browser then asks first).
export function holdsUnsavedEdits() {
  keepUnsaved();
  return state.unsaved.size > 0;
}

export function setFilters(kind, status) {
  $("#filter-kind").value = kind;
  $("#filter-q").value = "";
  $("#filter-status").value = status;
}
