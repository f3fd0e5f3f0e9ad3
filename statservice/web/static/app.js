// The cohort builder's one bit of behaviour htmx does not give: a code found by the search becomes a
// chosen code (a checkbox in the form); unchecking it removes it. Then the form is checked again.
// (Adding and removing criteria, and the options of each choice, are drawn by the server: htmx.)
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
