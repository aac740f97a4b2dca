// Building the side panel's forms: fields, an attribute editor, and API errors shown
// next to the field the API names (`error.field`), or above the button otherwise.

import { el } from "./dom.js";

const ATTRIBUTE_TYPES = ["String", "Number", "String.Array", "Binary"];
const MAX_ATTRIBUTES = 10;
let serial = 0;

/**
 * A labelled field; `name` is the API's field name, so errors find their place.
 * Select options are [value, text] or [value, text, {disabled: true}] (shown, not choosable).
 */
export function field(label, name, { type = "text", value = "", help, options, rows, min, max, step, placeholder } = {}) {
  const id = `f${++serial}-${name}`;
  let input;
  if (type === "textarea") input = el("textarea", { id, name, rows: rows || 3, placeholder });
  else if (type === "select") input = el("select", { id, name }, selectOptions(options));
  else input = el("input", { id, name, type, min, max, step, placeholder });
  if (type === "checkbox") input.checked = Boolean(value);
  else if (type !== "select" || value) input.value = value ?? "";
  const wrap = el("div", { class: `field field-${type}`, dataset: { field: name } });
  if (type === "checkbox") wrap.append(el("label", { for: id }, input, ` ${label}`));
  else wrap.append(el("label", { for: id, text: label }), input);
  if (help) {
    const helpId = `${id}-help`;
    wrap.append(el("span", { class: "helptext", id: helpId, text: help }));
    input.setAttribute("aria-describedby", helpId);
  }
  wrap.append(el("p", { class: "field-error", role: "alert", hidden: true }));
  return wrap;
}

/** <option>s from [value, text, {disabled}] entries. */
export function selectOptions(options) {
  return options.map(([v, t, { disabled = false } = {}]) => el("option", { value: v, text: t, disabled }));
}

/** Rows of name / type / value; `values()` gives the API's attribute list. */
export function attributeEditor() {
  const rows = el("div", { class: "attr-rows" });
  const addRow = () => {
    if (rows.childElementCount >= MAX_ATTRIBUTES) return;
    const remove = el("button", { type: "button", class: "link", title: "remove", "aria-label": "remove attribute", text: "×" });
    const row = el("div", { class: "attr-row" },
      el("input", { name: "attr-name", placeholder: "name", "aria-label": "attribute name" }),
      el("select", { name: "attr-type", "aria-label": "attribute type" }, ATTRIBUTE_TYPES.map((t) => el("option", { value: t, text: t }))),
      el("input", { name: "attr-value", placeholder: "value", "aria-label": "attribute value" }),
      remove,
    );
    remove.addEventListener("click", () => row.remove());
    rows.append(row);
  };
  const wrap = el("div", { class: "field attributes", dataset: { field: "attributes" } },
    el("span", { class: "label", text: "Message attributes" }), rows,
    el("button", { type: "button", class: "link", text: "+ attribute", on: { click: addRow } }),
    el("p", { class: "field-error", role: "alert", hidden: true }),
  );
  addRow();
  wrap.values = () => [...rows.children]
    .map((row) => ({
      name: row.querySelector("[name=attr-name]").value.trim(),
      type: row.querySelector("[name=attr-type]").value,
      value: row.querySelector("[name=attr-value]").value,
    }))
    .filter((a) => a.name);
  return wrap;
}

/**
 * A form whose submit runs `action(values, form)`; values are read from named inputs.
 * `action` returns an API result; errors land next to their field, `ok(data)` runs on success.
 */
export function apiForm({ id, title, children, submit, action, ok, className = "" }) {
  const button = el("button", { type: "submit", text: submit });
  const message = el("p", { class: "form-error", role: "alert", hidden: true });
  const done = el("p", { class: "form-ok", role: "status", hidden: true });
  const form = el("form", { id, class: `panel-form ${className}`, novalidate: true },
    title ? el("h3", { text: title }) : null, children, message, el("div", { class: "form-actions" }, button), done);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    done.hidden = true;
    button.disabled = true;
    try {
      const result = await action(values(form), form);
      if (!result) return;
      if (result.ok) {
        const text = ok?.(result.data, form);
        if (text) {
          done.replaceChildren(...(Array.isArray(text) ? text : [text]));
          done.hidden = false;
        }
      } else showError(form, result.error);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

export function values(form) {
  const out = {};
  for (const input of form.querySelectorAll("input[name], textarea[name], select[name]")) {
    if (input.name.startsWith("attr-")) continue;
    if (input.type === "checkbox") out[input.name] = input.checked;
    else out[input.name] = input.value;
  }
  const attrs = form.querySelector(".attributes");
  if (attrs) out.attributes = attrs.values();
  return out;
}

export function clearErrors(form) {
  for (const p of form.querySelectorAll(".field-error, .form-error")) {
    p.textContent = "";
    p.hidden = true;
  }
  for (const f of form.querySelectorAll(".field.invalid")) f.classList.remove("invalid");
}

export function showError(form, error) {
  const wrap = error.field ? form.querySelector(`[data-field="${CSS.escape(error.field)}"]`) : null;
  const target = wrap ? wrap.querySelector(".field-error") : form.querySelector(".form-error");
  target.textContent = error.message;
  target.hidden = false;
  if (wrap) {
    wrap.classList.add("invalid");
    wrap.querySelector("input, textarea, select")?.focus();
  }
}

/** "" -> null, "12" -> 12; anything else is passed on for the API to reject by field. */
export function number(value) {
  if (value === "" || value === undefined) return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : value;
}

export function orNull(value) {
  return value === "" ? null : value;
}
