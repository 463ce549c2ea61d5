// Views of refinement data, shared by the Refine tab and the review queue: an item's text with the spans its
// findings point at highlighted, the findings, and rewrite, split and estimate suggestions. Text goes in as text.

import { h, table } from "./dom.js";

const words = (value) => String(value ?? "").replace(/_/g, " ");

// The findings' spans as [start, end, finding] ranges of `text`: the first exact occurrence of each (the quality
// check reports the first), in order; a span not found in the text (cut, or edited since) is not highlighted.
function spanRanges(text, findings) {
  const ranges = [];
  for (const finding of findings || []) {
    if (!finding.span) continue;
    const at = text.indexOf(finding.span);
    if (at >= 0) ranges.push([at, at + finding.span.length, finding]);
  }
  return ranges.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
}

function mark(finding, children) {
  return h("mark", { class: `finding ${finding.criterion}`, title: `${words(finding.criterion)}: ${finding.why}`,
    dataset: { criterion: finding.criterion } }, children);
}

// `ranges` cut to [from, to), the empty ones left out, earliest first and the longer first among equal starts.
function clip(ranges, from, to) {
  return ranges.map(([s, e, f]) => [Math.max(s, from), Math.min(e, to), f]).filter(([s, e]) => s < e)
    .sort((a, b) => a[0] - b[0] || b[1] - a[1]);
}

// The nodes of text[start, end) with each range as a <mark>; a range inside another nests in it, one that crosses
// another's end is cut there.
function marked(text, start, end, ranges) {
  const nodes = [];
  let at = start;
  let rest = clip(ranges, start, end);
  while (rest.length) {
    const [s, e, finding] = rest[0];
    if (s > at) nodes.push(text.slice(at, s));
    nodes.push(mark(finding, marked(text, s, e, rest.slice(1))));
    at = e;
    rest = clip(rest.slice(1), at, end);
  }
  if (at < end) nodes.push(text.slice(at, end));
  return nodes;
}

// The item's title and description with every finding's span marked: the spans are exact substrings of
// "title\ndescription", as the quality check read them.
export function highlightedText(item, findings) {
  const title = item.title || "";
  const description = item.description || "";
  const text = `${title}\n${description}`;
  const ranges = spanRanges(text, findings);
  return h("div", { class: "item-text" },
    h("p", { class: "item-text-title" }, marked(text, 0, title.length, ranges)),
    description ? h("p", { class: "item-text-description" }, marked(text, title.length + 1, text.length, ranges)) : "");
}

export function findingsList(findings) {
  if (!findings?.length) return h("p", { class: "hint findings-none" }, "No findings.");
  return h("ul", { class: "findings" }, findings.map((f) => h("li", { dataset: { criterion: f.criterion } },
    h("span", { class: `criterion ${f.criterion}` }, words(f.criterion)),
    " ", f.span ? [h("q", { class: "span" }, f.span), " — "] : "", `${f.why}. `,
    h("span", { class: "fix" }, h("b", {}, "Fix: "), f.fix))));
}

function criteriaList(criteria) {
  return h("ol", { class: "criteria" }, (criteria || []).map((c) => h("li", {},
    h("b", {}, "Given "), c.given, h("b", {}, " when "), c.when, h("b", {}, " then "), c.then)));
}

const statement = (s) => `As a ${s.persona}, I want ${s.goal}, so that ${s.benefit}.`;

// A rewrite's payload: the new story.
export function storyView(p) {
  return h("div", { class: "story" },
    h("h4", { class: "story-title" }, p.title, p.item_type ? [" ", h("span", { class: "kind" }, words(p.item_type))] : ""),
    h("p", { class: "statement" }, statement(p)),
    criteriaList(p.acceptance_criteria),
    p.labels?.length ? h("p", { class: "labels" }, "Labels: ", p.labels.join(", ")) : "",
    p.assumptions?.length ? h("div", { class: "assumptions" }, h("h5", {}, "Assumptions"), h("ul", {}, p.assumptions.map((x) => h("li", {}, x)))) : "",
    p.open_questions?.length ? h("div", { class: "open-questions" }, h("h5", {}, "Open questions"), h("ul", {}, p.open_questions.map((x) => h("li", {}, x)))) : "");
}

// A split's payload: its pattern, its children, and which child covers which of the item's requirements.
export function splitView(p, evidence) {
  const children = p.children || [];
  const required = evidence?.requirements || [];
  const coverage = Object.entries(p.coverage || {}).sort((a, b) => Number(a[0]) - Number(b[0]));
  const covers = (n) => coverage.filter(([, child]) => child === n).map(([req]) => `#${Number(req) + 1}`);
  return h("div", { class: "split" },
    h("p", { class: "pattern" }, "Pattern: ", h("strong", {}, words(p.pattern)), evidence?.why ? ` · split because ${evidence.why}` : ""),
    h("ol", { class: "children" }, children.map((c, n) => h("li", { class: "child" },
      h("strong", { class: "child-title" }, c.title), covers(n).length ? h("span", { class: "hint" }, ` (covers requirement ${covers(n).join(", ")})`) : "",
      h("p", { class: "statement" }, statement(c)), criteriaList(c.acceptance_criteria)))),
    coverage.length ? [h("h5", {}, "Coverage"), table(["Requirement", "Child"], coverage.map(([req, child]) => [
      `#${Number(req) + 1}${required[Number(req)] ? ` ${required[Number(req)]}` : ""}`,
      children[child] ? `${child + 1}. ${children[child].title}` : `child ${child + 1}`]))] : "");
}

// An estimate's payload: the points, why, and the comparable items that voted.
export function estimateView(p) {
  const comparables = p.comparables || [];
  return h("div", { class: "estimate" },
    h("p", {}, h("strong", { class: "points" }, `${p.points} points`), ` · ${p.method === "model" ? "the model alone" : "from comparable items"}`),
    h("p", { class: "rationale" }, p.rationale),
    comparables.length ? table(["Comparable item", "Points", "Score"], comparables.map((c) => [
      `#${c.item_id} ${c.title}`, String(c.points), Number(c.score).toFixed(2)])) : "");
}

// The view of a refinement suggestion's payload, or null for other kinds.
export function refinementView(s) {
  const p = s.payload || {};
  if (s.kind === "rewrite") return storyView(p);
  if (s.kind === "split") return splitView(p, s.evidence);
  if (s.kind === "estimate") return estimateView(p);
  return null;
}
