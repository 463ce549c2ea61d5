// Comment threads, a suggestion's (review.js) or a backlog item's (here): each comment with its author, time and
// text (@names in bold, marked when they name the reader), Edit for its author and Delete for its author or an admin
// (with accounts off, anyone: names are not proven); one read from the tracker ("from SHOP-12") changes there only.
// A comment decides and changes nothing.

import { api, whoami } from "./api.js";
import { flash, h, when, withLinks } from "./dom.js";

// A comment's text as text nodes, each @name (as the server reads them: service/core/tables.py MENTION) in bold, and
// marked when it names the reader.
const MENTION = /(?<![\w@.])@([A-Za-z0-9](?:[A-Za-z0-9._@-]*[A-Za-z0-9])?)/g;
function mentions(text, myName) {
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(MENTION)) {
    parts.push(text.slice(last, match.index), h("strong", { class: `mention${match[1] === myName ? " me" : ""}` }, match[0]));
    last = match.index + match[0].length;
  }
  parts.push(text.slice(last));
  return parts;
}

// ... and its web addresses as links (an @ inside an address is not a mention).
const withMentions = (text, myName) => withLinks(text, (piece) => mentions(piece, myName));

// The thread's comments, oldest first; `remove(c)` deletes one, `edit(c, text)` changes its text (its author's;
// anyone's with accounts off) and draws the thread again. A comment being edited stays in its box, with what was typed,
// when the thread is drawn again meanwhile (`editing`, by comment id).
const editing = new Map();

export function commentList(list, remove, edit) {
  const me = whoami();
  const mayDelete = (c) => !c.from_tracker && (!me.auth || me.role === "admin" || (c.author && c.author === me.name));
  const mayEdit = (c) => !c.from_tracker && (!me.auth || (c.author && c.author === me.name));
  const issue = (c) => c.sent_as.slice(c.sent_as.indexOf(":") + 1, c.sent_as.lastIndexOf("@"));
  return h("ol", { class: "comments" }, list.map((c) => {
    const shown = h("p", { class: "comment-text" }, ...withMentions(c.text, me.name));
    const item = h("li", { dataset: { id: c.id } },
      h("span", { class: "comment-by" }, `${c.author || "someone"}, ${when(c.at)}`,
        c.edited_at ? h("span", { class: "edited", title: `edited ${when(c.edited_at)}` }, " · edited") : "",
        c.sent_as ? ` · ${c.from_tracker ? "from" : c.sent_as.endsWith("@?") ? "perhaps posted on" : "posted on"} ${issue(c)}` : ""),
      mayEdit(c) ? h("button", { type: "button", class: "edit-comment", onclick: () => editor(c, shown, edit) }, "Edit") : "",
      mayDelete(c) ? h("button", { type: "button", class: "delete-comment", onclick: () => remove(c) }, "Delete") : "",
      shown);
    if (editing.has(c.id)) editor(c, shown, edit, editing.get(c.id));
    return item;
  }));
}

// Puts a box for the comment's new text in place of its text: Save (or Ctrl+Enter), Cancel (or Escape).
function editor(c, shown, edit, typed = c.text) {
  const box = h("textarea", { class: "comment-edit-text", rows: "3", maxlength: "10000", "aria-label": "The comment's new text" });
  box.value = typed;
  editing.set(c.id, typed);
  box.addEventListener("input", () => editing.set(c.id, box.value));
  const cancel = () => { editing.delete(c.id); form.replaceWith(shown); };
  const save = async (event) => {
    event?.preventDefault();
    if (!box.value.trim()) { box.focus(); flash("A comment cannot be empty: delete it instead.", "info"); return; }
    editing.delete(c.id);  // the thread drawn again shows the comment as saved
    try {
      await edit(c, box.value);
    } catch (error) {
      editing.set(c.id, box.value);
      flash(error.message, "error");
    }
  };
  const form = h("form", { class: "comment-edit-form", onsubmit: save }, offerMentions(box),
    h("button", { type: "submit" }, "Save"), h("button", { type: "button", onclick: cancel }, "Cancel"));
  box.addEventListener("keydown", (event) => {
    if (event.defaultPrevented) return;  // the @name menu took it
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) save(event);
    else if (event.key === "Escape") cancel();
    else return;
    event.stopPropagation();  // not the desk's shortcuts
  });
  shown.replaceWith(form);
  box.focus();
}

