// Views of refinement data, shared by the Refine tab and the review queue: an item's text with the spans its
// findings point at highlighted, the findings, and rewrite, split, estimate and labels suggestions. Text goes in as text.

import { h, lightMarkdown, table } from "./dom.js";

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
    if (s > at) nodes.push(...lightMarkdown(text.slice(at, s)));
    nodes.push(mark(finding, marked(text, s, e, rest.slice(1))));
    at = e;
    rest = clip(rest.slice(1), at, end);
  }
  if (at < end) nodes.push(...lightMarkdown(text.slice(at, end)));
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

// An estimate's payload: the points, why, the comparable items that voted, and, when the team's word classifier
// joined them, the points the team's own estimates give words like these (evidence.team_words), and what the
// team's fine-tuned model said (evidence.team_model).
export function estimateView(p, evidence) {
  const comparables = p.comparables || [];
  const team = evidence?.team_words;
  return h("div", { class: "estimate" },
    h("p", {}, h("strong", { class: "points" }, `${p.points} points`), likelyRange(p),
      ` · ${p.method === "model" ? "the model alone" : "from comparable items"}`),
    pointsChoice(p.points),
    h("p", { class: "rationale" }, p.rationale),
    comparables.length ? table(["Comparable item", "Points", "Score"], comparables.map((c) => [
      `#${c.item_id} ${c.title}`, String(c.points), Number(c.score).toFixed(2)])) : "",
    team?.likely?.length ? h("p", { class: "team-words" }, `Team's words (learned from ${team.items} items with points): `,
      team.likely.map((l) => `${l.points} (${Math.round(Number(l.p) * 100)}%)`).join(", ")) : "",
    teamModelNote(evidence),
    threadPoints(evidence?.thread_points));
}

const SCALE = [1, 2, 3, 5, 8, 13, 20, 40, 100];  // pipelines.estimate.SCALE

// An estimate's likely range (payload low and high), when it spans more than its points.
function likelyRange(p) {
  if (p.low == null || p.high == null || p.low === p.high) return "";
  return h("span", { class: "likely", title: LIKELY_SAID }, ` (likely ${p.low}-${p.high})`);
}
const LIKELY_SAID = "The middle of the vote of the comparable items, the team median and the team's words (its 20th to "
  + "80th percentile). On other teams' data (README: estimate range) such a range held the points the team gave for "
  + "about 8 items in 10.";

// The points accepting sets: the suggested ones, or another value on the scale the team settles on instead.
function pointsChoice(points) {
  const values = SCALE.includes(Number(points)) ? SCALE : [...SCALE, Number(points)].sort((a, b) => a - b);
  return h("label", { class: "points-choice-label" }, "Accept with ",
    h("select", { class: "points-choice", dataset: { suggested: String(points) } },
      values.map((v) => h("option", { value: String(v), selected: v === Number(points) }, String(v)))),
    " points");
}

// The points a reviewer chose in an estimate's view under `root`, as the accept request's `points`; null when they
// are the suggested ones (accepted as made).
export function chosenPoints(root) {
  const choice = root?.querySelector(".points-choice");
  if (!choice || choice.value === choice.dataset.suggested) return null;
  return Number(choice.value);
}

// The choices made in a suggestion's view under `root` (an estimate's points, a labels suggestion's boxes), to be
// put back with `restoreChoices` when the same suggestion is drawn again (a queue reload must not undo them).
export function keptChoices(root) {
  return {
    points: root.querySelector(".points-choice")?.value,
    labels: [...root.querySelectorAll(".label-choice")].map((b) => [b.dataset.label, b.checked]),
  };
}

export function restoreChoices(root, kept) {
  const choice = root.querySelector(".points-choice");
  if (choice && kept.points !== undefined) choice.value = kept.points;
  const checked = new Map(kept.labels);
  for (const box of root.querySelectorAll(".label-choice")) {
    if (checked.has(box.dataset.label)) box.checked = checked.get(box.dataset.label);
  }
}

// The points the item's comments stated (evidence.thread_points), by whom: what the team said, beside the estimate.
function threadPoints(said) {
  if (!said?.length) return "";
  return h("p", { class: "thread-points" }, "The item's comments say: ",
    said.map((s) => `${s.points} points (${s.author || "someone"})`).join(", "), ".");
}

// What the team's fine-tuned points model said (evidence.team_model), that it is being fitted, or that it is left out
// (it learned from this item's own points).
function teamModelNote(evidence) {
  const said = evidence?.team_model;
  if (said) {
    return h("p", { class: "team-model" }, `Team's own model (fine-tuned on ${said.items} items with points): ` +
      `${Number(said.points).toFixed(1)} points; the comparables said ${said.rule_points}; the estimate is their geometric mean.`);
  }
  if (evidence?.team_model_left_out) {
    return h("p", { class: "team-model hint" }, "The team's own model is left out: it learned from this item's own points.");
  }
  return evidence?.team_model_fitting ? h("p", { class: "team-model hint" },
    "The team's own model is being fitted on its items with points; estimates made after it ends take it into account.") : "";
}

