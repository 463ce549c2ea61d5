// The JSON API. With accounts on, the desk's session cookie goes with every request and its CSRF token in
// X-CSRF-Token; with accounts off (a laptop), the reviewer's name goes as X-User so decisions record who made them.

let account = { auth: false, csrf: null, name: null, role: null };

// What GET /v1/auth/me said: whether accounts are on, who is signed in with which role, and the session's CSRF token.
export function useAccount(me) {
  account = { auth: Boolean(me.auth), csrf: me.csrf_token || null, name: me.name || null, role: me.role || null };
}

// Who acts: the signed-in user and their role; with accounts off, the Reviewer name (and no role: everything is open).
export function whoami() {
  return account.auth ? { auth: true, name: account.name, role: account.role } : { auth: false, name: reviewer(), role: null };
}

// The project every request acts on (`?project=`); none: the default project.
export function project() {
  return localStorage.getItem("refinery.project") || "";
}

export function setProject(key) {
  localStorage.setItem("refinery.project", key);
}

// `path` with the chosen project added to its query.
export function inProject(path) {
  if (!project()) return path;
  return `${path}${path.includes("?") ? "&" : "?"}project=${encodeURIComponent(project())}`;
}

export function reviewer() {
  return localStorage.getItem("refinery.user") || "";
}

export function setReviewer(name) {
  localStorage.setItem("refinery.user", name.trim());
}

function describe(detail) {
  if (Array.isArray(detail)) return detail.map((e) => `${(e.loc || []).slice(1).join(".")}: ${e.msg}`).join("; ");
  return typeof detail === "string" ? detail : JSON.stringify(detail);
}

function headersFor(extra = {}) {
  const headers = { ...extra };
  if (account.csrf) headers["X-CSRF-Token"] = account.csrf;
  else if (!account.auth && reviewer()) headers["X-User"] = reviewer();
  return headers;
}

// The reply's JSON; a non-2xx reply throws an Error with the server's `detail`.
async function readReply(response) {
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    if (response.ok) throw new Error(`the server sent something that is not JSON (${response.status})`);
  }
  if (response.status === 401) document.dispatchEvent(new CustomEvent("refinery:signin"));
  if (!response.ok) throw new Error(data?.detail ? describe(data.detail) : `${response.status} ${response.statusText}: ${text.slice(0, 200)}`);
  return data;
}

export async function api(path, { method = "GET", json, form } = {}) {
  const headers = headersFor();
  let body;
  if (json !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  if (form !== undefined) body = form;
  return readReply(await fetch(inProject(path), { method, headers, body }));
}

// A page of a listing: its items and how many match in all (the `X-Total-Count` header, or the count `header` gives).
export async function apiPage(path, header = "X-Total-Count") {
  const response = await fetch(inProject(path), { headers: headersFor() });
  const items = await readReply(response);
  return { items, total: Number(response.headers.get(header) ?? items.length) };
}

// Poll a background job's status URL each second, rendering each status, until it is done, failed or cancelled.
export async function pollJob(url, render) {
  for (;;) {
    const job = await api(url);
    render(job);
    if (["done", "failed", "cancelled"].includes(job.status)) return job;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

// POST `json` asking for server-sent events; `onEvent(name, data)` hears each progress event as it arrives.
// Resolves with the data of the final `done` event; an `error` event or a non-2xx reply throws with its detail.
export async function streamEvents(path, json, onEvent) {
  const headers = headersFor({ "Content-Type": "application/json", Accept: "text/event-stream" });
  const response = await fetch(inProject(path), { method: "POST", headers, body: JSON.stringify(json) });
  if (!response.ok || !(response.headers.get("content-type") || "").startsWith("text/event-stream")) {
    return readReply(response);  // an error, or a server that answered in one piece
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let name = "";
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    buffer += decoder.decode(value, { stream: !done });
    const lines = buffer.split("\n");
    buffer = done ? "" : lines.pop();
    for (const raw of lines) {
      const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
      if (line === "") {  // a blank line ends an event
        if (data.length) {
          const event = name || "message";
          const payload = JSON.parse(data.join("\n"));
          if (event === "done") { reader.cancel().catch(() => {}); return payload; }
          if (event === "error") { reader.cancel().catch(() => {}); throw new Error(describe(payload?.detail ?? payload)); }
          onEvent(event, payload);
        }
        name = "";
        data = [];
      } else if (line.startsWith("event:")) name = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      // other lines (": ping" comments, id:, retry:) are not used here
    }
    if (done) throw new Error("the connection closed before the server was done");
  }
}

// The labels this project's items use, most used first ([{label, items}]): read again after a minute, or when `fresh`.
let labelsRead = { at: 0, key: null, found: null };
export function labelsInUse(fresh = false) {
  const now = Date.now();
  if (!fresh && labelsRead.found && labelsRead.key === project() && now - labelsRead.at < 60_000) return labelsRead.found;
  const found = api("/v1/backlog/labels");
  labelsRead = { at: now, key: project(), found };
  found.catch(() => { labelsRead = { at: 0, key: null, found: null }; });
  return found;
}
