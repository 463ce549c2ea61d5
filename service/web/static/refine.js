// The Refine tab: run a refinement over the backlog, then work through the refinement queue: each item's findings
// with their spans marked in its text, and its pending rewrite, split, estimate and labels suggestions side by side.

import { api, pollJob } from "./api.js";
import { $, SUPERSEDED, cancelButton, flash, h, latestOnly, oneAtATime } from "./dom.js";
import { chosenPoints, findingsList, highlightedText, keptChoices, keptLabels, refinementView, restoreChoices } from "./payloads.js";
import * as review from "./review.js";

const KINDS = { rewrite: "Rewrite", split: "Split", estimate: "Estimate", labels: "Labels" };
const NOT_NEEDED = { rewrite: "no rewrite needed: nothing a rewrite fixes was found", split: "no split needed: it fits a sprint" };
const state = { busy: false, running: false };

function jobView(job) {
  return h("div", { class: `job ${job.status}` },
    h("p", {}, `Refinement #${job.id}: `, h("strong", { class: "job-status" }, job.status),
      job.eta_s ? ` · about ${Math.round(job.eta_s)} s left` : "", " ", cancelButton("refine", job)),
    h("progress", { max: String(job.total || 1), value: String(job.processed) }),
    h("p", { class: "counts" }, `${job.processed} of ${job.total} items refined · ${job.findings} findings · `,
      `${job.suggestions} suggestions`, job.failed ? ` · ${job.failed} failed` : ""),
    job.errors.length ? h("ul", { class: "warnings" }, job.errors.map((e) => h("li", {}, e))) : "");
}

export async function run() {
  if (state.running) return;
  state.running = true;
  const button = $("#refine-run");
  button.disabled = true;
  try {
    const created = await api("/v1/refine", { method: "POST", json: {} });
    flash(`Refinement #${created.job_id} started.`);
    const job = await pollJob(created.status_url, (j) => $("#refine-job").replaceChildren(jobView(j)));
    flash(`Refinement #${job.id} ${job.status}: ${job.findings} findings, ${job.suggestions} suggestions.`,
      job.status === "failed" ? "error" : "info");
    await loadQueue();
    review.refreshCount().catch(() => {});
  } catch (error) {
    flash(error.message, "error");
  } finally {
    state.running = false;
    button.disabled = false;
  }
}

// Run `work` (an API call) one at a time, reload the queue, then flash what the work said (and `action`).
function act(work, action = null) {
  return oneAtATime(state, work, async (message) => {
    review.refreshCount().catch(() => {});
    return loadQueue().then(() => message, (error) => `${message} The queue did not reload: ${error.message}`);
  }, action);
}

// Undo the decision just made on `s`: pending again, back in the item's suggestions (the API says why where it cannot).
const undoButton = (s) => h("button", { type: "button", class: "undo", onclick: () => act(async () => {
  await api(`/v1/suggestions/${s.id}/undo`, { method: "POST" });
  return `Undone: ${s.kind} #${s.id} is pending again.`;
}) }, "Undo");

function accept(s, view) {
  const edits = s.kind === "labels" ? keptLabels(view) : null;
  const points = s.kind === "estimate" ? chosenPoints(view) : null;
  const body = { ...(edits ? { edits } : {}), ...(points !== null ? { points } : {}) };
  return act(async () => {
    const item = await api(`/v1/suggestions/${s.id}/accept`, { method: "POST", json: body });
    const what = { rewrite: `item #${item?.id} now reads "${item?.title}"`, estimate: `item #${item?.id} is ${item?.story_points} points`,
      labels: `item #${item?.id} is labelled ${(item?.labels || []).join(", ")}`,
      split: `item #${item?.id} is an epic with ${s.payload?.children?.length ?? 0} child stories` }[s.kind];
    return `Accepted ${s.kind} #${s.id}${what ? `: ${what}` : ""}.`;
  }, review.UNDONE_ACCEPTS.includes(s.kind) ? undoButton(s) : null);
}

function reject(s, input) {
  const reason = input.value.trim();
  if (!reason) { input.focus(); flash("Say why you reject it, then press Enter.", "info"); return; }
  return act(async () => {
    await api(`/v1/suggestions/${s.id}/reject`, { method: "POST", json: { reason } });
    return `Rejected ${s.kind} #${s.id}.`;
  }, undoButton(s));
}

