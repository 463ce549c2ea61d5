// The project's tracker (Backlog tab): admins connect Jira Cloud, GitHub issues or Linear; reviewers send items there (all, or
// the ticked ones): new items are created, items changed here since are updated, with the job's counts as it goes;
// admins pull the tracker's issues back (its changes, new issues), as an import job of its file.

import { api, pollJob } from "./api.js";
import { $, cancelButton, flash, h } from "./dom.js";
import { followImport } from "./imports.js";

let connected = null;  // GET /v1/tracker: the connection (never its token), or null
let changedHere = new Map();  // item id -> the fields changed here since the tracker last had them (a push sends them)
let reload = async () => {};

const NAMES = { jira: "Jira", github: "GitHub", linear: "Linear" };
const URLS = { jira: "https://acme.atlassian.net", github: "https://api.github.com (or GitHub Enterprise's API root)", linear: "https://api.linear.app" };
const TARGETS = { jira: "project key, e.g. SHOP", github: "owner/repo", linear: "team key, e.g. ENG" };

// The issue an item is in this tracker, as a link; null for an item of no tracker or of another one.
export function issueLink(externalId) {
  if (!connected?.browse_url || !externalId) return null;
  const github = connected.kind === "github";
  const start = github ? `github:${connected.target}#` : `${connected.kind}:${connected.target}-`;
  if (!externalId.toLowerCase().startsWith(start.toLowerCase())) return null;
  const key = github ? externalId.slice(start.length) : externalId.split(":").pop();
  return h("a", { href: connected.browse_url.replace("{key}", key), target: "_blank", rel: "noopener" }, externalId.split(":").pop());
}

// A backlog row's mark for an item changed here since its tracker last had it: "(changed here: title, parent)".
export function changedMark(itemId) {
  const changed = changedHere.get(itemId);
  if (!changed) return "";
  const names = changed.map((name) => name.replace("_", " ").replace("depends on", "dependencies"));
  return h("span", { class: "hint changed-mark", title: `Not in ${NAMES[connected.kind]} yet: the next send updates it` }, ` (changed here: ${names.join(", ")})`);
}

export async function load() {
  connected = await api("/v1/tracker");
  const where = connected ? `${NAMES[connected.kind]} ${connected.target}` : "";
  $("#tracker summary").textContent = connected ? `Tracker: ${where}` : "Tracker: none connected";
  $("#tracker-send").hidden = !connected;
  $("#tracker-send").textContent = connected ? `Send to ${where}` : "";
  changedHere = new Map();
  if (connected) {  // what a push would do, on the button: "Send to Jira SHOP (3 new, 2 changed)"
    const pending = await api("/v1/tracker/pending").catch(() => null);
    const said = pending && [pending.created && `${pending.created} new`, pending.updated && `${pending.updated} changed`].filter(Boolean);
    if (said) $("#tracker-send").textContent += said.length ? ` (${said.join(", ")})` : " (nothing new)";
    for (const item of pending?.items || []) if (item.outcome === "updated") changedHere.set(item.item_id, item.changed);
  }
  $("#backlog-bulk-send").hidden = !connected;
  $("#tracker-order-box").hidden = !["jira", "linear"].includes(connected?.kind);  // GitHub issues have no order
  $("#tracker-pull").hidden = !connected;
  $("#tracker-pull-preview").hidden = !connected;
  $("#tracker-full-box").hidden = !connected;
  $("#tracker-pull").textContent = connected ? `Pull from ${where}` : "";
  $("#tracker-state").replaceChildren(connected
    ? h("span", {}, `Items go to ${where}${connected.user ? ` as ${connected.user}` : ""} (set by ${connected.updated_by || "someone"}). `,
      connected.pull_every_minutes ? `Pulled every ${connected.pull_every_minutes} minutes. ` : "",
      connected.last_pull ? `Last pull: ${connected.last_pull}. ` : "",
      h("button", { type: "button", id: "tracker-check", onclick: check }, "Check"), " ",
      h("button", { type: "button", id: "tracker-hook-show", onclick: () => showHook() }, "Live updates"), " ",
      h("button", { type: "button", id: "tracker-remove", onclick: remove }, "Disconnect"))
    : "No tracker: connect one to send items to it.");
  $("#tracker-hook").replaceChildren();
  const form = $("#tracker-form");
  if (connected) for (const name of ["kind", "edition", "url", "target", "user", "story_points_field", "pull_every_minutes"]) form.elements[name].value = connected[name] || (name === "edition" ? "cloud" : "");
  fitKind();
}

