// Value vs effort: the priority suggestions in the queue as points a product owner reads at a glance (business value
// up, effort right, on the Fibonacci scale); each point opens its suggestion. Quadrants as pipelines.prioritization.

import { h } from "./dom.js";

const FIB = [1, 2, 3, 5, 8, 13, 20];
const HIGH = 8; // value or effort of 8 or more is high
const at = (value) => ((FIB.indexOf(value) + 0.5) / FIB.length) * 100; // centre of its step along an axis, in %
const QUADRANTS = [["quick-win", "Quick wins"], ["big-bet", "Big bets"], ["fill-in", "Fill-ins"], ["money-pit", "Money pits"]];

export function valueEffortMatrix(suggestions, open) {
  const scored = suggestions.filter((s) => s.kind === "priority" && FIB.includes(s.payload?.inputs?.effort)
    && FIB.includes(s.payload?.inputs?.business_value));
  // an item estimated by several runs: the latest run's point (ranks of different runs do not mix)
  const latest = new Map();
  for (const s of scored) if (!(latest.get(s.payload.backlog_item_id)?.id > s.id)) latest.set(s.payload.backlog_item_id, s);
  const points = [...latest.values()];
  const older = scored.length - points.length;
  if (!points.length) return null;
  const plot = h("div", { class: "matrix-plot", role: "group", "aria-label": "Value vs effort" },
    QUADRANTS.map(([cls, label]) => h("span", { class: `quadrant ${cls}` }, label)));
  const taken = new Map(); // points on the same spot step aside
  for (const s of points) {
    const { effort, business_value: value } = s.payload.inputs;
    const spot = `${effort}/${value}`;
    const shift = taken.get(spot) || 0;
    taken.set(spot, shift + 1);
    const point = h("button", {
      type: "button", class: `point ${value >= HIGH ? "high-value" : ""}`, dataset: { id: s.id },
      title: `#${s.id} ${s.payload.title}: value ${value}, effort ${effort}, proposed rank ${s.payload.proposed_rank}`,
      "aria-label": `${s.payload.title}: value ${value}, effort ${effort}`, onclick: () => open(s.id),
    }, String(s.payload.proposed_rank ?? "?"));
    point.style.left = `calc(${at(effort)}% + ${shift * 1.6}rem)`; // CSSOM, allowed by the page's style policy
    point.style.bottom = `${at(value)}%`;
    plot.append(point);
  }
  return h("figure", { id: "priority-matrix" },
    h("figcaption", {}, `Value vs effort: ${points.length} priorit${points.length === 1 ? "y" : "ies"} in this queue (the number is the proposed rank; a point opens its suggestion)`
      + (older ? `; ${older} made for the same items by an earlier run ${older === 1 ? "is" : "are"} not shown` : "")),
    h("div", { class: "matrix" }, h("span", { class: "axis y" }, "business value →"), plot,
      h("span", { class: "axis x" }, "effort →")));
}
