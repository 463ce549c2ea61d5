// Building DOM nodes safely: text always goes in as text, never as HTML (ticket text is untrusted).

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

let flashTimer;
export function flash(message, kind = "info") {
  const box = $("#flash");
  box.textContent = message;
  box.className = kind;
  box.setAttribute("role", kind === "error" ? "alert" : "status");
  clearTimeout(flashTimer);
  if (kind !== "error") flashTimer = setTimeout(() => { box.textContent = ""; box.className = ""; }, 6000);
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

export function table(headers, rows) {
  return h("table", {}, h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, row.map((cell) => h("td", {}, cell))))));
}