function suggest(item, kind) {
  return act(async () => {
    const made = await api(`/v1/backlog/${item.id}/${kind}`, { method: "POST" });
    if (!made?.id) return `Item #${item.id}: ${made?.why || NOT_NEEDED[kind] || "nothing to suggest"}.`;
    return made.status === "failed" ? `The ${kind} for item #${item.id} failed: ${made.reason}`
      : `${KINDS[kind]} suggestion #${made.id} for item #${item.id} is ready.`;
  });
}

// A rewrite's open questions, each answered in the item's thread (a comment "Q: ... A: ...") and the rewrite then
// made again, reading it: what the team settles goes into the story.
function answersView(s) {
  const questions = s.kind === "rewrite" ? s.payload?.open_questions || [] : [];
  if (!questions.length) return "";
  const itemId = s.input?.backlog_item_id;
  return h("div", { class: "answers" }, h("h5", {}, "Answer in the item's thread"),
    ...questions.map((question) => {
      const box = h("input", { class: "answer", placeholder: question, "aria-label": `Answer: ${question}`, maxlength: "2000",
        onkeydown: (e) => { if (e.key === "Enter") { e.preventDefault(); answer(itemId, question, box); } } });
      return box;
    }));
}

function answer(itemId, question, box) {
  const text = box.value.trim();
  if (!text) { box.focus(); flash("Write the answer, then press Enter.", "info"); return; }
  return act(async () => {
    await api(`/v1/backlog/${itemId}/comments`, { method: "POST", json: { text: `Q: ${question}\nA: ${text}` } });
    const made = await api(`/v1/backlog/${itemId}/rewrite`, { method: "POST" });
    if (!made?.id) return `Answered in item #${itemId}'s thread.`;
    return made.status === "failed" ? `Answered in item #${itemId}'s thread; the rewrite failed: ${made.reason}`
      : `Answered in item #${itemId}'s thread; rewrite #${made.id} made again with it.`;
  });
}

function suggestionView(s) {
  const reason = h("input", { class: "reject-reason", placeholder: "Reason for rejecting", maxlength: "2000",
    onkeydown: (e) => { if (e.key === "Enter") { e.preventDefault(); reject(s, reason); } } });
  const view = h("article", { class: `suggestion ${s.kind}${s.stale ? " stale" : ""}`, dataset: { id: s.id, kind: s.kind } },
    h("h4", {}, h("span", { class: `kind ${s.kind}` }, s.kind), ` #${s.id} `,
      s.stale ? h("span", { class: "badge stale", title: "The item changed since this was suggested: reject it and refine again." }, "stale") : "",
      s.thread_changed ? h("span", { class: "badge thread-changed",
        title: `The item's comments changed since this ${s.kind} was made: Suggest ${s.kind} makes it again with them.` }, "new comments") : ""),
    s.warnings?.length ? h("ul", { class: "warnings" }, s.warnings.map((w) => h("li", {}, w))) : "",
    refinementView(s),
    answersView(s),
    h("div", { class: "actions" },
      h("button", { class: "primary accept", onclick: () => accept(s, view) }, "Accept"),
      s.kind === "rewrite" ? h("button", { class: "edit", title: "Edit the story in the review queue, then accept it",
        onclick: () => { location.hash = "#review"; review.showSuggestion(s).catch((e) => flash(e.message, "error")); } }, "Edit") : "",
      reason, h("button", { class: "reject", onclick: () => reject(s, reason) }, "Reject")));
  return view;
}

