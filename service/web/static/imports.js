// Imports run as background jobs (a file on the Backlog tab, a pull of the tracker's issues): their phase and counts
// while they run, then what came of them, said the same way for both.

import { pollJob } from "./api.js";
import { cancelButton, flash, h, when } from "./dom.js";

const PHASES = { reading: "reading the tracker's issues", importing: "importing", indexing: "embedding for the duplicate check" };

// What a pull read: the issues changed since its `since`, or every issue; nothing for a file.
function scope(job) {
  if (job.since === undefined) return "";
  return job.since ? ` (the issues changed there since ${when(job.since)})` : " (every issue)";
}

function importView(job, kind) {
  const reading = job.phase === "reading";
  return h("div", { class: `job ${job.status}` },
    h("p", {}, `Importing ${job.source}${scope(job)}: `, h("strong", { class: "job-status" }, job.status === "running" ? PHASES[job.phase] : job.status),
      reading ? ` · ${job.processed} issues read` : ` · ${job.processed} of ${job.total}`,
      job.eta_s ? ` · about ${Math.round(job.eta_s)} s left` : "", " ", cancelButton(kind, job)),
    reading ? "" : h("progress", { max: String(job.total), value: String(job.processed) }),
    job.errors.length ? h("ul", { class: "warnings" }, job.errors.map((e) => h("li", {}, e))) : "");
}

// Show the import job at `statusUrl` in `place` until it ends, then flash what came of it; throws why it failed.
export async function followImport(statusUrl, place, kind) {
  const job = await pollJob(statusUrl, (j) => place.replaceChildren(importView(j, kind)));
  if (job.status !== "done") throw new Error(job.errors.join("; ") || `The import was ${job.status}.`);
  place.replaceChildren();
  const kept = job.updates.filter((u) => u.kept.length);
  const conflicts = kept.length ? ` Kept as here, changed both here and in the tracker: ${kept.slice(0, 3).map((u) => `${u.external_id} (${u.kept.join(", ")})`).join("; ")}.` : "";
  const problems = job.problems.length ? ` ${job.problems.length} skipped or cut: ${job.problems.slice(0, 3).join("; ")}` : "";
  if (job.dry_run) {
    const changes = job.updates.filter((u) => u.changed.length).slice(0, 3).map((u) => `${u.external_id} (${u.changed.join(", ")})`);
    flash(`Dry run, nothing written: would import ${job.created}, update ${job.updated} from the tracker${changes.length ? ` (${changes.join("; ")})` : ""}, leave ${job.unchanged} unchanged${scope(job)}.${conflicts}${problems}`);
    return job;
  }
  flash(`${job.created} imported, ${job.updated} updated from the tracker, ${job.unchanged} already in the backlog${scope(job)}.${conflicts}${problems}`);
  return job;
}
