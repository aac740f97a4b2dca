// Small progressive enhancements for the resource forms. Pages work without them.

/** Empty rows beyond the first wait hidden until "+ attribute" asks for one: three empty
 * rows on every send form pushed the rest of the page down. Rows with text or errors stay. */
function hideSpareRows(fieldset) {
  const rows = [...fieldset.querySelectorAll(".attr-row")];
  for (const row of rows.slice(1)) {
    const empty = [...row.querySelectorAll("input")].every((input) => input.value === "");
    if (empty && !row.querySelector(".errorlist")) row.hidden = true;
  }
}

function addAttributeRow(fieldset) {
  const spare = fieldset.querySelector(".attr-row[hidden]");
  if (spare) {
    spare.hidden = false;
    spare.querySelector("input")?.focus();
    return;
  }
  const prefix = fieldset.dataset.formset;
  const total = fieldset.querySelector(`input[name="${prefix}-TOTAL_FORMS"]`);
  const max = Number(fieldset.querySelector(`input[name="${prefix}-MAX_NUM_FORMS"]`).value);
  const count = Number(total.value);
  if (count >= max) return;
  const rows = fieldset.querySelector(".attr-rows");
  const row = rows.querySelector(".attr-row").cloneNode(true);
  row.querySelectorAll(".errorlist").forEach((el) => el.remove());
  row.querySelectorAll("input, select").forEach((input) => {
    input.name = input.name.replace(/-\d+-/, `-${count}-`);
    if (input.tagName === "INPUT") input.value = "";
  });
  rows.appendChild(row);
  total.value = String(count + 1);
  row.querySelector("input")?.focus();
}

function toggleEndpoint(form) {
  const protocol = form.querySelector('select[name="protocol"]');
  if (!protocol) return;
  const queue = form.querySelector('[name="queue_arn"]')?.closest("div");
  const endpoint = form.querySelector('[name="endpoint"]')?.closest("div");
  const update = () => {
    const sqs = protocol.value === "sqs";
    if (queue) queue.hidden = !sqs;
    if (endpoint) endpoint.hidden = sqs;
  };
  protocol.addEventListener("change", update);
  update();
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-add-row]");
  if (button) addAttributeRow(button.closest("fieldset"));
});

document.addEventListener("submit", (event) => {
  const message = event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});

document.querySelectorAll("#subscribe-form").forEach(toggleEndpoint);
document.querySelectorAll("fieldset[data-formset]").forEach(hideSpareRows);