function fitKind() {
  const kind = $("#tracker-form").elements.kind.value;
  for (const name of ["edition", "user", "story_points_field"]) $("#tracker-form").elements[name].hidden = kind !== "jira";
  $("#tracker-form").elements.url.placeholder = URLS[kind];
  $("#tracker-form").elements.target.placeholder = TARGETS[kind];
}

// Run `work` and say what it said; `changes` (a save, a disconnect) reloads the backlog, whose keys link to the tracker.
async function act(work, changes = true) {
  try {
    flash(await work());
    if (changes) {
      await load();
      await reload();
    }
  } catch (error) {
    flash(error.message, "error");
  }
}

function save(event) {
  event.preventDefault();
  const data = Object.fromEntries([...new FormData(event.target)].map(([k, v]) => [k, String(v).trim() || null]));
  if (data.kind !== "jira") { delete data.user; delete data.story_points_field; delete data.edition; }
  data.pull_every_minutes = data.pull_every_minutes ? Number(data.pull_every_minutes) : null;
  return act(async () => {
    await api("/v1/tracker", { method: "PUT", json: data });
    event.target.elements.token.value = "";
    return "Tracker saved: Check tries it.";
  });
}

const check = () => act(async () => {
  const said = await api("/v1/tracker/check", { method: "POST" });
  if (!said.ok) throw new Error(said.detail);
  return said.detail;
}, false);  // a check changes nothing: the backlog is not reloaded under the reader's ticks

// The webhook the tracker sends its changes to (so they show here without a pull): its address, the secret to sign
// with (admins see it), what to pick in the tracker, and the last one heard; `secret: {}` makes a new secret.
async function showHook(secret = null) {
  try {
    const hook = await api("/v1/tracker/hook", secret ? { method: "PUT", json: secret } : {});
    const heard = hook.received_at ? `Last heard ${new Date(hook.received_at).toLocaleString()}: ${hook.last}` : "No webhook heard yet.";
    $("#tracker-hook").replaceChildren(
      h("span", {}, "Webhook address: ", h("code", { class: "hook-url" }, hook.url), " secret: ", h("code", { class: "hook-secret" }, hook.secret), " "),
      h("button", { type: "button", id: "tracker-hook-new", onclick: () => confirm("Make a new secret? The tracker's webhook stops working until it has the new one.") && showHook({}) }, "New secret"),
      h("br"), h("span", { class: "hint" }, `${hook.events} ${heard}`));
  } catch (error) {
    flash(error.message, "error");
  }
}

const remove = () => confirm("Forget the tracker and its token? Items sent keep their keys.") && act(async () => {
  await api("/v1/tracker", { method: "DELETE" });
  return "Tracker disconnected.";
});

function jobView(job) {
  return h("div", { class: `job ${job.status}` },
    h("p", {}, `Sending to ${job.tracker}: `, h("strong", { class: "job-status" }, job.status),
      ` · ${job.processed} of ${job.total}: ${job.created} created, ${job.updated} updated, ${job.unchanged} unchanged, ${job.skipped} skipped, ${job.failed} failed`,
      job.comments_sent ? `; ${job.comments_sent} comment${job.comments_sent === 1 ? "" : "s"} posted` : "",
      job.eta_s ? ` · about ${Math.round(job.eta_s)} s left` : "", " ", cancelButton("push", job)),
    h("progress", { max: String(job.total), value: String(job.processed) }),
    job.errors.length ? h("ul", { class: "warnings" }, job.errors.map((e) => h("li", {}, e))) : "");
}

