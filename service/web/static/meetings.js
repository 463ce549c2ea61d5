// The Meetings tab: upload a conversation (a meeting transcript or a Slack export), follow its job chunk by chunk,
// then go through what was said in the order it was said: decisions, action items, new stories, changes to
// backlog items and open questions, each with the lines it rests on, and accept or reject the suggestions.

import { api, pollJob } from "./api.js";
import { $, cancelButton, flash, h, oneAtATime, when } from "./dom.js";
import { CHANGES, quotesList } from "./payloads.js";
import * as review from "./review.js";

const LISTS = ["decisions", "action_items", "new_work", "changes", "open_questions"];
const LABELS = { decisions: "Decision", action_items: "Action item", new_work: "New story", open_questions: "Open question" };
// conversationId: the meeting shown; job: its job's last status, when it was uploaded here; outcomes: what accepting
// a suggestion did, by suggestion id
const state = { conversationId: null, job: null, watching: null, busy: false, outcomes: {} };

const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function progressLine(job) {
  if (job.status === "queued") return "waiting to start";
  if (job.status === "running") return job.total ? `chunk ${Math.min(job.processed + 1, job.total)} of ${job.total}` : "splitting the conversation into chunks";
  return `${job.processed} of ${plural(job.total, "chunk")} read`;
}

function jobView(job) {
  return h("div", { class: `job ${job.status}`, id: `meeting-job-${job.id}` },
    h("p", {}, `Meeting #${job.conversation_id}, job #${job.id}: `, h("strong", { class: "job-status" }, job.status), " · ",
      h("span", { class: "progress-line" }, progressLine(job)), job.eta_s ? ` · about ${Math.round(job.eta_s)} s left` : "",
      " ", cancelButton("conversation", job)),
    h("progress", { max: String(job.total || 1), value: String(job.processed) }),
    h("p", { class: "counts" }, `${plural(job.suggestions, "suggestion")} · ${plural(job.quotes_checked, "quote")} checked · `,
      h("span", { class: job.quotes_dropped ? "dropped" : "" }, `${plural(job.quotes_dropped, "quote")} dropped`),
      job.quotes_dropped ? " (not in the transcript)" : "", job.failed ? ` · ${plural(job.failed, "chunk")} failed` : ""),
    job.errors?.length ? h("ul", { class: "warnings" }, job.errors.map((e) => h("li", {}, e))) : "");
}

function showError(message) {
  $("#meeting-job").replaceChildren(h("div", { class: "job failed upload-error", role: "alert" },
    h("p", {}, h("strong", {}, "The upload was refused: "), message)));
  flash(message, "error");
}

// Where a note was said: the first line of its quotes.
function firstTurn(quotes) {
  const turns = (quotes || []).map((q) => Number(q.turn)).filter(Number.isFinite);
  return turns.length ? Math.min(...turns) : null;
}

const quotesOf = (s) => s?.payload?.quotes || s?.evidence?.quotes || [];

// The summary's rows in the order said: each row's own quotes say where it was said; `decided_in_order` (the k-th
// entry of a list is its k-th note) orders a row whose quotes are not at hand.
function orderedRows(summary, suggestions) {
  const said = {};
  for (const { list, turn } of summary.decided_in_order || []) (said[list] ||= []).push(turn);
  const rows = [];
  for (const list of LISTS) {
    (summary[list] || []).forEach((entry, k) => {
      const suggestion = entry.suggestion_id != null ? suggestions[entry.suggestion_id] : null;
      const quotes = entry.quotes || quotesOf(suggestion);
      const turn = firstTurn(quotes) ?? said[list]?.[k] ?? Infinity;
      rows.push({ list, entry, suggestion, quotes, turn, rank: rows.length });
    });
  }
  return rows.sort((a, b) => a.turn - b.turn || a.rank - b.rank);
}

function kindLabel(row) {
  if (row.list !== "changes") return LABELS[row.list];
  return `Change to #${row.entry.item_id}`;
}

function details(row) {
  const p = row.suggestion?.payload || {};
  const parts = [];
  if (row.list === "changes") {
    if (p.item_title) parts.push(h("q", { class: "item-title" }, p.item_title));
    const change = row.entry.change || p.change;
    parts.push(h("span", { class: "change" }, change === "priority"
      ? `priority: ${p.current_priority || "none"} → ${p.proposed_priority || "?"}` : CHANGES[change] || change));
  }
  if (row.list === "decisions" && p.decided_by) parts.push(`decided by ${p.decided_by}`);
  if (row.list === "action_items") parts.push(`owner: ${p.owner || "not said"}`, `due: ${p.due || "not said"}`);
  if (row.list === "new_work" && p.title) parts.push(h("span", {}, "draft: ", h("strong", { class: "draft-title" }, p.title)));
  return parts.length ? h("p", { class: "row-details hint" }, parts.flatMap((x, n) => (n ? [" · ", x] : [x]))) : "";
}

