// How reviewers answered this project's suggestions (on the Review tab): per kind, per model and prompt version, per
// reviewer, over the window chosen. Loaded when opened and again when the window changes.

import { api } from "./api.js";
import { $, flash, h, table } from "./dom.js";

const share = (x) => (x === null ? "-" : `${Math.round(x * 100)}%`);

export async function load() {
  const days = $("#insights-days").value;
  const seen = await api(`/v1/suggestions/insights${days ? `?days=${days}` : ""}`);
  if (!seen.kinds.length) {
    $("#insights-body").replaceChildren(h("p", { class: "hint" }, days ? `No suggestions made in the last ${days} days.` : "No suggestions yet."));
    return;
  }
  const reasons = (k) => k.rejection_reasons.map((r) => `${r.reason} (${r.count})`).join("; ") || "-";
  const weeks = (k) => h("span", { class: "weeks" }, k.weeks.map((w) => h("span", { class: "week", title: `week of ${w.week}: ${w.accepted} accepted, ${w.rejected} rejected` },
    h("span", { class: "week-bar", style: `height: ${Math.round(100 * (w.acceptance_rate ?? 0))}%` }))));
  $("#insights-body").replaceChildren(
    table(["Kind", "Made", "Pending", "Failed", "Accepted", "of them edited", "Rejected", "Undone", "Accepted share", "by week made", "Median hours to decide", "Reasons most given"],
      seen.kinds.map((k) => [k.kind, String(k.made), String(k.pending), String(k.failed), String(k.accepted), String(k.accepted_with_edits),
        String(k.rejected), String(k.undone), share(k.acceptance_rate), weeks(k), k.median_hours_to_decision ?? "-", reasons(k)])),
    h("h4", {}, "By model and prompt version"),
    table(["Kind", "Provider", "Model", "Prompt", "Made", "Failed", "Decided", "Accepted share"],
      seen.sources.map((s) => [s.kind, s.provider, s.model, s.prompt_version, String(s.made), String(s.failed), String(s.decided), share(s.acceptance_rate)])),
    h("h4", {}, "By reviewer"),
    seen.reviewers.length ? table(["Reviewer", "Accepted", "Rejected"], seen.reviewers.map((r) => [r.name || "(no name)", String(r.accepted), String(r.rejected)]))
      : h("p", { class: "hint" }, "No decision yet."));
}

export function start() {
  const reload = () => { if ($("#insights").open) load().catch((e) => flash(e.message, "error")); };
  $("#insights").addEventListener("toggle", reload);
  $("#insights-days").addEventListener("change", reload);
}
