// Members (admins, on the Backlog tab): who may use this project and with which role; add one (a new account, or
// someone with an account in another project), change a role, remove one. With accounts off, adding the first
// member (an admin with a password) turns them on: every visitor then signs in.

import { api, whoami } from "./api.js";
import { $, flash, h, table } from "./dom.js";

const ROLES = ["viewer", "reviewer", "admin"];

function roleSelect(user) {
  const select = h("select", { class: "member-role", "aria-label": `Role of ${user.name}` },
    ROLES.map((role) => h("option", { value: role, selected: role === user.role }, role)));
  select.addEventListener("change", () => act(async () => {
    await api(`/v1/users/${encodeURIComponent(user.name)}`, { method: "PUT", json: { role: select.value } });
    return `${user.name} is now ${select.value}.`;
  }));
  return select;
}

export async function load() {
  const users = await api("/v1/users");
  $("#members summary").textContent = `Members (${users.length})`;
  const mail = (u) => (u.email ? `${u.email}${u.email_notifications ? "" : " (mail off)"}` : "");
  $("#members-list").replaceChildren(users.length
    ? table(["Name", "Role", "E-mail", "Desk login", ""], users.map((u) => [u.name, roleSelect(u), mail(u),
      u.has_password ? "yes" : "tokens only",
      u.name === whoami().name ? "" : h("button", { type: "button", class: "remove-member", onclick: () => remove(u) }, "Remove")]))
    : h("p", { class: "hint" }, "Accounts are off: anyone who reaches this desk acts under any name. The first member "
      + "you add (an admin, with a password) turns them on, and every visitor then signs in."));
  $("#member-form [name=role]").value = users.length ? "reviewer" : "admin";
  $("#member-form [name=password]").required = !users.length;  // the first admin must be able to sign in
}

async function act(work) {
  try {
    flash(await work());
  } catch (error) {
    flash(error.message, "error");
  }
  await load().catch((error) => flash(error.message, "error"));
}

function add(event) {
  event.preventDefault();
  const data = new FormData(event.target);
  const json = { name: String(data.get("name")).trim(), role: data.get("role") };
  for (const field of ["email", "password"]) if (String(data.get(field)).trim()) json[field] = String(data.get(field)).trim();
  if (!whoami().auth) return addFirst(json);
  return act(async () => {
    await api("/v1/users", { method: "POST", json });
    event.target.reset();
    return `${json.name} added as ${json.role}.`;
  });
}

// The first member turns accounts on: from the next request on the desk must sign in, so it says so and reloads.
async function addFirst(json) {
  try {
    await api("/v1/users", { method: "POST", json });
  } catch (error) {
    flash(error.message, "error");
    return;
  }
  flash(`${json.name} is the first admin: accounts are on. Sign in as ${json.name}.`);
  setTimeout(() => location.reload(), 2000);
}

const remove = (user) => confirm(`Remove ${user.name} from this project? Their account and other projects stay.`) && act(async () => {
  await api(`/v1/users/${encodeURIComponent(user.name)}`, { method: "DELETE" });
  return `${user.name} removed from this project.`;
});

export function start() {
  $("#member-form").replaceChildren(
    h("input", { name: "name", required: true, maxlength: "100", pattern: "[A-Za-z0-9][A-Za-z0-9._@\\-]*", placeholder: "name", "aria-label": "Member name" }),
    h("select", { name: "role", "aria-label": "Role" }, ROLES.map((role) => h("option", { value: role }, role))),
    h("input", { name: "email", type: "email", maxlength: "320", placeholder: "e-mail (optional)", "aria-label": "E-mail" }),
    h("input", { name: "password", type: "password", minlength: "8", maxlength: "1000", autocomplete: "new-password",
      placeholder: "password for the desk", "aria-label": "Password" }),
    h("button", { type: "submit", id: "member-add" }, "Add member"));
  $("#member-form").addEventListener("submit", add);
  $("#members").addEventListener("toggle", () => { if ($("#members").open) load().catch((e) => flash(e.message, "error")); });
}
