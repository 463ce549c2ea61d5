// Building DOM nodes safely: text always goes in as text, never as HTML (ticket text is untrusted).

import { api } from "./api.js";

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);

// Wrap an async loader so that only its latest call's reply counts: a reload started before a filter changed can
// answer after the one started after it, and must not overwrite it. A superseded call resolves to SUPERSEDED;
// `pending` is true while the latest call runs (what is shown is about to change), whatever older ones still do.
export const SUPERSEDED = Symbol("superseded");
export function latestOnly(load) {
  let calls = 0;
  let last = Promise.resolve();
  const latest = (...args) => {
    const call = ++calls;
    latest.pending = true;
    last = (async () => {
      try {
        const reply = await load(...args);
        return call === calls ? reply : SUPERSEDED;
      } finally {
        if (call === calls) latest.pending = false;
      }
    })();
    return last;
  };
  latest.pending = false;
  // Resolves once no call is out, after the callers awaiting the latest one have drawn its reply.
  latest.settled = async () => { while (latest.pending) await last.catch(() => {}); };
  return latest;
}

let flashTimer;
// A message for a few seconds (an error stays); `action`, an element such as an Undo button, follows it.
export function flash(message, kind = "info", action = null) {
  const box = $("#flash");
  box.replaceChildren(message, ...(action ? [" ", action] : []));
  box.className = kind;
  box.setAttribute("role", kind === "error" ? "alert" : "status");
  clearTimeout(flashTimer);
  if (kind !== "error") flashTimer = setTimeout(() => { box.textContent = ""; box.className = ""; }, 6000);
}

// Run `work` (an API call making a decision) one at a time; `then` (reload what changed) gets and may amend the
// message `work` returned, which is flashed (with `action` after it, such as an Undo button); an error in either is
// flashed as an error.
export async function oneAtATime(state, work, then, action = null) {
  if (state.busy) { flash("Wait for the last action to finish.", "info"); return; }
  state.busy = true;
  document.body.classList.add("busy");
  try {
    flash(await then(await work()), "info", action);
  } catch (error) {
    flash(error.message, "error");
  } finally {
    state.busy = false;
    document.body.classList.remove("busy");
  }
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

export function table(headers, rows) {
  return h("table", {}, h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, row.map((cell) => h("td", {}, cell))))));
}

// A Cancel button for a queued or running job of `kind` (ingest, prioritize, refine, conversation); nothing for a
// finished one. A running job stops at its next piece; the poll that shows the job sees it cancelled.
export function cancelButton(kind, job) {
  if (job.status !== "queued" && job.status !== "running") return "";
  const button = h("button", { type: "button", class: "cancel-job", title: "Stop this job; what it made so far is kept" }, "Cancel");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const cancelled = await api(`/v1/jobs/${job.id}/cancel?kind=${kind}`, { method: "POST" });
      flash(`Job #${job.id} ${cancelled.status}: ${cancelled.errors.at(-1)}`);
    } catch (error) {
      button.disabled = false;
      flash(error.message, "error");
    }
  });
  return button;
}

// Text as nodes, each web address in it (http or https) a link that opens in a new tab; a closing bracket or a
// sentence's last punctuation after an address is left out of it. `rest(piece)` turns the text between addresses into
// nodes (default: as it is).
const ADDRESS = /\bhttps?:\/\/[^\s<>"'`]+/g;
export function withLinks(said, rest = (piece) => [piece]) {
  const text = String(said ?? "");
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(ADDRESS)) {
    let url = match[0].replace(/[.,;:!?'"\]]+$/, "");
    const count = (mark) => url.split(mark).length - 1;
    while (url.endsWith(")") && count("(") < count(")")) url = url.slice(0, -1).replace(/[.,;:!?'"\]]+$/, "");
    parts.push(...rest(text.slice(last, match.index)), h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, url));
    last = match.index + url.length;
  }
  parts.push(...rest(text.slice(last)));
  return parts;
}

// A description's light Markdown as nodes: **bold** in bold, and a task list's boxes ("- [ ]", "* [x]") as ☐ and ☑;
// the rest as written (drafted stories are stored as Markdown; the desk shows them as read, not as typed).
const BOLD = /\*\*([^*\n]+?)\*\*/g;
export function lightMarkdown(piece) {
  const text = String(piece ?? "").replace(/^(\s*)[-*] \[ \] /gm, "$1☐ ").replace(/^(\s*)[-*] \[[xX]\] /gm, "$1☑ ");
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(BOLD)) {
    nodes.push(text.slice(last, match.index), h("strong", {}, match[1]));
    last = match.index + match[0].length;
  }
  nodes.push(text.slice(last));
  return nodes.filter((node) => node !== "");
}

// A "Link" button: copies the desk's address of `hash` (`review/12`, `backlog/3`) in the chosen project, the address a
// mailed inbox line uses, to paste in a chat; the flash shows it too (where the clipboard is not allowed).
export function linkButton(hash, project, label = "Link") {
  const copy = async () => {
    const where = typeof hash === "function" ? hash() : hash;  // a view's: as it stands when clicked
    const key = typeof project === "function" ? project() : project;
    const url = `${location.origin}/?project=${encodeURIComponent(key || "default")}#${where}`;
    const copied = await navigator.clipboard?.writeText(url).then(() => true, () => false);
    flash(`${copied ? "Link copied" : "Link"}: ${url}`);
  };
  return h("button", { type: "button", class: "copy-link", title: "Copy a link to this for a chat or an e-mail", onclick: copy }, label);
}
