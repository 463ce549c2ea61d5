// The review desk: tabs, drafting, uploads with job progress, meetings, the backlog, refinement, and keyboard
// shortcuts.

import { api, apiPage, inProject, labelsInUse, pollJob, project, reviewer, setProject, setReviewer, streamEvents, useAccount } from "./api.js";
import { $, SUPERSEDED, cancelButton, flash, h, latestOnly, lightMarkdown, linkButton, when, withLinks } from "./dom.js";
import { offerPeople, showItemThread } from "./comments.js";
import { followImport } from "./imports.js";
import * as activity from "./activity.js";
import * as inbox from "./inbox.js";
import * as insights from "./insights.js";
import * as meetings from "./meetings.js";
import * as members from "./members.js";
import * as refine from "./refine.js";
import * as review from "./review.js";
import * as webhooks from "./webhooks.js";
import * as tracker from "./tracker.js";
import * as views from "./views.js";

const TABS = ["draft", "upload", "meetings", "review", "refine", "backlog"];

// Show a tab, from a hash like "review" or "meetings/12" (a tab and what to open in it).
function show(hash) {
  const [path, query] = hash.split("?");  // `backlog?label=billing`: a view's filters (views.js)
  let [tab, arg] = path.split("/");
  if (!TABS.includes(tab)) [tab, arg] = ["review", undefined];
  if (query !== undefined) views.apply(tab, query);
  else if (!arg && ["review", "backlog"].includes(tab)) views.follow(tab);  // the address shows the filters set
  views.refresh(tab).catch(() => {});  // the project's saved views (it may have changed)
  for (const name of TABS) {
    $(`#tab-${name}`).hidden = name !== tab;
    $(`nav a[data-tab=${name}]`).classList.toggle("active", name === tab);
  }
  const load = { review: () => (arg ? review.open(Number(arg)) : review.loadQueue()), refine: () => Promise.all([refine.loadQueue(), refine.loadReadiness()]),
    backlog: () => loadBacklog().then(() => arg && openLinkedItem(Number(arg))), upload: loadJobs,
    meetings: () => meetings.load(arg), draft: loadDraftLearning }[tab];
  if (load) load().catch((error) => flash(error.message, "error"));
}

// The live preview of a streamed draft: the story's fields as the model writes them.
function previewView(fields) {
  const text = (value) => (value === undefined || value === null ? "…" : String(value));
  const list = (value) => (Array.isArray(value) ? value : [value]).map((x) => h("li", {}, String(x)));
  const criteria = Object.keys(fields).filter((k) => k.startsWith("acceptance_criteria."))
    .sort((a, b) => Number(a.split(".")[1]) - Number(b.split(".")[1])).map((k) => fields[k] || {});
  const story = ["persona", "goal", "benefit"].some((k) => k in fields);
  return [
    "item_type" in fields ? h("span", { class: "kind preview-type" }, text(fields.item_type)) : "",
    "title" in fields ? h("h3", { class: "preview-title" }, text(fields.title)) : "",
    story ? h("p", { class: "preview-story" }, `As a ${text(fields.persona)}, I want ${text(fields.goal)}, so that ${text(fields.benefit)}.`) : "",
    criteria.length ? h("ol", { class: "preview-criteria" }, criteria.map((c) => h("li", {},
      h("b", {}, "Given "), text(c.given), h("b", {}, " when "), text(c.when), h("b", {}, " then "), text(c.then)))) : "",
    "labels" in fields ? h("p", { class: "preview-labels" }, "Labels: ", (Array.isArray(fields.labels) ? fields.labels : [fields.labels]).join(", ")) : "",
    "assumptions" in fields ? h("div", { class: "preview-assumptions" }, h("h4", {}, "Assumptions"), h("ul", {}, list(fields.assumptions))) : "",
    "open_questions" in fields ? h("div", { class: "preview-questions" }, h("h4", {}, "Open questions"), h("ul", {}, list(fields.open_questions))) : "",
  ];
}

function draftProgress() {
  let fields = Object.create(null);  // keyed by names the model wrote
  const status = (message) => { $("#draft-status").textContent = message; };
  const render = () => $("#draft-preview").replaceChildren(...previewView(fields));
  $("#draft-progress").hidden = false;
  status("Sending the idea …");
  render();
  return {
    event(name, data) {
      if (name === "queued") {
        const n = Number(data.position) || 1;
        const r = Number(data.running) || 0;
        status(`Waiting for the model: it is working on ${r} call${r === 1 ? "" : "s"}; ` +
          `yours is ${n === 1 ? "next" : `number ${n}`} in line.`);
      } else if (name === "waiting") {
        status(`The model is ${data.state || "starting"}${data.reason ? `: ${data.reason}` : ""}`);
        showModelState({ state: data.state, reason: data.reason });
      } else if (name === "started") {
        status("Writing …");
      } else if (name === "checking") {
        status("Checking the backlog for duplicates …");
      } else if (name === "field") {
        fields[data.field] = data.value;
        render();
      } else if (name === "retry") {
        fields = Object.create(null);
        render();
        status(`The model is answering again (attempt ${data.attempt})${data.reason ? `: ${data.reason}` : ""}`);
      }
    },
    close() {
      $("#draft-progress").hidden = true;
      $("#draft-preview").replaceChildren();
      status("");
    },
  };
}

let drafting = false;

async function submitDraft(event) {
  event.preventDefault();
  if (drafting) return;  // one draft at a time per page: its preview is shown as it is written
  const text = $("#idea-text").value.trim();
  if (!text) { flash("Write the idea first.", "error"); return; }
  const button = $("#draft-submit");
  button.disabled = true;
  button.textContent = "Drafting …";
  drafting = true;
  const progress = draftProgress();
  try {
    const context = $("#idea-context").value.trim();
    const draft = await streamEvents("/v1/drafts", { text, context: context || null }, progress.event);
    progress.close();
    $("#idea-text").value = "";
    flash(draft.status === "failed" ? `The draft failed validation: ${draft.reason}` : `Draft #${draft.id} is ready for review.`,
      draft.status === "failed" ? "error" : "info");
    location.hash = "#review";
    await review.showSuggestion(draft);
  } catch (error) {
    progress.close();
    flash(error.message, "error");
  } finally {
    drafting = false;
    button.disabled = false;
    button.textContent = "Draft story";
    refreshModelState();
  }
}

