// A view: the Review queue's or the Backlog tab's filters as part of the page's address (`#backlog?label=billing&state=open`),
// so it is bookmarked, reloaded, or sent to someone as a link (in its project: the *Link* beside the filters). The
// address follows each change of a filter without a new history entry; an address with filters sets them.

import { api, project } from "./api.js";
import { $, flash, h, linkButton } from "./dom.js";

const FILTERS = {
  review: { kind: "#filter-kind", status: "#filter-status", q: "#filter-q", assigned: "#filter-assignee" },
  backlog: { q: "#backlog-q", type: "#backlog-type", label: "#backlog-label", under: "#backlog-parent", state: "#backlog-state" },
};
const DEFAULTS = { review: { status: "pending" }, backlog: { state: "all" } };
const initial = (tab, name) => DEFAULTS[tab][name] ?? "";

// Sets the tab's filters from an address's query (the part after "?"): those it does not name go back to their
// defaults. A value a select does not offer leaves it at its default; an empty one is its "all" (as the review
// queue's status was written before it was named "all", like the CLI's and the backlog's).
export function apply(tab, query) {
  if (!FILTERS[tab]) return;
  const params = new URLSearchParams(query);
  for (const [name, id] of Object.entries(FILTERS[tab])) {
    const box = $(id);
    box.value = params.get(name) ?? initial(tab, name);
    if (box.tagName === "SELECT" && box.selectedIndex < 0) box.value = params.get(name) === "" ? "all" : initial(tab, name);
    if (box.tagName === "SELECT" && box.selectedIndex < 0) box.value = initial(tab, name);
  }
}

// The tab's filters as they now stand, as an address writes them: only those not at their defaults.
function queryOf(tab) {
  const params = new URLSearchParams();
  for (const [name, id] of Object.entries(FILTERS[tab] || {})) {
    const value = $(id).value.trim();
    if (value !== initial(tab, name)) params.set(name, value);
  }
  return params.toString();
}

// The tab's address as its filters now stand.
export function hashOf(tab) {
  const query = queryOf(tab);
  return query ? `${tab}?${query}` : tab;
}

// The address follows the tab's filters (replaced, not pushed: Back leaves the tab, not a filter).
export function follow(tab) {
  history.replaceState(null, "", `${location.pathname}${location.search}#${hashOf(tab)}`);
}

// *Link*: copies the address of the view as it now stands, in this project.
export function viewLink(tab) {
  const button = linkButton(() => hashOf(tab), project, "Link to this view");
  button.classList.add("view-link");
  return button;
}

// Saved views (`/v1/views`): the project's named views of a tab, shared with everyone in it. Choosing one opens its
// address; *Save view* names the filters as they stand; *Remove view* removes the one chosen (its author's or an
// admin's to remove: the server says so otherwise).
const lists = {};

export function savedViews(tab) {
  const pick = h("select", { class: "saved-views", "aria-label": "Saved views" });
  const remove = h("button", { type: "button", class: "remove-view", hidden: true }, "Remove view");
  const chosen = () => (lists[tab]?.views || []).find((v) => String(v.id) === pick.value);
  pick.addEventListener("change", () => {
    const view = chosen();
    remove.hidden = !view;
    if (view) location.hash = view.query ? `#${tab}?${view.query}` : `#${tab}`;
  });
  const save = async () => {
    const name = prompt("Name this view (everyone in the project sees it):");
    if (!name?.trim()) return;
    try {
      const view = await api("/v1/views", { method: "POST", json: { name: name.trim(), tab, query: queryOf(tab) } });
      await refresh(tab);
      flash(`View "${view.name}" saved.`);
    } catch (error) {
      flash(error.message, "error");
    }
  };
  remove.addEventListener("click", async () => {
    const view = chosen();
    if (!view || !confirm(`Remove the view "${view.name}" for everyone?`)) return;
    try {
      await api(`/v1/views/${view.id}`, { method: "DELETE" });
      await refresh(tab);
      flash(`View "${view.name}" removed.`);
    } catch (error) {
      flash(error.message, "error");
    }
  });
  lists[tab] = { pick, remove, views: [] };
  refresh(tab).catch(() => {});
  return h("span", { class: "views" }, pick, h("button", { type: "button", class: "save-view", onclick: save }, "Save view"), remove);
}

// The tab's list of saved views read again (the project may have changed, or one was saved), the one whose filters
// are those shown chosen in it.
export async function refresh(tab) {
  const list = lists[tab];
  if (!list) return;
  list.views = await api(`/v1/views?tab=${tab}`).catch(() => []);
  list.pick.replaceChildren(h("option", { value: "" }, list.views.length ? "Saved views…" : "No saved views yet"),
    ...list.views.map((v) => h("option", { value: String(v.id) }, v.name)));
  mark(tab);
}

// A query's filters in one form whatever its order and encoding (the server writes "*" as "%2A", a browser "~" as
// "%7E"), to compare a saved view's with those shown.
const filtersOf = (query) => [...new URLSearchParams(query)].map(([k, v]) => `${k}=${v}`).sort().join("\n");

// Chooses in the list the saved view whose filters are those shown (none: "Saved views…").
export function mark(tab) {
  const list = lists[tab];
  if (!list) return;
  const showing = filtersOf(queryOf(tab));
  const shown = list.views.find((v) => filtersOf(v.query) === showing);
  list.pick.value = shown ? String(shown.id) : "";
  list.remove.hidden = !shown;
}