// Typing @ and the start of a name offers this project's people (GET /v1/people: its members; with accounts off, the
// names it has used): ↑/↓ choose, Enter or Tab puts the name in, Escape closes, as does a click elsewhere. The
// textarea comes back in a box that holds the menu under it.
export function offerMentions(text) {
  const menu = h("ul", { class: "mention-menu", role: "listbox", hidden: true });
  let shown = [];
  let chosen = 0;
  let asked = 0;
  const typed = () => /(?:^|[^\w@.])@([A-Za-z0-9._@-]*)$/.exec(text.value.slice(0, text.selectionStart));
  const close = () => { menu.hidden = true; menu.replaceChildren(); shown = []; };
  const put = (name) => {
    const before = text.value.slice(0, text.selectionStart);
    const start = before.lastIndexOf("@");
    text.value = `${before.slice(0, start)}@${name} ${text.value.slice(text.selectionStart)}`;
    text.setSelectionRange(start + name.length + 2, start + name.length + 2);
    close();
    text.dispatchEvent(new Event("input"));  // kept as a draft where drafts are kept
  };
  const draw = () => {
    menu.replaceChildren(...shown.map((p, k) => h("li", { role: "option", class: k === chosen ? "chosen" : "", "aria-selected": String(k === chosen),
      onmousedown: (event) => { event.preventDefault(); put(p.name); } }, p.name, p.role ? h("span", { class: "hint" }, ` ${p.role}`) : "")));
    menu.hidden = !shown.length;
  };
  text.addEventListener("input", async () => {
    const match = typed();
    if (!match) { close(); return; }
    const mine = ++asked;
    const found = await api(`/v1/people?${new URLSearchParams({ q: match[1], limit: "8" })}`).catch(() => []);
    if (mine !== asked || !typed()) return;  // a later keystroke asked again, or the @ is gone
    [shown, chosen] = [found, 0];
    draw();
  });
  text.addEventListener("keydown", (event) => {
    if (menu.hidden || event.ctrlKey || event.metaKey) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      chosen = (chosen + (event.key === "ArrowDown" ? 1 : shown.length - 1)) % shown.length;
      draw();
    } else if (event.key === "Enter" || event.key === "Tab") put(shown[chosen].name);
    else if (event.key === "Escape") close();
    else return;
    event.preventDefault();
    event.stopPropagation();  // not the desk's shortcuts
  });
  text.addEventListener("blur", close);
  return h("div", { class: "mention-box" }, text, menu);
}

// The names an assignee box offers (its `list`): this project's people, asked for when the box is first used.
export async function offerPeople(input) {
  if (!document.getElementById("people")) document.body.append(h("datalist", { id: "people" }));
  input.setAttribute("list", "people");
  const found = await api("/v1/people?limit=100").catch(() => []);
  document.getElementById("people").replaceChildren(...found.map((p) => h("option", { value: p.name })));
}

// Whether a thread (`path`: a suggestion's or an item's) reaches the reader's inbox, and why, with the one switch that
// changes it: watch it, stop watching, mute it, unmute it (mentions and assignments reach them either way); `what`
// names what reaches them ("Its comments"); `redraw` shows the thread again after a change.
const FOLLOW = { "given to you": ["Mute", false], "in its thread": ["Mute", false], watching: ["Stop watching", null], muted: ["Unmute", null] };