// The model's state in the header, when it is not simply ready (or a remote server Refinery does not run).
const MODEL_STATES = { not_started: "not started yet (it starts with the first draft)", starting: "starting",
  restarting: "restarting", broken: "broken", stopped: "stopped" };

function showModelState(llm) {
  const line = $("#model-state");
  const state = llm?.state;
  line.textContent = MODEL_STATES[state] ? `Model ${MODEL_STATES[state]}${llm.reason ? `: ${llm.reason}` : ""}` : "";
  line.className = `hint ${state === "broken" || state === "stopped" ? "bad" : ""}`;
}

let modelTimer;
async function refreshModelState() {
  clearTimeout(modelTimer);
  try {
    const health = await api("/healthz");
    showModelState(health.llm);
    if (["starting", "restarting"].includes(health.llm?.state)) modelTimer = setTimeout(refreshModelState, 5000);
  } catch {
    // the header line is a hint; the draft form says what went wrong when it matters
  }
}

function jobView(job) {
  const percent = job.total ? Math.round((100 * (job.processed + job.skipped + job.already_ingested)) / job.total) : 0;
  return h("div", { class: `job ${job.status}`, id: `job-${job.id}` },
    h("p", {}, `Job #${job.id} (${job.filename}): `, h("strong", { class: "job-status" }, job.status), ` · stage ${job.stage}`,
      job.eta_s ? ` · about ${Math.round(job.eta_s)} s left` : "", " ", cancelButton("ingest", job)),
    h("progress", { max: "100", value: String(percent) }),
    h("p", { class: "counts" }, `${job.processed} of ${job.total} tickets processed · ${job.skipped} without text · `,
      `${job.already_ingested} already ingested · ${job.themes} themes · ${job.unthemed ?? 0} unthemed (bugs, requests, questions in no theme; ${job.unthemed_to_items ?? 0} proposed as evidence for a backlog item) · ${job.suggestions} suggestions · ${job.llm_calls} LLM calls`,
      job.failed ? ` · ${job.failed} drafts failed` : ""),
    job.errors.length ? h("ul", { class: "warnings" }, job.errors.map((e) => h("li", {}, e))) : "",
    job.status === "done" && job.suggestions ? h("a", { href: "#review" }, `Review the ${job.suggestions} suggestions`) : "");
}

// Each theme's tickets per week (by the tickets' own dates): a row of bars, the tallest week full height.
function themesView(themes) {
  const most = Math.max(1, ...themes.flatMap((t) => t.weeks.map((w) => w.tickets)));
  return h("table", { id: "themes" }, h("caption", {}, "Themes: tickets per week"),
    h("thead", {}, h("tr", {}, h("th", {}, "Theme"), h("th", {}, "Tickets"), h("th", {}, "Per week (oldest first)"))),
    h("tbody", {}, themes.map((t) => h("tr", { dataset: { theme: t.id } },
      h("td", {}, t.suggestion_id ? h("a", { href: "#review", onclick: () => review.showSuggestion({ id: t.suggestion_id, status: "all" }) }, t.title || `#${t.suggestion_id}`) : (t.title || "-")),
      h("td", {}, String(t.tickets)),
      h("td", {}, h("span", { class: "bars", "aria-label": t.weeks.map((w) => `${w.week}: ${w.tickets}`).join(", ") },
        t.weeks.map((w) => {
          const bar = h("span", { class: "bar", title: `${w.week}: ${w.tickets} tickets` });
          bar.style.height = `${Math.max(8, (100 * w.tickets) / most)}%`; // CSSOM, allowed by the style policy
          return bar;
        })))))));
}

// The bugs, requests and questions in no theme, each with the evidence suggestion proposing it for a backlog item.
function unthemedView(unthemed) {
  const counts = Object.entries(unthemed.counts).map(([category, n]) => `${n} ${category.replace("_", " ")}`).join(", ");
  return h("table", { id: "unthemed" },
    h("caption", {}, `In no theme: ${counts}; ${unthemed.to_items} proposed as evidence for a backlog item`),
    h("thead", {}, h("tr", {}, h("th", {}, "Ticket"), h("th", {}, "Category"), h("th", {}, "Suggestion"))),
    h("tbody", {}, unthemed.tickets.map((t) => h("tr", { dataset: { ticket: t.id } },
      h("td", {}, t.text), h("td", {}, t.category.replace("_", " ")),
      h("td", {}, t.suggestion_id ? h("a", { href: "#review", onclick: () => review.showSuggestion({ id: t.suggestion_id, status: "all" }) }, `evidence #${t.suggestion_id}`) : "-")))));
}

async function watchJob(id) {
  const job = await pollJob(`/v1/ingest/jobs/${id}`, (j) => $("#job").replaceChildren(jobView(j)));
  if (job.themes) $("#job").append(themesView(await api(`/v1/ingest/jobs/${id}/themes`)));
  if (job.unthemed) $("#job").append(unthemedView(await api(`/v1/ingest/jobs/${id}/unthemed?limit=100`)));
  flash(`Job #${id} ${job.status}.`, job.status === "failed" ? "error" : "info");
  review.refreshCount();
  return loadJobs();
}

function fileForm(input) {
  const file = $(input).files[0];
  if (!file) { flash("Choose a file first.", "error"); return null; }
  const form = new FormData();
  form.append("file", file);
  return form;
}

async function submitUpload(event) {
  event.preventDefault();
  const form = fileForm("#upload-file");
  if (!form) return;
  for (const line of $("#upload-map").value.split("\n").map((x) => x.trim()).filter(Boolean)) form.append("map", line);
  if ($("#upload-product").value.trim()) form.append("product", $("#upload-product").value.trim());
  form.append("min_theme_size", $("#upload-min").value || "3");
  try {
    const created = await api("/v1/ingest", { method: "POST", form });
    flash(`Job #${created.job_id} started.`);
    await watchJob(created.job_id);
  } catch (error) {
    flash(error.message, "error");
  }
}

