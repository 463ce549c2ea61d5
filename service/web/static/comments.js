// Comment threads, a suggestion's (review.js) or a backlog item's (here): each comment with its author, time and
// text (@names in bold, marked when they name the reader), and Delete for its author or an admin (with accounts off,
// anyone: names are not proven). A comment decides and changes nothing.

import { api, whoami } from "./api.js";
import { flash, h, when } from "./dom.js";

// A comment's text as text nodes, each @name (as the server reads them: service/core/tables.py MENTION) in bold, and
// marked when it names the reader.
const MENTION = /(?<![\w@.])@([A-Za-z0-9](?:[A-Za-z0-9._@-]*[A-Za-z0-9])?)/g;
function withMentions(text, myName) {
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(MENTION)) {
    parts.push(text.slice(last, match.index), h("strong", { class: `mention${match[1] === myName ? " me" : ""}` }, match[0]));
    last = match.index + match[0].length;
  }
  parts.push(text.slice(last));
  return parts;
}

// The thread's comments, oldest first; `remove(c)` deletes one.
export function commentList(list, remove) {
  const me = whoami();
  const mayDelete = (c) => !me.auth || me.role === "admin" || (c.author && c.author === me.name);
  return h("ol", { class: "comments" }, list.map((c) => h("li", { dataset: { id: c.id } },
    h("span", { class: "comment-by" }, `${c.author || "someone"}, ${when(c.at)}`),
    mayDelete(c) ? h("button", { type: "button", class: "delete-comment", onclick: () => remove(c) }, "Delete") : "",
    h("p", { class: "comment-text" }, ...withMentions(c.text, me.name)))));
}

export const confirmDelete = (c) => confirm(`Delete ${c.author ? `${c.author}'s` : "this"} comment?`);

// A backlog item's thread, shown in `slot` (inside the item's row): its comments and a form to add one. Showing it
// marks the reader's inbox lines about it read; `counted(n)` is told the thread's length.
export async function showItemThread(item, slot, counted) {
  const list = await api(`/v1/backlog/${item.id}/comments`);
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
  text.addEventListener("keydown", (event) => { if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.stopPropagation(); send(event); } });
  slot.replaceChildren(h("h4", {}, `Comments (${list.length})`), list.length ? commentList(list, remove) : "",
    h("form", { class: "item-comment-form", onsubmit: send }, text, h("button", { type: "submit" }, "Comment")));
  counted(list.length);
  document.dispatchEvent(new CustomEvent("refinery:item-shown", { detail: item.id }));
}
