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
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) throw new Error(data && data.detail ? describe(data.detail) : `${response.status} ${response.statusText}`);
  return data;
}