async function loadJobs() {
  const jobs = await api("/v1/ingest/jobs?limit=10");
  $("#jobs tbody").replaceChildren(...jobs.map((j) => h("tr", {},
    h("td", {}, `#${j.id}`), h("td", {}, j.filename), h("td", {}, j.status), h("td", {}, j.stage),
    h("td", {}, `${j.processed}/${j.total}`), h("td", {}, String(j.themes)), h("td", {}, String(j.suggestions)))));
}

// The items the backlog shows, by id: names for the items an item waits for, and the items waiting for it.
let shownItems = new Map();

function itemName(id) {
  const item = shownItems.get(id);
  return item?.external_id ? item.external_id.split(":").pop() : `#${id}`;
}

// The item an item is under and those under it, what it waits for and what waits for it (among the items shown),
// each named with its title.
function linksView(item) {
  const named = (id) => { const other = shownItems.get(id); return other ? `${itemName(id)} ${other.title}${other.closed ? " (closed)" : ""}` : itemName(id); };
  const others = [...shownItems.values()];
  const blocks = others.filter((other) => (other.depends_on || []).includes(item.id)).map((other) => other.id);
  const children = others.filter((other) => other.parent_id === item.id).map((other) => other.id);
  return [["Under", item.parent_id ? [item.parent_id] : []], ["Holds", children], ["Waits for", item.depends_on || []], ["Blocks", blocks]]
    .filter(([, ids]) => ids.length)
    .map(([how, ids]) => h("p", { class: "item-links" }, `${how}: ${ids.map(named).join("; ")}`));
}

