// What people did in this project (on the Review tab), newest first: decisions, assignments, comments, edits of
// items; a suggestion's line opens it in the queue, an item's its row in the backlog. "Older" loads the next page.

import { api, whoami } from "./api.js";
import { $, flash, h, when } from "./dom.js";
import { showItem } from "./inbox.js";
import { open as openSuggestion } from "./review.js";

const PAGE = 30;
const SAID = { accepted: "accepted", accepted_with_edits: "accepted with edits", rejected: "rejected", reopened: "undid the decision on",
  assigned: "assigned", regenerated: "regenerated", merged: "merged", commented: "commented on", edited_comment: "edited a comment on", added: "added", edited: "edited", imported: "re-imported", sent: "sent to the tracker", ranked: "ranked" };

function line(a) {
  const who = a.actor || (a.action === "imported" ? "A re-import" : "Someone");
  const about = a.suggestion_id
    ? h("a", { href: "#review", class: "activity-subject", onclick: (e) => { e.preventDefault(); open(a.suggestion_id); } }, `#${a.suggestion_id} ${a.subject}`)
    : h("a", { href: `#backlog/${a.item_id}`, class: "activity-subject", onclick: (e) => { e.preventDefault(); showItem(a.item_id); } }, `item #${a.item_id} ${a.subject}`);
  return h("li", { dataset: { at: a.at, cursor: a.cursor } }, h("span", { class: "hint" }, when(a.at)), ` ${who} ${SAID[a.action] || a.action} `, about,
    a.detail ? h("span", { class: "activity-detail" }, `: ${a.detail}`) : "");
}

async function open(id) {
  try {
    await openSuggestion(id);
  } catch (error) {
    flash(error.message, "error");
  }
}

export async function load(older = false) {
  const list = $("#activity-list");
  const query = new URLSearchParams({ limit: String(PAGE) });
  if ($("#activity-mine").checked && whoami().name) query.set("actor", whoami().name);
  if (older && list.lastElementChild?.dataset.cursor) query.set("after", list.lastElementChild.dataset.cursor);
  const found = await api(`/v1/activity?${query}`);
  const lines = found.map(line);
  if (older) list.append(...lines); else list.replaceChildren(...lines);
  if (!list.children.length) list.replaceChildren(h("li", { class: "hint" }, "Nothing done yet: decisions, comments and edits show here."));
  $("#activity-older").hidden = found.length < PAGE;
}

export function start() {
  const reload = (older = false) => { if ($("#activity").open) load(older).catch((e) => flash(e.message, "error")); };
  $("#activity").addEventListener("toggle", () => reload());
  $("#activity-mine").addEventListener("change", () => reload());
  $("#activity-older").addEventListener("click", () => reload(true));
}
