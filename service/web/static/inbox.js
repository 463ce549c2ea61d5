// The reviewer's inbox (on the Review tab, its unread count in the header): mentions, suggestions given to them,
// comments and decisions on the suggestions they follow. A line opens its suggestion and is marked read; "Older" loads
// the next page.

import { api, apiPage, whoami } from "./api.js";
import { $, flash, h, when } from "./dom.js";
import { open } from "./review.js";

const PAGE = 30;

// The Backlog tab at the item's thread (`#backlog/12`), even when that is already the address.
export function showItem(id) {
  const target = `#backlog/${id}`;
  if (location.hash === target) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = target;
}

function line(n) {
  const link = h("a", { href: n.item_id ? `#backlog/${n.item_id}` : "#review", class: "inbox-text", onclick: (e) => { e.preventDefault(); openLine(n, li); } }, n.text);
  const toggle = h("button", { type: "button", class: "inbox-mark", onclick: () => mark([n.id], li.classList.contains("unread")).catch((e) => flash(e.message, "error")) },
    n.read ? "Mark unread" : "Mark read");
  const li = h("li", { class: n.read ? "" : "unread", dataset: { id: n.id, suggestion: n.suggestion_id ?? "", item: n.item_id ?? "" } }, h("span", { class: "hint" }, when(n.at)), " ", link, " ", toggle);
  return li;
}

function showUnread(count) {
  for (const badge of [$("#inbox-count"), $("#inbox-unread")]) badge.textContent = count ? String(count) : "";
}

async function openLine(n, li) {
  try {
    if (li.classList.contains("unread")) await mark([n.id], true);
    if (n.item_id) showItem(n.item_id);  // a comment on a backlog item: its thread there
    else await open(n.suggestion_id);
  } catch (error) {
    flash(error.message, "error");
  }
}

// Marks lines read (or unread): `ids`, those `about` a suggestion or item (`{ suggestion_id }`, `{ item_id }`), or all
// of them (neither).
async function mark(ids, read, about = null) {
  const json = ids ? { ids, read } : about || { all: true };
  const done = await api("/v1/inbox/read", { method: "POST", json });
  const concerns = (li) => (about.item_id ? Number(li.dataset.item) === about.item_id : Number(li.dataset.suggestion) === about.suggestion_id);
  for (const li of $("#inbox-list").children) {
    if (ids ? ids.includes(Number(li.dataset.id)) : !about || concerns(li)) {
      li.classList.toggle("unread", !read);
      const button = li.querySelector(".inbox-mark");
      if (button) button.textContent = read ? "Mark unread" : "Mark read";
    }
  }
  showUnread(done.unread);
}

// The unread count only (the header's badge), without loading the lines.
export async function refresh() {
  if (!whoami().name) { showUnread(0); return; }
  showUnread((await apiPage("/v1/inbox?unread=true&limit=1", "X-Unread-Count")).total);
}

export async function load(older = false) {
  const list = $("#inbox-list");
  if (!whoami().name) {
    list.replaceChildren(h("li", { class: "hint" }, "Type your name in Reviewer (top right) to see what others asked of you."));
    $("#inbox-older").hidden = true;
    return;
  }
  const query = new URLSearchParams({ limit: String(PAGE) });
  if ($("#inbox-unread-only").checked) query.set("unread", "true");
  if (older && list.lastElementChild?.dataset.id) query.set("after", list.lastElementChild.dataset.id);
  const { items, total } = await apiPage(`/v1/inbox?${query}`, "X-Unread-Count");
  const lines = items.map(line);
  if (older) list.append(...lines); else list.replaceChildren(...lines);
  if (!list.children.length) list.replaceChildren(h("li", { class: "hint" }, "Nothing here: mentions, suggestions given to you, and comments and decisions on them show here."));
  $("#inbox-older").hidden = items.length < PAGE;
  showUnread(total);
}

// Your e-mail settings (with accounts on): the address unread lines are mailed to, and whether they are.
async function loadMail() {
  const form = $("#inbox-mail");
  if (!whoami().auth) { form.hidden = true; return; }
  const me = await api("/v1/auth/me");
  $("#inbox-mail-address").value = me.email || "";
  $("#inbox-mail-on").checked = Boolean(me.email && me.email_notifications);
  $("#inbox-mail-every").value = me.mail_every || "soon";
  $("#inbox-mail-state").textContent = me.mail ? "" : "This server sends no mail yet: an admin sets its SMTP server (REFINERY_SMTP_HOST).";
  form.hidden = false;  // shown once filled in, so nothing typed is overwritten
}

async function saveMail(event) {
  event.preventDefault();
  const email = $("#inbox-mail-address").value.trim() || null;
  const on = $("#inbox-mail-on").checked;
  if (on && !email) { flash("Type the address to mail your unread lines to.", "error"); return; }
  const me = await api("/v1/auth/me", { method: "PATCH", json: { email, email_notifications: on, mail_every: $("#inbox-mail-every").value } });
  const often = { hourly: ", at most once an hour", daily: ", at most once a day" }[me.mail_every] || "";
  flash(me.email && me.email_notifications ? `Lines still unread after a few minutes will be mailed to ${me.email}${often}.` : "None of your lines will be mailed.");
}

export function start() {
  const reload = (older = false) => { if ($("#inbox").open) load(older).catch((e) => flash(e.message, "error")); };
  $("#inbox").addEventListener("toggle", () => { reload(); if ($("#inbox").open) loadMail().catch((e) => flash(e.message, "error")); });
  $("#inbox-mail").addEventListener("submit", (e) => saveMail(e).catch((error) => flash(error.message, "error")));
  $("#inbox-unread-only").addEventListener("change", () => reload());
  $("#inbox-older").addEventListener("click", () => reload(true));
  $("#inbox-all-read").addEventListener("click", () => mark(null, true).catch((e) => flash(e.message, "error")));
  $("#inbox-link").addEventListener("click", () => { $("#inbox").open = true; });
  // A suggestion looked at in the queue, however it was reached: its lines are read (when any are unread).
  // Not asked when the open panel shows none of its lines unread (one opened from the panel is marked read already).
  const unreadAbout = (about) => !$("#inbox").open || [...$("#inbox-list").querySelectorAll("li.unread")].some((li) =>
    (about.item_id ? Number(li.dataset.item) === about.item_id : Number(li.dataset.suggestion) === about.suggestion_id));
  const seen = (about) => {
    if (whoami().name && $("#inbox-unread").textContent && unreadAbout(about)) mark(null, true, about).catch(() => {});
  };
  document.addEventListener("refinery:shown", (event) => { if (!$("#tab-review").hidden) seen({ suggestion_id: event.detail }); });
  document.addEventListener("refinery:item-shown", (event) => seen({ item_id: event.detail }));  // an item's thread
  refresh().catch(() => {});
  setInterval(() => { if (document.visibilityState === "visible") refresh().catch(() => {}); }, 60_000);
}
