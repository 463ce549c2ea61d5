// The JSON API, with the reviewer's name sent as X-User so decisions record who made them.

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

export async function api(path, { method = "GET", json, form } = {}) {
  const headers = {};
  if (reviewer()) headers["X-User"] = reviewer();
  let body;
  if (json !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  if (form !== undefined) body = form;
  const response = await fetch(path, { method, headers, body });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    if (response.ok) throw new Error(`the server sent something that is not JSON (${response.status})`);
  }
  if (!response.ok) throw new Error(data?.detail ? describe(data.detail) : `${response.status} ${response.statusText}: ${text.slice(0, 200)}`);
  return data;
}
