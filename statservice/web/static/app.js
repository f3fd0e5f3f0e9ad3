// The cohort builder's one bit of behaviour htmx does not give: a code found by the search becomes a
// chosen code (a checkbox in the form); unchecking it removes it. Then the form is checked again.
document.addEventListener("click", (event) => {
  const choice = event.target.closest(".code-choice");
  if (!choice) return;
  const chosen = document.getElementById("chosen-codes");
  const code = choice.dataset.code;
  if (![...chosen.querySelectorAll("input[name=codes]")].some((box) => box.value === code)) {
    const label = document.createElement("label");
    label.className = "chip";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.name = "codes";
    box.value = code;
    box.checked = true;
    label.append(box, ` ${code} ${choice.dataset.name}`);
    chosen.append(label);
  }
  document.body.dispatchEvent(new Event("form-changed"));
});

document.addEventListener("change", (event) => {
  const target = event.target;
  if (target.name === "codes" && !target.checked) {
    target.closest("label").remove();
    document.body.dispatchEvent(new Event("form-changed"));
  }
  if (target.id === "concept_type") {
    // codes of one list mean nothing in another: start the choice again
    document.getElementById("chosen-codes").replaceChildren();
    document.getElementById("code-results").replaceChildren();
    // a concept without codes (death, a biobank sample) has no code search
    const coded = target.selectedOptions[0].hasAttribute("data-coded");
    document.getElementById("code-search-field").hidden = !coded;
    document.getElementById("chosen-codes-field").hidden = !coded;
  }
});

// Enter in the code search searches; it does not run the query.
document.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && event.target.id === "code_search") event.preventDefault();
});

// Adding and removing criteria (characteristics, drug groups), and a choice that changes what else is
// asked (a concept's type, the result kind), have the server draw the form's sections again from the
// query model. The listeners are on the document, so controls just drawn work at once.
function redrawSections(edit) {
  htmx.ajax("POST", "/builder/edit", {
    source: "#builder",
    target: "#sections",
    swap: "outerHTML",
    values: edit ? { edit } : {},
  });
}

document.addEventListener("change", (event) => {
  if (event.target.matches("[data-reshape]")) redrawSections();
});

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-edit]");
  if (button) redrawSections(button.dataset.edit);
});
