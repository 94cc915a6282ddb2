// The analysis options form, read and filled the same way wherever it is shown: the upload panel,
// and a finished card's "Analyse again" panel (a copy of the upload panel's form).

/**
 * The form as the `options` JSON: empty number fields are left to the server's defaults; `render` is
 * always sent. Null when a field is out of range (the browser then says which).
 */
export function readOptions(form) {
  if (!form.checkValidity()) {
    form.reportValidity();
    return null;
  }
  const options = { render: form.elements.render.checked };
  for (const input of numberFields(form)) {
    if (input.value !== "") options[input.name] = Number(input.value);
  }
  // A choice is sent when it is not the first (the server's default).
  for (const select of form.querySelectorAll("select")) {
    if (select.selectedIndex > 0) options[select.name] = select.value;
  }
  return options;
}

/** Fill the form with a run's options (the report's `options`, defaults filled in). */
export function fillOptions(form, options) {
  form.elements.render.checked = Boolean(options.render);
  for (const input of numberFields(form)) input.value = options[input.name] ?? "";
  for (const select of form.querySelectorAll("select")) select.value = options[select.name] ?? select.options[0].value;
}

function numberFields(form) {
  return form.querySelectorAll("input[type=number]");
}
