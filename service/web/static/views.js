// A view: the Review queue's or the Backlog tab's filters as part of the page's address (`#backlog?label=billing&state=open`),
// so it is bookmarked, reloaded, or sent to someone as a link (in its project: the *Link* beside the filters). The
// address follows each change of a filter without a new history entry; an address with filters sets them.

import { project } from "./api.js";
import { $, linkButton } from "./dom.js";

const FILTERS = {
  review: { kind: "#filter-kind", status: "#filter-status", q: "#filter-q", assigned: "#filter-assignee" },
  backlog: { q: "#backlog-q", type: "#backlog-type", label: "#backlog-label", under: "#backlog-parent", state: "#backlog-state" },
};
const DEFAULTS = { review: { status: "pending" }, backlog: { state: "all" } };
const initial = (tab, name) => DEFAULTS[tab][name] ?? "";

// Sets the tab's filters from an address's query (the part after "?"): those it does not name go back to their
// defaults. A value a select does not offer leaves it at its default.
export function apply(tab, query) {
  if (!FILTERS[tab]) return;
  const params = new URLSearchParams(query);
  for (const [name, id] of Object.entries(FILTERS[tab])) {
    const box = $(id);
    box.value = params.get(name) ?? initial(tab, name);
    if (box.tagName === "SELECT" && box.selectedIndex < 0) box.value = initial(tab, name);
  }
}

// The tab's address as its filters now stand: only those not at their defaults.
export function hashOf(tab) {
  const params = new URLSearchParams();
  for (const [name, id] of Object.entries(FILTERS[tab] || {})) {
    const value = $(id).value.trim();
    if (value !== initial(tab, name)) params.set(name, value);
  }
  const query = params.toString();
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
