// Webhooks (admins, on the Backlog tab): the project's review events POSTed to URLs; add, test, see deliveries, remove.

import { api } from "./api.js";
import { $, flash, h, table, when } from "./dom.js";

const EVENTS = ["suggestion.created", "suggestion.accepted", "suggestion.rejected", "suggestion.reopened", "suggestion.assigned", "comment.created", "comment.updated", "item.created", "item.updated", "notification.created", "job.finished"];

export async function load() {
  const hooks = await api("/v1/webhooks");
  $("#webhooks summary").textContent = `Webhooks (${hooks.length})`;
  const last = (d) => d ? `${d.event}: ${d.status}${d.status_code ? ` (${d.status_code})` : ""}${d.error ? `: ${d.error}` : ""}` : "none yet";
  $("#webhooks-list").replaceChildren(hooks.length ? table(["URL", "Events", "Delivered / pending / failed", "Last delivery", ""],
    hooks.map((hook) => [h("code", {}, hook.url), hook.events.join(", "),
      `${hook.deliveries.delivered} / ${hook.deliveries.pending} / ${hook.deliveries.failed}`, last(hook.last_delivery),
      h("span", {},
        h("button", { type: "button", class: "ping-webhook", onclick: () => ping(hook) }, "Ping"),
        h("button", { type: "button", class: "show-deliveries", onclick: () => deliveries(hook) }, "Deliveries"),
        h("button", { type: "button", class: "remove-webhook", onclick: () => remove(hook) }, "Remove"))])) : h("p", { class: "hint" }, "No webhook yet."));
}

async function act(work) {
  try {
    flash(await work());
    await load();
  } catch (error) {
    flash(error.message, "error");
  }
}

function add(event) {
  event.preventDefault();
  const data = new FormData(event.target);
  const json = { url: String(data.get("url")).trim(), events: data.getAll("events") };
  return act(async () => {
    const made = await api("/v1/webhooks", { method: "POST", json });
    event.target.reset();
    $("#webhook-secret").replaceChildren(`Webhook ${made.id} added. Its signing secret, shown only now: `, h("code", {}, made.secret));
    return `Webhook ${made.id} added: ${made.events.length} events to ${made.url}.`;
  });
}

const ping = (hook) => act(async () => {
  const sent = await api(`/v1/webhooks/${hook.id}/ping`, { method: "POST" });
  if (sent.status !== "delivered") throw new Error(`The ping was not delivered: ${sent.error}`);
  return `Ping delivered: the receiver answered ${sent.status_code}.`;
});

const remove = (hook) => confirm(`Stop sending events to ${hook.url}?`) && act(async () => {
  await api(`/v1/webhooks/${hook.id}`, { method: "DELETE" });
  return `Webhook ${hook.id} removed.`;
});

async function deliveries(hook) {
  try {
    const list = await api(`/v1/webhooks/${hook.id}/deliveries?limit=20`);
    const again = (d) => h("button", { type: "button", class: "redeliver", onclick: () => act(async () => {
      const sent = await api(`/v1/webhooks/${hook.id}/deliveries/${d.id}/redeliver`, { method: "POST" });
      await deliveries(hook);
      return sent.status === "delivered" ? `Delivery ${d.id} sent again.` : `Delivery ${d.id} failed again: ${sent.error}`;
    }) }, "Send again");
    $("#webhook-deliveries").replaceChildren(h("h4", {}, `Latest deliveries to ${hook.url}`),
      table(["#", "Event", "Status", "Attempts", "Answer", "Error", "At", ""],
        list.map((d) => [String(d.id), d.event, d.status, String(d.attempts), d.status_code ? String(d.status_code) : "", d.error || "", when(d.created_at), d.status === "pending" ? "" : again(d)])));
  } catch (error) {
    flash(error.message, "error");
  }
}

export function start() {
  $("#webhook-form").replaceChildren(
    h("input", { name: "url", type: "url", required: true, maxlength: "2000", placeholder: "https://hooks.example.com/refinery", "aria-label": "Webhook URL" }),
    ...EVENTS.map((e) => h("label", {}, h("input", { type: "checkbox", name: "events", value: e, checked: true }), ` ${e}`)),
    h("button", { type: "submit", id: "webhook-add" }, "Add webhook"));
  $("#webhook-form").addEventListener("submit", add);
  $("#webhooks").addEventListener("toggle", () => { if ($("#webhooks").open) load().catch((e) => flash(e.message, "error")); });
}