function decisionBar(row, li) {
  const s = row.suggestion;
  if (row.entry.suggestion_id == null) return "";
  if (!s || s.error) return h("p", { class: "warnings" }, `Suggestion #${row.entry.suggestion_id}: ${s?.error || "not found"}`);
  const outcome = state.outcomes[s.id];
  const reason = h("input", { class: "reject-reason", placeholder: "Reason for rejecting", maxlength: "2000",
    onkeydown: (e) => { if (e.key === "Enter") { e.preventDefault(); reject(row, li, reason); } } });
  return h("div", { class: "actions" },
    h("span", { class: "hint" }, `suggestion #${s.id}: `), h("span", { class: `status ${s.status}` }, s.status),
    outcome ? h("span", { class: "outcome" }, outcome) : "",
    s.status === "rejected" && s.reason ? h("span", { class: "hint reason" }, `reason: ${s.reason}`) : "",
    s.status === "failed" && s.reason ? h("span", { class: "warnings reason" }, s.reason) : "",
    s.warnings?.length ? h("ul", { class: "warnings" }, s.warnings.map((w) => h("li", {}, w))) : "",
    s.status === "pending" ? [
      h("button", { class: "primary accept", onclick: () => accept(row, li) }, "Accept"),
      reason, h("button", { class: "reject", onclick: () => reject(row, li, reason) }, "Reject"),
    ] : "",
    review.undoable(s) ? h("button", { class: "undo", title: "Make it pending again", onclick: () => undo(row, li) }, "Undo") : "",
    h("button", { class: "open-review", title: "Open it in the review queue (to edit a story before accepting)",
      onclick: () => { location.hash = "#review"; review.showSuggestion(s).catch((e) => flash(e.message, "error")); } }, "Review"));
}

function rowView(row) {
  const li = h("li", { class: `meeting-row ${row.list}`, dataset: { list: row.list, suggestionId: row.entry.suggestion_id ?? "" } });
  li.append(
    h("span", { class: `row-kind ${row.list}` }, kindLabel(row)),
    h("p", { class: "row-text" }, row.entry.text),
    details(row),
    quotesList(row.quotes),
    decisionBar(row, li));
  return li;
}

// What accepting did, in words, from the reply (the backlog item it changed or made, if any).
function outcomeOf(s, item) {
  const p = s.payload || {};
  if (s.kind === "item_change") return `item #${item?.id} "${item?.title}" now has the change in its description`;
  if (s.kind === "priority") return `item #${item?.id} now has priority ${item?.priority}`;
  if (s.kind === "story_draft") return `backlog item #${item?.id} "${item?.title}" created`;
  if (s.kind === "action_item") return `recorded in the meeting's log${p.owner ? ` for ${p.owner}` : ""}`;
  return "recorded in the meeting's log";
}

// Run `work` (a decision on the row's suggestion), then show the row with the suggestion as it now is.
function decide(row, li, work) {
  return oneAtATime(state, work, async (message) => {
    row.suggestion = await api(`/v1/suggestions/${row.suggestion.id}`);
    li.replaceWith(rowView(row));
    review.refreshCount().catch(() => {});
    return message;
  });
}

function accept(row, li) {
  const s = row.suggestion;
  return decide(row, li, async () => {
    const item = await api(`/v1/suggestions/${s.id}/accept`, { method: "POST", json: {} });
    state.outcomes[s.id] = outcomeOf(s, item);
    return `Accepted ${s.kind.replace("_", " ")} #${s.id}: ${state.outcomes[s.id]}.`;
  });
}

function reject(row, li, input) {
  const reason = input.value.trim();
  if (!reason) { input.focus(); flash("Say why you reject it, then press Enter.", "info"); return; }
  const s = row.suggestion;
  return decide(row, li, async () => {
    await api(`/v1/suggestions/${s.id}/reject`, { method: "POST", json: { reason } });
    return `Rejected ${s.kind.replace("_", " ")} #${s.id}.`;
  });
}

function undo(row, li) {
  const s = row.suggestion;
  return decide(row, li, async () => {
    await api(`/v1/suggestions/${s.id}/undo`, { method: "POST" });
    delete state.outcomes[s.id];
    return `Undone: ${s.kind.replace("_", " ")} #${s.id} is pending again.`;
  });
}

function transcriptView(turns) {
  return h("details", { class: "transcript" }, h("summary", {}, `Transcript (${plural(turns.length, "line")})`),
    h("ol", { start: "0" }, turns.map((t) => h("li", { value: String(t.index), dataset: { turn: t.index } },
      h("span", { class: "speaker" }, t.speaker), t.at ? h("span", { class: "hint" }, ` ${t.at}`) : "",
      t.thread ? h("span", { class: "hint" }, ` (thread ${t.thread})`) : "", ": ", t.text))));
}