// The ids a "Depends on" field names: ids (12, #12) or tracker keys (SHOP-12), each found in the backlog.
async function itemIds(text) {
  const ids = [];
  for (const token of text.split(/[\s,]+/).filter(Boolean)) {
    if (/^#?\d+$/.test(token)) { ids.push(Number(token.replace("#", ""))); continue; }
    const found = await api(`/v1/backlog?${new URLSearchParams({ q: token, limit: "20" })}`);
    const same = found.filter((i) => (i.external_id || "").split(":").pop().toLowerCase() === token.toLowerCase());
    if (same.length !== 1) throw new Error(same.length ? `${token} names more than one item: give its id.` : `No item has the key ${token}: give an id (12) or a key (SHOP-12).`);
    ids.push(same[0].id);
  }
  return [...new Set(ids)].sort((a, b) => a - b);
}

function backlogRow(item) {
  const ev = item.evidence || {};
  const open = (item.depends_on || []).filter((id) => !shownItems.get(id)?.closed);
  const similar = h("button", { class: "similar", title: "Find likely duplicates", onclick: () => showSimilar(item, row) }, "similar");
  const tick = item.merged_into_id ? "" : h("input", { type: "checkbox", class: "tick-item", value: String(item.id), "aria-label": `Tick #${item.id}`, onchange: showBacklogTicked });
  const row = h("tr", { dataset: { id: item.id }, class: item.merged_into_id ? "merged" : item.closed ? "closed" : "" },
    h("td", {}, tick), h("td", { class: "rank" }, rankCell(item)), h("td", {}, item.priority || ""),
    h("td", {}, h("details", {}, h("summary", { class: "item-title" }, item.title,
      item.closed ? h("span", { class: "hint closed-mark", title: "Done or cancelled in its tracker: history, not work to refine or plan" }, " (closed)") : "",
      open.length && !item.closed ? h("span", { class: "hint waits-mark", title: "Ranks and sprint plans put what it waits for first" }, ` (waits for ${open.map(itemName).join(", ")})`) : "",
      item.comment_count ? h("span", { class: "comment-count" }, ` · ${item.comment_count} comment${item.comment_count === 1 ? "" : "s"}`) : "",
      tracker.changedMark(item.id)),
      h("pre", { class: "description" }, ...withLinks(item.description, lightMarkdown)), ...linksView(item),
      item.merged_into_id ? h("p", {}, `merged into #${item.merged_into_id}`)
        : h("p", { class: "item-actions" },
          h("button", { class: "edit edit-item", onclick: (e) => e.target.closest("details").append(editForm(item)) }, "Edit"), " ",
          h("button", { class: "item-history-button", onclick: (e) => showHistory(item, e.target.closest("details")) }, "History"), " ",
          threadButton(item), " ", linkButton(`backlog/${item.id}`, project())))),
    h("td", {}, item.item_type), h("td", {}, item.labels.join(", ")), h("td", {}, item.story_points ?? ""),
    h("td", {}, item.priority_score != null ? Number(item.priority_score).toFixed(2) : ""),
    h("td", {}, ev.ticket_count ? `${ev.ticket_count} tickets, ${ev.distinct_customers} customers` : ""),
    h("td", {}, tracker.issueLink(item.external_id) || item.external_id || (item.source_suggestion_id ? `suggestion #${item.source_suggestion_id}` : "")),
    h("td", {}, similar));
  if (!item.merged_into_id) dropTarget(row, item);
  return row;
}

// An item's place in the order, with a handle to drag it elsewhere (the ticked items, if it is one of them), and
// whether a person put it there by hand (accepted priorities then reorder the others around it).
function rankCell(item) {
  if (item.merged_into_id) return String(item.priority_rank ?? "");
  const handle = h("span", { class: "drag", draggable: "true", title: "Drag onto another item to rank it above that one", "aria-hidden": "true",
    ondragstart: (event) => { event.dataTransfer.setData("text/plain", String(item.id)); event.dataTransfer.effectAllowed = "move"; } }, "⠿");
  const hand = item.ranked_by ? h("span", { class: "hint by-hand", title: `Placed by hand by ${item.ranked_by}: reranks keep it here` }, " by hand") : "";
  return h("span", {}, handle, ` ${item.priority_rank ?? ""}`, hand);
}

function dropTarget(row, item) {
  row.addEventListener("dragover", (event) => { event.preventDefault(); row.classList.add("drop-here"); });
  row.addEventListener("dragleave", () => row.classList.remove("drop-here"));
  row.addEventListener("drop", (event) => {
    event.preventDefault();
    row.classList.remove("drop-here");
    const dragged = Number(event.dataTransfer.getData("text/plain"));
    const ticked = backlogTicked();
    const ids = ticked.includes(dragged) ? ticked : [dragged];
    if (dragged && !ids.includes(item.id)) rankItems(ids, { before_id: item.id });
  });
}

// Move items in the backlog's order: `where` is {before_id}, {to: "top" | "bottom" | "score"}.
async function rankItems(ids, where) {
  try {
    const moved = await api("/v1/backlog/rank", { method: "POST", json: { item_ids: ids, ...where } });
    const noun = moved.length === 1 ? "item" : "items";
    flash(where.to === "score" ? `${moved.length} ${noun} back to their scores.` : `Ranked ${moved.length} ${noun}: ${moved.map((i) => `#${i.id} to ${i.priority_rank}`).join(", ")}.`);
    await loadBacklog();
  } catch (error) {
    flash(error.message, "error");
  }
}

function rankTickedAbove(named) {
  return oneNamed(named, "rank them above", async (id) => {
    await rankItems(backlogTicked(), { before_id: id });
    $("#backlog-bulk-anchor").value = "";
  });
}

const ITEM_TYPES = ["feature", "bug", "tech_debt", "research"];

// An item's fields as a form's inputs: a person's edit of an item, or a new one (`item` blank).
function itemFields(item) {
  const field = (name, input) => h("label", {}, `${name} `, input);
  return [
    field("Title", h("input", { name: "title", value: item.title, required: true, maxlength: "300" })),
    field("Description", h("textarea", { name: "description", rows: "6", maxlength: "50000" }, item.description)),
    field("Type", h("select", { name: "item_type" }, ITEM_TYPES.map((t) => h("option", { value: t, selected: t === item.item_type }, t)))),
    field("Labels", h("input", { name: "labels", value: item.labels.join(", "), placeholder: "comma-separated" })),
    field("Points", h("input", { name: "story_points", type: "number", min: "0", max: "1000", value: String(item.story_points ?? "") })),
  ];
}

// What an item form says: the fields as the API names them (blank points: none).
function readItem(form) {
  const data = new FormData(form);
  const points = String(data.get("story_points") ?? "");
  return {
    title: String(data.get("title")).trim(), description: String(data.get("description")), item_type: data.get("item_type"),
    labels: String(data.get("labels")).split(",").map((x) => x.trim()).filter(Boolean),
    story_points: points === "" ? null : Number(points), closed: data.get("closed") === "on",
  };
}

// A person's edit of a backlog item: the form sends only the fields changed (PATCH); the item's history keeps them.
function editForm(item) {
  const form = h("form", { class: "edit-item-form" }, ...itemFields(item),
    h("label", {}, "Depends on ", h("input", { name: "depends_on", value: (item.depends_on || []).map(itemName).join(", "), placeholder: "ids or keys: 12, SHOP-3" })),
    h("label", {}, "Under ", h("input", { name: "parent", value: item.parent_id ? itemName(item.parent_id) : "", placeholder: "the epic's id or key; blank: none" })),
    h("label", {}, h("input", { type: "checkbox", name: "closed", checked: item.closed }), " closed (done or cancelled)"),
    h("button", { type: "submit", class: "save-item" }, "Save"), " ",
    h("button", { type: "button", onclick: () => form.remove() }, "Cancel"));
  form.addEventListener("submit", (event) => saveItem(event, item));
  return form;
}

// A person's own item, added to the backlog directly (no suggestion: a person wrote it). The first "Add" searches the
// backlog and pending drafts for it; when some look alike they are listed, and adding it anyway takes a second click.
function newItemForm() {
  const blank = { title: "", description: "", item_type: "feature", labels: [], story_points: null };
  const form = h("form", { id: "new-item-form", class: "edit-item-form" }, ...itemFields(blank),
    h("div", { class: "similar-found" }),
    h("button", { type: "submit", class: "primary", id: "new-item-submit" }, "Add"), " ",
    h("button", { type: "button", onclick: () => closeNewItem(form) }, "Cancel"));
  form.addEventListener("submit", addItem);
  form.addEventListener("input", (event) => {
    if (["title", "description"].includes(event.target.name)) resetNewItem(form);
  });
  return form;
}

function resetNewItem(form) {
  delete form.dataset.checked;
  form.querySelector(".similar-found").replaceChildren();
  form.querySelector("#new-item-submit").textContent = "Add";
}

function closeNewItem(form) {
  form.reset();
  resetNewItem(form);
  $("#new-item").open = false;
}

async function addItem(event) {
  event.preventDefault();
  const form = event.target;
  const { closed, story_points: points, ...item } = readItem(form);
  const text = [item.title, item.description.trim()].filter(Boolean).join("\n");
  try {
    if (form.dataset.checked !== text) {
      const found = await api("/v1/duplicates/search", { method: "POST", json: { text, k: 5 } });
      const listed = found.filter((c) => c.verdict !== "distinct");
      form.dataset.checked = text;
      if (listed.length) {
        form.querySelector(".similar-found").replaceChildren(
          h("p", { class: "warning" }, `${listed.length === 1 ? "This item or pending draft" : `These ${listed.length} items or pending drafts`} may be the same as yours: add yours anyway, or cancel and use what is there.`),
          h("ul", {}, listed.map((c) => h("li", {}, `${c.kind === "backlog_item" ? "item" : "draft"} #${c.item_id} ${c.title} — ${c.verdict} (${Math.round(c.probability * 100)}% likely the same)`))));
        form.querySelector("#new-item-submit").textContent = "Add anyway";
        return;
      }
    }
    const result = await api("/v1/backlog/items", { method: "POST", json: points === null ? item : { ...item, story_points: points } });
    const [created] = result.created;
    const { findings } = await api(`/v1/backlog/${created.id}/quality`, { method: "POST" }).catch(() => ({ findings: null }));
    const said = findings === null ? "" : findings.length
      ? ` The quality check finds ${findings.length}: ${[...new Set(findings.map((f) => f.criterion.replace("_", "-")))].join(", ")} (the Refine tab says what to fix).`
      : " The quality check finds nothing to fix.";
    flash(`Added #${created.id} ${created.title}.${said}`);
    closeNewItem(form);
    await loadBacklog();
  } catch (error) {
    flash(error.message, "error");
  }
}

async function saveItem(event, item) {
  event.preventDefault();
  const wanted = readItem(event.target);
  const body = Object.fromEntries(Object.entries(wanted).filter(([k, v]) => JSON.stringify(v) !== JSON.stringify(item[k] ?? null)));
  try {
    const form = new FormData(event.target);
    const waits = await itemIds(String(form.get("depends_on")));
    if (JSON.stringify(waits) !== JSON.stringify(item.depends_on || [])) body.depends_on = waits;
    const under = await itemIds(String(form.get("parent")));
    if (under.length > 1) throw new Error("An item goes under one item: give one id or key, or none.");
    if ((under[0] ?? null) !== (item.parent_id ?? null)) body.parent_id = under[0] ?? null;
    if (!Object.keys(body).length) { flash("Nothing changed."); return; }
    await api(`/v1/backlog/${item.id}`, { method: "PATCH", json: body });
    flash(`Saved #${item.id}: ${Object.keys(body).join(", ")} changed.`);
    await loadBacklog();
  } catch (error) {
    flash(error.message, "error");
  }
}

// "Comments (n)": opens the item's thread under its text (comments.js).
function threadButton(item) {
  const label = (n) => `Comments${n ? ` (${n})` : ""}`;
  const button = h("button", { type: "button", class: "item-comments-button" }, label(item.comment_count));
  button.addEventListener("click", () => openThread(item, button.closest("details")).catch((e) => flash(e.message, "error")));
  return button;
}

async function openThread(item, details) {
  details.open = true;
  const slot = details.querySelector(".item-comments") || details.appendChild(h("section", { class: "item-comments" }));
  const button = details.querySelector(".item-comments-button");
  await showItemThread(item, slot, (n) => { item.comment_count = n; button.textContent = `Comments${n ? ` (${n})` : ""}`; });
  slot.querySelector("textarea")?.focus();
}

// A link's `#backlog/12` (an inbox line's, a mailed one's): the item's row, opened at its comments.
async function openLinkedItem(id) {
  const row = $(`#backlog tbody tr[data-id="${id}"]`);
  if (!row) { flash(`Item #${id} is not in this list: clear the filters, or it was merged or deleted.`, "error"); return; }
  row.scrollIntoView({ block: "center" });
  await openThread(shownItems.get(id), row.querySelector("details"));
}

async function showHistory(item, details) {
  try {
    const events = await api(`/v1/backlog/${item.id}/history`);
    const change = (e) => Object.keys(e.after).map((k) => `${k}: ${JSON.stringify(e.before[k])} → ${JSON.stringify(e.after[k])}`).join("; ");
    const who = (e) => (e.action === "imported" ? "a re-import" : e.actor || "someone");
    details.querySelector(".item-history")?.remove();
    details.append(h("ul", { class: "item-history" }, events.length
      ? events.map((e) => h("li", {}, `${e.at.slice(0, 16).replace("T", " ")} ${e.action} by ${who(e)}${e.action === "added" ? ""
        : e.action === "sent" ? ` to the tracker as ${(e.after.external_id || e.after.sent).split(":").pop()}` : `: ${change(e)}`}`))
      : h("li", {}, "No edit or re-import has changed this item (accepted suggestions are in their own history).")));
  } catch (error) {
    flash(error.message, "error");
  }
}

async function showSimilar(item, row) {
  try {
    const found = await api(`/v1/backlog/${item.id}/duplicates?k=5`);
    const listed = found.filter((c) => c.verdict !== "distinct");
    row.after(h("tr", { class: "similar-row" }, h("td", { colspan: "11" }, listed.length
      ? h("ul", {}, listed.map((c) => h("li", {}, `${c.kind === "backlog_item" ? "item" : "draft"} #${c.item_id} ${c.title} — ${c.verdict} (score ${c.score.toFixed(3)}, ${Math.round(c.probability * 100)}% likely the same)`)))
      : "No likely duplicates.")));
  } catch (error) {
    flash(error.message, "error");
  }
}

// Learned from review (each with a reset; admins only, others get a 403): drafts follow the team's latest
// accepted edits; the duplicate verdict is recalibrated by its merge decisions.
async function loadDraftLearning() {
  const learned = await api("/v1/drafts/learning").catch(() => null);
  if (!learned) { $("#draft-learning").replaceChildren(); return; }
  const shown = learned.examples.filter((e) => e.in_prompt);
  $("#draft-learning").replaceChildren(shown.length
    ? `Drafts follow your team's ${shown.length} latest accepted edits (${shown.map((e) => `#${e.suggestion_id} ${e.title}`).join("; ")}). `
    : "Drafts use the built-in examples: no draft has been accepted with edits yet. ",
  shown.length ? h("button", { type: "button", onclick: () => resetLearning("/v1/drafts/learning", loadDraftLearning) }, "Reset what was learned") : "");
}

// What this project's merge decisions taught the duplicate verdict, with a reset (admins; others get a 403).
async function loadDuplicateLearning() {
  const learned = await api("/v1/duplicates/learning");
  const taught = learned.decisions
    ? `learned from ${learned.decisions} merge decisions (${learned.accepted_merges} accepted, ${learned.rejected_merges} rejected)`
    : "nothing learned from this project's merge decisions yet";
  $("#duplicate-learning").replaceChildren(
    `Duplicate verdict: a merge is proposed at ${Math.round(learned.duplicate_probability * 100)}% likely the same; ${taught}. `,
    learned.warning ? h("strong", { class: "warning" }, `${learned.warning} `) : "",
    learned.decisions ? h("button", { type: "button", onclick: () => resetLearning("/v1/duplicates/learning", loadDuplicateLearning) }, "Reset what was learned") : "");
}

// How the project's reviewers decided its estimates (GET /v1/estimates/learning's `record`): how far to trust them here.
function estimateRecord(r) {
  const accepted = r.kept + r.changed;
  if (!accepted && !r.rejected) return "";
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const changed = r.changed ? ` (${r.lower} lower, ${r.higher} higher, by ${plural(r.mean_change, "point")} on average)` : "";
  const close = r.within_one_step != null ? ` ${Math.round(100 * r.within_one_step)}% of the accepted ones were kept or moved one step on the scale.` : "";
  return `Reviewers kept ${plural(r.kept, "estimate")} as suggested and changed ${r.changed}${changed}; ${r.rejected} rejected.${close} `;
}

// What the items with points taught the estimates: the team's own points model (fitted, fitting, or how many
// items with points it still needs), with "Fit again" for admins.
async function loadEstimateLearning() {
  const l = await api("/v1/estimates/learning");
  const when = l.fitted_at ? new Date(l.fitted_at).toLocaleString() : "";
  const p = l.fit_progress;
  const progress = p ? ` (${Math.round((100 * p.done) / p.steps)}%${p.eta_s != null ? `, about ${Math.ceil(p.eta_s / 60)} min left` : ""})` : "";
  const state = l.fitting ? `being fitted now${progress}; estimates stand without it until the fit ends`
    : l.fitted_on ? `fitted on ${l.fitted_on} items with points (${when}); fitted again below ${l.refit_below} or from ${l.refit_from}`
    : l.items_with_points >= l.min_items ? "not fitted yet: the next estimate starts its fit"
    : `fitted once ${l.min_items} items have points`;
  $("#estimate-learning").replaceChildren(
    `Story points: ${l.items_with_points} items with points; the team's own points model is ${state}. `,
    estimateRecord(l.record),
    l.failed_on ? h("strong", { class: "warning" }, `Its fit on ${l.failed_on} items failed (see the server log). `) : "",
    l.fitted_on && !l.fitting ? h("button", { type: "button", class: "admin-only", onclick: () => resetLearning(
      "/v1/estimates/learning", loadEstimateLearning,
      "Forget the team's points model and fit it again on the items with points as they are now?",
      "The team's points model is being fitted again.") }, "Fit again") : "");
}

// DELETE a learning resource after the reviewer confirms `question`, say `done`, then show it again with `reload`.
async function resetLearning(path, reload, question = "Forget what this project's reviews taught here?",
  done = "Reset: only decisions from now on count.") {
  if (!confirm(question)) return;
  try {
    await api(path, { method: "DELETE" });
    flash(done);
    await reload();
  } catch (error) {
    flash(error.message, "error");
  }
}

const BACKLOG_PAGE = 1000;
const fetchBacklog = latestOnly((query) => apiPage(`/v1/backlog?${query}`));

// The backlog's filters as a query: words, type, label, state, the epic they are under (an id or key), merged items.
async function backlogQuery() {
  const query = new URLSearchParams({ order: "priority", limit: String(BACKLOG_PAGE), include_merged: String($("#include-merged").checked), state: $("#backlog-state").value });
  for (const [name, id] of [["q", "#backlog-q"], ["item_type", "#backlog-type"], ["label", "#backlog-label"]]) {
    const value = $(id).value.trim();
    if (value) query.set(name, value);
  }
  const named = $("#backlog-parent").value.trim();  // an id or a key: the items under it
  const under = named ? await itemIds(named).catch((error) => { flash(error.message, "error"); return []; }) : [];
  if (under.length) query.set("parent_id", String(under[0]));
  return query;
}

// The export links: the chosen project, and the backlog's filters when any is set (an export of what is shown).
function exportLinks(query = new URLSearchParams()) {
  const filters = new URLSearchParams([...query].filter(([name, value]) => ["q", "item_type", "label", "parent_id"].includes(name) || (name === "state" && value !== "all")));
  for (const link of document.querySelectorAll("a.export")) {
    link.dataset.base ||= link.getAttribute("href");
    link.href = inProject(filters.size ? `${link.dataset.base}&${filters}` : link.dataset.base);
  }
}

// Items ticked on the Backlog tab, edited alike (Jira's bulk change): a label added or removed, closed or reopened.
function backlogTicked() {
  return [...document.querySelectorAll("#backlog .tick-item:checked")].map((box) => Number(box.value));
}

function showBacklogTicked() {
  const ticked = backlogTicked();
  $("#backlog-bulk").hidden = ticked.length === 0;
  $("#backlog-bulk-count").textContent = `${ticked.length} ticked:`;
}

async function editTicked(change) {
  const ids = backlogTicked();
  const label = $("#backlog-bulk-label").value.trim().toLowerCase();
  const body = { item_ids: ids, ...change(label) };
  if (("add_labels" in body || "remove_labels" in body) && !label) { flash("Type the label first.", "error"); return; }
  try {
    const done = await api("/v1/backlog/edit", { method: "POST", json: body });
    const refused = done.refused.map((r) => `#${r.id}: ${r.detail}`).join("; ");
    flash(`${done.changed.length} changed, ${done.unchanged.length} already so${refused ? `; not edited: ${refused}` : ""}.`, refused ? "error" : undefined);
    $("#backlog-bulk-label").value = "";
    await loadBacklog();
  } catch (error) {
    flash(error.message, "error");
  }
}

// Move the ticked items under the item named (an id or key).
function moveTicked(named) {
  return oneNamed(named, "move them under", async (id) => {
    await editTicked(() => ({ parent_id: id }));
    $("#backlog-bulk-parent").value = "";
  });
}

// `act` on the one item `named` (an id or key); `what` it is for says what to give when it names none or several.
async function oneNamed(named, what, act) {
  try {
    const ids = await itemIds(named);
    if (ids.length !== 1) { flash(`Give the one item to ${what}: its id (12) or key (SHOP-12).`, "error"); return; }
    await act(ids[0]);
  } catch (error) {
    flash(error.message, "error");
  }
}

// The label filter offers the labels the project's items use, with how many carry each.
async function loadLabels() {
  const labels = await labelsInUse(true);
  $("#project-labels").replaceChildren(...labels.map((l) => h("option", { value: l.label }, `${l.items} item${l.items === 1 ? "" : "s"}`)));
}

async function loadBacklog() {
  loadLabels().catch(() => $("#project-labels").replaceChildren());
  loadDuplicateLearning().catch(() => $("#duplicate-learning").replaceChildren());
  loadEstimateLearning().catch(() => $("#estimate-learning").replaceChildren());
  const query = await backlogQuery();
  const filtered = ["q", "item_type", "label", "parent_id"].some((name) => query.has(name)) || query.get("state") !== "all";
  const [page] = await Promise.all([fetchBacklog(query), tracker.load().catch(() => {})]);  // keys link to the tracker
  if (page === SUPERSEDED) return;
  exportLinks(query);
  const { items, total } = page;
  shownItems = new Map(items.map((item) => [item.id, item]));
  const noun = total === 1 ? "item" : "items";
  $("#backlog-count").textContent = total > items.length ? `the first ${items.length} of ${total} ${noun}: narrow the search to see the rest`
    : filtered ? `${total} ${noun} ${total === 1 ? "matches" : "match"}` : `${total} ${noun}`;
  const empty = filtered ? "No item matches these filters." : "The backlog is empty: accept a draft, add an item or import issues.";
  $("#backlog-tick-all").checked = false;
  $("#backlog tbody").replaceChildren(...(items.length ? items.map(backlogRow)
    : [h("tr", {}, h("td", { colspan: "11", class: "empty" }, empty))]));
  showBacklogTicked();
}

async function submitImport(event) {
  event.preventDefault();
  const form = fileForm("#import-file");
  if (!form) return;
  const button = $("#import-submit");
  button.disabled = true;
  try {
    const dry = $("#import-dry-run").checked ? "&dry_run=true" : "";
    const started = await api(`/v1/backlog/import/jobs?format=${$("#import-format").value}${dry}`, { method: "POST", form });
    await followImport(started.status_url, $("#import-job"), "import");
    await loadBacklog();
  } catch (error) {
    flash(error.message, "error");
  } finally {
    button.disabled = false;
  }
}

function prioritizeJobView(job) {
  return h("div", { class: `job ${job.status}` },
    h("p", {}, `Prioritization #${job.id} (${job.framework}): `, h("strong", { class: "job-status" }, job.status),
      ` · ${job.processed} of ${job.total} items estimated`, job.eta_s ? ` · about ${Math.round(job.eta_s)} s left` : "",
      " ", cancelButton("prioritize", job)),
    h("progress", { max: String(job.total), value: String(job.processed) }),
    job.errors.length ? h("ul", { class: "warnings" }, job.errors.map((e) => h("li", {}, e))) : "",
    job.status === "done" ? h("a", { href: "#review", onclick: () => review.setFilters("priority", "pending") },
      `Review the ${job.ranked.length} priority suggestions`) : "");
}

async function submitPrioritize(event) {
  event.preventDefault();
  try {
    const created = await api("/v1/prioritize", { method: "POST", json: { framework: $("#prioritize-framework").value } });
    await pollJob(created.status_url, (job) => $("#prioritize-job").replaceChildren(prioritizeJobView(job)));
    review.refreshCount();
  } catch (error) {
    flash(error.message, "error");
  }
}

async function submitPlan(event) {
  event.preventDefault();
  try {
    const plan = await api("/v1/sprints/plan", { method: "POST", json: { capacity_points: Number($("#plan-capacity").value) } });
    flash(`Sprint plan #${plan.id}: ${plan.payload.items.length} items, ${plan.payload.points_used} points; review it.`);
    location.hash = "#review";
    await review.showSuggestion(plan);
  } catch (error) {
    flash(error.message, "error");
  }
}

function typing(target) {  // a tick box is not typed in: the review keys still work after ticking one
  return target.closest("input:not([type=checkbox]), textarea, select, [contenteditable]");
}

function onKey(event) {
  const inReview = !$("#tab-review").hidden;
  if (event.key === "Escape" && typing(event.target)) { event.target.blur(); return; }
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    if (event.target.closest("#draft-form")) { event.preventDefault(); $("#draft-form").requestSubmit(); }
    else if (event.target.id === "comment-text") { event.preventDefault(); review.sendComment(); }
    else if (inReview) { event.preventDefault(); review.accept(); }
    return;
  }
  if (event.key === "Enter" && event.target.id === "reject-reason") { event.preventDefault(); review.reject(); return; }
  if (typing(event.target) || event.ctrlKey || event.metaKey || event.altKey || !inReview) return;
  const actions = {
    j: () => review.move(1), ArrowDown: () => review.move(1), k: () => review.move(-1), ArrowUp: () => review.move(-1),
    a: review.accept, r: review.reject, g: review.regenerate, h: review.history, x: review.tick, u: () => review.undo(),
    c: review.focusComment, m: () => review.assignTo("me"),
  };
  if (actions[event.key]) { event.preventDefault(); actions[event.key](); }
}

// Projects: a picker when there is more than one; every request and export link acts on the chosen one.
async function loadProjects() {
  const projects = await api("/v1/projects").catch(() => []);
  if (project() && !projects.some((p) => p.key === project())) setProject("");
  if (!project() && projects.length && !projects.some((p) => p.key === "default")) setProject(projects[0].key);
  const picker = $("#project");
  const current = project() || (projects.find((p) => p.key === "default") || projects[0] || {}).key || "";
  const named = (p) => (p.name === p.key ? p.key : `${p.name} (${p.key})`)
    + (p.unread && p.key !== current ? ` · ${p.unread} unread` : "");  // this project's count is the Inbox badge
  picker.replaceChildren(...projects.map((p) => h("option", { value: p.key }, named(p))));
  picker.value = current;
  picker.closest("label").hidden = projects.length < 2;
  picker.addEventListener("change", () => { setProject(picker.value); location.reload(); });
  exportLinks();
}

// Accounts: the login form while signed out; once signed in, the user's name and role (which hides what the role
// may not do, see desk.css) instead of the Reviewer box.
function showLogin() {
  $("#login").hidden = false;
  document.querySelector("main").hidden = true;
  document.querySelector("nav").hidden = true;
  $("#login-name").focus();
}

async function signIn(event) {
  event.preventDefault();
  try {
    await api("/v1/auth/login", { method: "POST", json: { name: $("#login-name").value, password: $("#login-password").value } });
    location.reload();
  } catch (error) {
    $("#login-password").value = "";
    flash(error.message, "error");
  }
}

// Your own password: the one you have now, the new one twice. The server ends your other logins and gives this page a
// new session (and CSRF token).
async function changePassword(event) {
  event.preventDefault();
  if ($("#password-new").value !== $("#password-again").value) { flash("The new password and its repeat differ.", "error"); return; }
  try {
    useAccount(await api("/v1/auth/password", { method: "POST", json: { current_password: $("#password-now").value, password: $("#password-new").value } }));
    event.target.reset();
    $("#password-form").hidden = true;
    flash("Password changed. Your other logins have ended.");
  } catch (error) {
    flash(error.message, "error");
  }
}

async function signOut() {
  await api("/v1/auth/logout", { method: "POST" }).catch(() => {});
  location.reload();
}

// Wires the page; `body[data-ready]` is set once every form and shortcut answers (the browser tests wait for it).
async function start() {
  const linked = new URLSearchParams(location.search).get("project");  // a link (an e-mail's) names its project
  if (linked !== null) { setProject(linked); history.replaceState(null, "", location.pathname + location.hash); }
  // The reviewer's name is wired first: a name typed while the account and projects load is kept, not overwritten.
  $("#reviewer").value = reviewer();
  $("#reviewer").addEventListener("change", (e) => {
    setReviewer(e.target.value);
    flash(`Decisions are recorded as ${e.target.value || "anonymous"}.`);
    review.refreshCount().catch(() => {});  // "yours" follows the name
    inbox.refresh().catch(() => {});
  });
  $("#login-form").addEventListener("submit", signIn);
  $("#sign-out").addEventListener("click", signOut);
  $("#change-password").addEventListener("click", () => { $("#password-form").hidden = !$("#password-form").hidden; if (!$("#password-form").hidden) $("#password-now").focus(); });
  $("#password-cancel").addEventListener("click", () => { $("#password-form").reset(); $("#password-form").hidden = true; });
  $("#password-form").addEventListener("submit", changePassword);
  document.addEventListener("refinery:signin", showLogin);
  const me = await api("/v1/auth/me").catch(() => ({ auth: false }));
  useAccount(me);
  if (me.auth && !me.name) {
    showLogin();
    document.body.dataset.ready = "login";
    return;
  }
  if (me.auth) {
    $("#reviewer-box").hidden = true;
    $("#account").hidden = false;
    $("#account-name").textContent = `${me.name} (${me.role})`;
    document.body.dataset.role = me.role;
  }
  await loadProjects();
  $("#draft-form").addEventListener("submit", submitDraft);
  $("#upload-form").addEventListener("submit", submitUpload);
  $("#import-form").addEventListener("submit", submitImport);
  $("#prioritize-form").addEventListener("submit", submitPrioritize);
  $("#plan-form").addEventListener("submit", submitPlan);
  $("#new-item").append(newItemForm());
  refine.start();
  webhooks.start();
  members.start();
  tracker.start(() => loadBacklog(), backlogTicked);
  insights.start();
  activity.start();
  inbox.start();
  meetings.start();
  $("#include-merged").addEventListener("change", () => loadBacklog());
  $("#backlog-tick-all").addEventListener("change", (event) => {
    for (const box of document.querySelectorAll("#backlog .tick-item")) box.checked = event.target.checked;
    showBacklogTicked();
  });
  $("#backlog-bulk-add").addEventListener("click", () => editTicked((label) => ({ add_labels: [label] })));
  $("#backlog-bulk-remove").addEventListener("click", () => editTicked((label) => ({ remove_labels: [label] })));
  $("#backlog-bulk-close").addEventListener("click", () => editTicked(() => ({ closed: true })));
  $("#backlog-bulk-reopen").addEventListener("click", () => editTicked(() => ({ closed: false })));
  $("#backlog-bulk-move").addEventListener("click", () => moveTicked($("#backlog-bulk-parent").value));
  $("#backlog-bulk-unparent").addEventListener("click", () => editTicked(() => ({ parent_id: null })));
  $("#backlog-bulk-top").addEventListener("click", () => rankItems(backlogTicked(), { to: "top" }));
  $("#backlog-bulk-bottom").addEventListener("click", () => rankItems(backlogTicked(), { to: "bottom" }));
  $("#backlog-bulk-score").addEventListener("click", () => rankItems(backlogTicked(), { to: "score" }));
  $("#backlog-bulk-above").addEventListener("click", () => rankTickedAbove($("#backlog-bulk-anchor").value));
  let typing;  // a search waits for a pause in typing; the other filters apply at once
  const filtered = () => { views.follow("backlog"); views.mark("backlog"); return loadBacklog(); };
  for (const id of ["#backlog-q", "#backlog-label"]) {
    $(id).addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(filtered, 250); });
  }
  for (const id of ["#backlog-type", "#backlog-state", "#backlog-parent"]) $(id).addEventListener("change", filtered);
  $("#backlog-filter").addEventListener("submit", (event) => { event.preventDefault(); clearTimeout(typing); filtered(); });
  $("#backlog-filter").append(views.viewLink("backlog"), " ", views.savedViews("backlog"));
  const queued = () => { views.follow("review"); views.mark("review"); return review.loadQueue(); };
  for (const id of ["#filter-kind", "#filter-status", "#filter-assignee"]) $(id).addEventListener("change", queued);
  let searching;  // the queue's search waits for a pause in typing
  $("#filter-q").addEventListener("input", () => { clearTimeout(searching); searching = setTimeout(queued, 250); });
  $("#tab-review .filters .hint").before(views.viewLink("review"), " ", views.savedViews("review"), " ");
  $("#bulk-all").addEventListener("change", (event) => review.tickAll(event.target.checked));
  window.addEventListener("beforeunload", (event) => { if (review.holdsUnsavedEdits()) event.preventDefault(); });
  $("#bulk-accept").addEventListener("click", () => review.decideTicked("accept"));
  $("#bulk-reject").addEventListener("click", () => review.decideTicked("reject"));
  $("#bulk-assign").addEventListener("click", () => review.assignTicked());
  $("#bulk-assignee").addEventListener("focus", (e) => offerPeople(e.target));
  document.addEventListener("keydown", onKey);
  window.addEventListener("hashchange", () => show(location.hash.slice(1)));
  show(location.hash.slice(1) || "draft");
  review.refreshCount().catch(() => {});
  refreshModelState();
  document.body.dataset.ready = "desk";
}

start();
