// Who joined, and what each participant did: the presenter's participant list. Names are
// text (textContent), never HTML.

import { el } from "../dom.js";

/**
 * @param {HTMLElement} list  the .people-list
 * @param {object[]} participants  rows from GET /api/classroom/sessions/{code}
 * @param {(p: object) => void} remove
 * @param {(name: string) => string} shortName  a queue's name as the class sees it
 *   ("payments", not the scenario's internal "sc-dlq-payments")
 */
export function peopleRender(list, participants, remove, shortName = (name) => name) {
  const key = JSON.stringify(participants.map((p) => [p.id, p.name, p.working, p.published, p.processed, p.failed]));
  if (list.dataset.key === key) return; // unchanged: keep the buttons where they are
  list.dataset.key = key;
  const rows = participants.map((p) =>
    el("li", { dataset: { id: p.id, name: p.name } },
      el("span", { class: "pname", text: p.name }),
      p.working ? el("span", { class: "badge", text: `working ${shortName(p.working)}`, title: p.working }) : null,
      el("span", { class: "pstats", text: `${p.published} sent · ${p.processed} done · ${p.failed} failed` }),
      el("button", { type: "button", class: "link danger", text: "remove", "aria-label": `Remove ${p.name}`, on: { click: () => remove(p) } }),
    ),
  );
  list.replaceChildren(...rows);
  if (!rows.length) list.append(el("li", { class: "muted", text: "Nobody yet: show the code." }));
}

/** Checkboxes for what participants may publish to and work on, from the scoped topology. */
export function allowedRender(form, topology, allowed, shortName) {
  const box = (group, arn, label, checked) =>
    el("label", {}, el("input", { type: "checkbox", name: group, value: arn, checked: checked || undefined }), label);
  const publish = [
    ...topology.topics.map((t) => box("publish", t.arn, `topic ${shortName(t.name)}`, allowed.topics.includes(t.arn))),
    ...topology.queues.map((q) => box("publish", q.arn, `queue ${shortName(q.name)}`, allowed.queues.includes(q.arn))),
  ];
  const work = topology.queues.map((q) => box("work", q.arn, shortName(q.name), allowed.work.includes(q.arn)));
  form.querySelector(".allow-publish").replaceChildren(...publish);
  form.querySelector(".allow-work").replaceChildren(...work);
}

/** The allowed lists the form says, split into topics and queues. */
export function allowedRead(form) {
  const checked = (name) => [...form.querySelectorAll(`input[name=${name}]:checked`)].map((i) => i.value);
  const publish = checked("publish");
  return {
    topics: publish.filter((arn) => arn.split(":")[2] === "sns"),
    queues: publish.filter((arn) => arn.split(":")[2] === "sqs"),
    work: checked("work"),
  };
}