function entryView(entry) {
  const { item, findings, suggestions } = entry;
  const n = findings.length;
  return h("li", { class: "refine-entry", dataset: { id: item.id } },
    h("div", { class: "refine-item" },
      h("h3", {}, h("span", { class: "item-title" }, item.title), " ",
        h("span", { class: "kind" }, item.item_type), " ",
        h("span", { class: "points" }, item.story_points != null ? `${item.story_points} points` : "no points"), " ",
        h("span", { class: "finding-count" }, `${n} finding${n === 1 ? "" : "s"}`),
        h("span", { class: "hint" }, ` · item #${item.id}`, item.parent_id ? ` · child of #${item.parent_id}` : "")),
      highlightedText(item, findings),
      findingsList(findings),
      h("div", { class: "item-actions" },
        h("button", { class: "suggest-rewrite", onclick: () => suggest(item, "rewrite") }, "Suggest rewrite"),
        h("button", { class: "suggest-split", onclick: () => suggest(item, "split") }, "Suggest split"),
        h("button", { class: "suggest-estimate", onclick: () => suggest(item, "estimate") }, "Estimate"),
        h("button", { class: "suggest-labels", onclick: () => suggest(item, "labels") }, "Suggest labels"))),
    h("div", { class: "suggestions" }, suggestions.length ? suggestions.map(suggestionView)
      : h("p", { class: "empty" }, "No pending suggestions for this item.")));
}

const fetchQueue = latestOnly((recheck) => api(`/v1/refine/queue?limit=200${recheck ? "&recheck=true" : ""}`));

// `recheck`: every item checked again (the Reload button), not only what changed since the last load.
export async function loadQueue(recheck = false) {
  const entries = await fetchQueue(recheck);
  if (entries === SUPERSEDED) return;
  const queue = $("#refine-queue");
  const kept = new Map([...queue.querySelectorAll("article.suggestion")].map((a) => [a.dataset.id, {
    choices: keptChoices(a), reason: a.querySelector(".reject-reason")?.value || "" }]));
  queue.replaceChildren(...(entries.length ? entries.map(entryView)
    : [h("li", { class: "empty" }, "Nothing to refine: no item has findings or pending suggestions. Run a refinement after importing items.")]));
  for (const article of queue.querySelectorAll("article.suggestion")) {  // a decision elsewhere keeps what was chosen here
    const was = kept.get(article.dataset.id);
    if (!was) continue;
    restoreChoices(article, was.choices);
    const reason = article.querySelector(".reject-reason");
    if (reason && was.reason) reason.value = was.reason;
  }
}

// The project's Definition of Ready: the criteria the quality check applies and the most points that fit a sprint;
// admins change it (the API refuses others).
const CRITERIA_SAID = {
  well_formed: "well-formed: persona and goal (a bug: steps, expected, actual)", atomic: "atomic: one goal, not \"X and Y\"",
  minimal: "minimal: no solution detail in the story sentence", unambiguous: "unambiguous: no vague words or unclear pronouns",
  testable: "testable: checkable acceptance criteria", estimable: "estimable: fits a sprint (at most the points below)",
  duplicate: "no duplicate among the other items",
};

export async function loadReadiness() {
  const ready = await api("/v1/refine/readiness");
  const n = ready.criteria.length, all = n + ready.not_checked.length;
  $("#readiness summary").textContent = `Definition of ready: ${n === all ? "every criterion" : `${n} of ${all} criteria`} checked, at most ${ready.max_points} points`;
  const box = (c, on) => h("label", {}, h("input", { type: "checkbox", name: "criteria", value: c, checked: on }), ` ${CRITERIA_SAID[c] ?? c}`);
  $("#readiness-form").replaceChildren(
    ...ready.criteria.map((c) => box(c, true)), ...ready.not_checked.map((c) => box(c, false)),
    h("label", {}, "Fits a sprint: at most ", h("input", { name: "max_points", type: "number", min: "1", max: "100", value: String(ready.max_points) }), " points"),
    h("button", { type: "submit", class: "admin-only", id: "readiness-save" }, "Save"));
}

function saveReadiness(event) {
  event.preventDefault();
  const data = new FormData(event.target);
  const json = { criteria: data.getAll("criteria"), max_points: Number(data.get("max_points")) };
  return act(async () => {
    await api("/v1/refine/readiness", { method: "PUT", json });
    await loadReadiness();
    return `Definition of ready saved: ${json.criteria.length} criteria, at most ${json.max_points} points. The queue follows it.`;
  });
}

export function start() {
  $("#readiness-form").addEventListener("submit", saveReadiness);
  $("#refine-run").addEventListener("click", run);
  $("#refine-reload").addEventListener("click", () => loadQueue(true).then(() => flash("Queue reloaded: every item checked again.")).catch((e) => flash(e.message, "error")));
}