function conversationView(conversation, suggestions) {
  const summary = conversation.summary || {};
  const rows = orderedRows(summary, suggestions);
  const job = state.job?.conversation_id === conversation.id ? state.job : null;
  const running = job && (job.status === "queued" || job.status === "running");
  return h("article", { class: "meeting", dataset: { id: conversation.id } },
    h("h3", {}, h("span", { class: "meeting-title" }, conversation.title), h("span", { class: "hint" },
      conversation.item_id != null
        ? [` · meeting #${conversation.id} · the comments of `, h("a", { class: "meeting-item", href: `#backlog/${conversation.item_id}` },
          `item #${conversation.item_id}`), ` · ${plural(conversation.turns.length, "comment")} · read ${when(conversation.created_at)}`]
        : [` · meeting #${conversation.id} · ${conversation.format} · ${conversation.filename} · ${plural(conversation.turns.length, "line")}`,
          ` · uploaded ${when(conversation.created_at)}`])),
    conversation.problems?.length ? h("div", { class: "problems" }, h("h4", {}, "Problems reading the file"),
      h("ul", { class: "warnings" }, conversation.problems.map((p) => h("li", {}, p)))) : "",
    rows.length ? h("ol", { id: "meeting-summary", "aria-label": "What was said, in order" }, rows.map(rowView))
      : h("p", { class: "empty" }, running ? "The notes appear here when the job is done."
        : job?.status === "failed" ? "The job failed: see its errors above."
          : "Nothing was decided, assigned, changed or left open in this conversation."),
    transcriptView(conversation.turns));
}

async function showConversation(id) {
  const conversation = await api(`/v1/conversations/${id}`);
  const ids = LISTS.flatMap((list) => (conversation.summary?.[list] || []).map((e) => e.suggestion_id)).filter((x) => x != null);
  const found = await Promise.all(ids.map((sid) => api(`/v1/suggestions/${sid}`).catch((error) => ({ id: sid, error: error.message }))));
  if (String(state.conversationId) !== String(id)) return;  // another meeting was opened meanwhile
  $("#meeting-view").replaceChildren(conversationView(conversation, Object.fromEntries(found.map((s) => [s.id, s]))));
}

async function submit(event) {
  event.preventDefault();
  if (state.watching) { flash("Wait for the meeting being read to finish.", "info"); return; }
  const file = $("#meeting-file").files[0];
  if (!file) { flash("Choose a file first.", "error"); return; }
  const form = new FormData();
  form.append("file", file);
  if ($("#meeting-format").value) form.append("format", $("#meeting-format").value);
  if ($("#meeting-title").value.trim()) form.append("title", $("#meeting-title").value.trim());
  const button = $("#meeting-submit");
  button.disabled = true;
  $("#meeting-job").replaceChildren();
  let created;
  try {
    created = await api("/v1/conversations", { method: "POST", form });
  } catch (error) {
    showError(error.message);
    button.disabled = false;
    return;
  }
  try {
    await follow(created);
    $("#meeting-form").reset();
  } finally {
    button.disabled = false;
  }
}

// Show a conversation being read (an upload, or an item's comments: `created` as the API answered), its job chunk by
// chunk, then its notes and suggestions.
async function follow(created) {
  try {
    state.conversationId = created.conversation_id;
    state.watching = created.conversation_id;
    history.replaceState(null, "", `#meetings/${created.conversation_id}`);  // a reload shows this meeting again
    $("#meeting-view").replaceChildren();
    flash(`Meeting #${created.conversation_id} is being read.`);
    const job = await pollJob(created.status_url, (j) => {
      state.job = j;
      if (state.conversationId === j.conversation_id) $("#meeting-job").replaceChildren(jobView(j));
    });
    flash(`Meeting #${job.conversation_id} ${job.status}: ${plural(job.suggestions, "suggestion")}.`, job.status === "failed" ? "error" : "info");
    await showConversation(created.conversation_id);
    review.refreshCount().catch(() => {});
  } catch (error) {
    flash(error.message, "error");
  } finally {
    state.watching = null;
  }
}

// The tab is shown: `id` (from #meetings/<id>) opens that meeting; without it the meeting shown is reloaded, so a
// decision taken in the review queue shows here too.
export async function load(id) {
  if (id !== undefined && id !== "") {
    if (!/^\d+$/.test(id)) throw new Error(`no meeting "${id}"`);
    if (Number(id) !== state.conversationId) {
      state.conversationId = Number(id);
      const job = state.job?.conversation_id === state.conversationId ? [jobView(state.job)] : [];
      $("#meeting-job").replaceChildren(...job);
      $("#meeting-view").replaceChildren();
    }
  }
  if (state.conversationId == null || state.watching === state.conversationId) return;  // the watcher shows it when done
  await showConversation(state.conversationId);
}

export function start() {
  $("#meeting-form").addEventListener("submit", submit);
  // An item's comments sent to be read (comments.js): followed here like an upload.
  document.addEventListener("refinery:conversation-started", (event) => { follow(event.detail); });
}