// Send the items `ids` names (all: null) and show the job until it ends.
export async function send(ids) {
  try {
    const order = !$("#tracker-order-box").hidden && $("#tracker-order").checked;
    const started = await api("/v1/tracker/push", { method: "POST", json: { ...(ids ? { item_ids: ids } : {}), ...(order ? { order } : {}) } });
    const job = await pollJob(started.status_url, (j) => $("#tracker-job").replaceChildren(jobView(j)));
    const posted = job.comments_sent ? `; ${job.comments_sent} comment${job.comments_sent === 1 ? "" : "s"} posted` : "";
    flash(`Sent to ${job.tracker}: ${job.created} created, ${job.updated} updated, ${job.unchanged} unchanged${job.failed ? `, ${job.failed} failed` : ""}${posted}.`,
      job.failed || job.status === "failed" ? "error" : undefined);
    await reload();
  } catch (error) {
    flash(error.message, "error");
  }
}

// Import the tracker's issues as a job: new ones added, ones changed there updated, fields changed here too kept (and
// said), with its phase and counts shown as it goes.
async function pull(dry = false) {
  const button = $(dry ? "#tracker-pull-preview" : "#tracker-pull");
  button.disabled = true;
  try {
    const query = new URLSearchParams({ ...(dry ? { dry_run: "true" } : {}), ...($("#tracker-full").checked ? { full: "true" } : {}) });
    const started = await api(`/v1/tracker/pull${query.size ? `?${query}` : ""}`, { method: "POST" });
    await followImport(started.status_url, $("#tracker-job"), "pull");
    await reload();
  } catch (error) {
    flash(error.message, "error");
  } finally {
    button.disabled = false;
  }
}

export function start(reloadBacklog, ticked) {
  reload = reloadBacklog;
  $("#tracker-form").replaceChildren(
    h("select", { name: "kind", "aria-label": "Tracker", onchange: fitKind }, h("option", { value: "jira" }, "Jira Cloud"), h("option", { value: "github" }, "GitHub issues"), h("option", { value: "linear" }, "Linear")),
    h("select", { name: "edition", "aria-label": "Jira edition" }, h("option", { value: "cloud" }, "Cloud"), h("option", { value: "data_center" }, "Data Center")),
    h("input", { name: "url", type: "url", maxlength: "2000", "aria-label": "Site or API root" }),
    h("input", { name: "target", required: true, maxlength: "200", "aria-label": "Project key or owner/repo" }),
    h("input", { name: "user", maxlength: "200", placeholder: "account email (Data Center: blank with a token)", "aria-label": "Jira account" }),
    h("input", { name: "token", type: "password", maxlength: "2000", autocomplete: "off", placeholder: "API token (kept, never shown)", "aria-label": "Token" }),
    h("input", { name: "story_points_field", maxlength: "100", placeholder: "points field (customfield_10016)", "aria-label": "Story points field" }),
    h("input", { name: "pull_every_minutes", type: "number", min: "5", max: "1440", placeholder: "pull every … min", title: "Pull its issues every this many minutes (5-1440); blank: only when asked", "aria-label": "Pull every (minutes)" }),
    h("button", { type: "submit", id: "tracker-save" }, "Save"));
  $("#tracker-form").addEventListener("submit", save);
  $("#tracker-send").addEventListener("click", () => send(null));
  $("#tracker-pull").addEventListener("click", () => pull());
  $("#tracker-pull-preview").addEventListener("click", () => pull(true));
  $("#backlog-bulk-send").addEventListener("click", () => send(ticked()));
  load().catch(() => {});
}