export function followView(path, what, subscribed, redraw) {
  const [label, watching] = FOLLOW[subscribed.why] || ["Watch", true];
  const said = subscribed.following ? `${what} reach your inbox (${subscribed.why}).`
    : subscribed.why === "muted" ? `Muted: ${what.toLowerCase()} do not reach your inbox.`
      : `${what} do not reach your inbox (mentions of you do).`;
  const change = async () => {
    try {
      await api(`${path}/subscription`, { method: "PUT", json: { watching } });
      await redraw();
    } catch (error) {
      flash(error.message, "error");
    }
  };
  return h("p", { class: "hint follow" }, said, " ", h("button", { type: "button", class: "follow-switch", onclick: change }, label));
}

export const confirmDelete = (c) => confirm(`Delete ${c.author ? `${c.author}'s` : "this"} comment?`);

// A backlog item's thread, shown in `slot` (inside the item's row): its comments and a form to add one. Showing it
// marks the reader's inbox lines about it read; `counted(n)` is told the thread's length.
export async function showItemThread(item, slot, counted) {
  const me = whoami();
  const [list, subscribed] = await Promise.all([api(`/v1/backlog/${item.id}/comments`),
    me.name ? api(`/v1/backlog/${item.id}/subscription`).catch(() => null) : null]);
  const text = h("textarea", { class: "item-comment-text", rows: "2", maxlength: "10000", "aria-label": `Comment on #${item.id}`,
    placeholder: "An answer to an open question, what refinement settled… (Ctrl+Enter sends)" });
  const send = async (event) => {
    event?.preventDefault();
    if (!text.value.trim()) { text.focus(); flash("Write the comment first.", "info"); return; }
    try {
      await api(`/v1/backlog/${item.id}/comments`, { method: "POST", json: { text: text.value } });
      await showItemThread(item, slot, counted);
      flash(`Commented on item #${item.id}.`);
    } catch (error) {
      flash(error.message, "error");
    }
  };
  const remove = async (c) => {
    if (!confirmDelete(c)) return;
    try {
      await api(`/v1/backlog/${item.id}/comments/${c.id}`, { method: "DELETE" });
      await showItemThread(item, slot, counted);
      flash("Comment deleted.");
    } catch (error) {
      flash(error.message, "error");
    }
  };
  const edit = async (c, said) => {
    await api(`/v1/backlog/${item.id}/comments/${c.id}`, { method: "PATCH", json: { text: said } });
    await showItemThread(item, slot, counted);
    flash("Comment edited.");
  };
  text.addEventListener("keydown", (event) => { if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.stopPropagation(); send(event); } });
  const discuss = async (event) => {  // the thread read as a conversation: its decisions and changes become suggestions
    const button = event.currentTarget;
    button.disabled = true;  // one reading per click
    try {
      const created = await api(`/v1/backlog/${item.id}/discussion`, { method: "POST" });
      location.hash = `#meetings/${created.conversation_id}`;  // the tab opens on the next task, the job followed by then
      document.dispatchEvent(new CustomEvent("refinery:conversation-started", { detail: created }));
    } catch (error) {
      button.disabled = false;
      flash(error.message, "error");
    }
  };
  const follow = subscribed ? followView(`/v1/backlog/${item.id}`, "Its comments and edits", subscribed, () => showItemThread(item, slot, counted)) : "";
  const read = list.length ? h("button", { type: "button", class: "read-discussion",
    title: "Read the comments as a meeting: what they decided, assigned, left open or changed becomes suggestions" }, "Read the discussion") : "";
  if (read) read.addEventListener("click", discuss);
  slot.replaceChildren(h("h4", {}, `Comments (${list.length})`), follow, list.length ? commentList(list, remove, edit) : "", read,
    h("form", { class: "item-comment-form", onsubmit: send }, offerMentions(text), h("button", { type: "submit" }, "Comment")));
  counted(list.length);
  document.dispatchEvent(new CustomEvent("refinery:item-shown", { detail: item.id }));
}