// A labels suggestion's payload: each label with a box (ticked: added on accept), its share of the comparables' vote
// and how many carry it, why, and the comparable items with their labels.
export function labelsView(p) {
  const comparables = p.comparables || [];
  return h("div", { class: "labels-view" },
    h("ul", { class: "label-choices" }, (p.shares || []).map((v) => h("li", {},
      h("label", {}, h("input", { type: "checkbox", class: "label-choice", checked: true, dataset: { label: v.label } }),
        " ", h("strong", { class: "label" }, v.label),
        h("span", { class: "hint" }, ` · ${Math.round(Number(v.share) * 100)}% of the vote, on ${v.items.length} of the ${comparables.length} comparable items`))))),
    h("p", { class: "rationale" }, p.rationale),
    comparables.length ? table(["Comparable item", "Labels", "Score"], comparables.map((c) => [
      `#${c.item_id} ${c.title}`, (c.labels || []).join(", "), Number(c.score).toFixed(2)])) : "");
}

// The labels a reviewer kept ticked in a labels suggestion's view under `root`, as the accept request's edits; null
// when every one is (accepted as made).
export function keptLabels(root) {
  const boxes = [...(root?.querySelectorAll(".label-choice") || [])];
  const kept = boxes.filter((b) => b.checked).map((b) => b.dataset.label);
  return kept.length === boxes.length ? null : { labels: kept };
}

// How many of the item's comments a rewrite or split read (what the thread settled goes into it).
function readComments(input) {
  const n = input?.comment_ids?.length || 0;
  return n ? h("p", { class: "read-comments hint" }, `Made with the item's ${n} comment${n === 1 ? "" : "s"}.`) : "";
}

// The view of a refinement suggestion's payload, or null for other kinds.
export function refinementView(s) {
  const p = s.payload || {};
  if (s.kind === "rewrite") return h("div", {}, storyView(p), readComments(s.input));
  if (s.kind === "split") return h("div", {}, splitView(p, s.evidence), readComments(s.input));
  if (s.kind === "estimate") return estimateView(p, s.evidence);
  if (s.kind === "labels") return labelsView(p);
  return null;
}

// --- suggestions from a conversation (a meeting transcript or a Slack channel) ------------------------------

// The lines a note rests on, each as Speaker (line N): "words"; N is the transcript line the words are on (the
// numbering the meeting's transcript view and the backlog item's history use).
export function quotesList(quotes) {
  if (!quotes?.length) return "";
  return h("ul", { class: "quotes turn-quotes" }, quotes.map((q) => h("li", { dataset: { turn: q.turn } },
    h("span", { class: "speaker" }, q.speaker || "someone"), ` (line ${q.turn}): `, h("span", { class: "said" }, `"${q.text}"`))));
}

// Whether quotes were said in a conversation (speaker and line) rather than written in tickets.
export const saidQuotes = (quotes) => Boolean(quotes?.length) && quotes.every((q) => q && typeof q === "object" && "turn" in q);

export const CHANGES = { criteria: "new acceptance criterion", question_answered: "question answered",
  scope_cut: "scope cut", scope_added: "scope added", priority: "priority" };

// A conversation's priority signal: a priority suggestion without a framework, the level proposed and why.
export const prioritySignal = (s) => s.kind === "priority" && s.payload?.source === "conversation";

function item(p) {
  return h("span", { class: "item" }, h("strong", { class: "item-ref" }, `#${p.backlog_item_id}`),
    p.item_title ? [" ", h("q", { class: "item-title" }, p.item_title)] : "");
}

// The view of a conversation suggestion's payload (decision, action item, change to an item, priority signal) with
// its quotes, or null for other kinds.
export function conversationView(s) {
  const p = s.payload || {};
  if (s.kind === "decision") {
    return h("div", { class: "note decision" },
      h("p", { class: "note-text" }, h("b", {}, "Decided: "), p.decision),
      p.decided_by ? h("p", { class: "decided-by" }, `by ${p.decided_by}`) : "",
      quotesList(p.quotes));
  }
  if (s.kind === "action_item") {
    return h("div", { class: "note action-item" },
      h("p", { class: "note-text" }, h("b", {}, "To do: "), p.task),
      h("p", { class: "owner" }, `Owner: ${p.owner || "not said"} · due: ${p.due || "not said"}`),
      quotesList(p.quotes));
  }
  if (s.kind === "item_change") {
    return h("div", { class: "note item-change" },
      h("p", {}, "Change to ", item(p), ": ", h("span", { class: "change" }, CHANGES[p.change] || words(p.change))),
      h("p", { class: "note-text detail" }, p.detail),
      quotesList(p.quotes),
      h("p", { class: "hint" }, "Accepting appends this to the item's description, with the lines it came from."));
  }
  if (prioritySignal(s)) {
    return h("div", { class: "note priority-signal" },
      h("p", {}, "Priority of ", item(p), ": ", h("span", { class: "current" }, p.current_priority || "none"), " → ",
        h("strong", { class: "proposed-priority" }, p.proposed_priority)),
      h("p", { class: "rationale" }, h("b", {}, "Why: "), p.rationale || p.detail),
      quotesList(p.quotes));
  }
  return null;
}
