// The email template editor's side panel: a click on a variable inserts it at the cursor of the
// field that had focus last (subject, preheader, HTML or text body), replacing any selected text.
(function () {
  "use strict";
  const ids = ["id_subject", "id_preheader", "id_html_body", "id_text_body"];
  const fields = ids.map((id) => document.getElementById(id)).filter(Boolean);
  const target = document.getElementById("variable-target");
  let last = document.getElementById("id_html_body") || fields[0];

  function show() {
    const label = last && document.querySelector(`label[for="${last.id}"]`);
    if (target && label) target.textContent = label.textContent.replace(/:\s*$/, "");
  }

  fields.forEach((field) => field.addEventListener("focus", () => { last = field; show(); }));
  document.querySelectorAll("[data-insert]").forEach((button) => {
    // Keep the field's cursor and selection: the button must not take the focus on press.
    button.addEventListener("mousedown", (event) => event.preventDefault());
    button.addEventListener("click", () => {
      if (!last) return;
      const start = last.selectionStart ?? last.value.length;
      const end = last.selectionEnd ?? start;
      last.setRangeText(button.dataset.insert, start, end, "end");
      last.focus();
      last.dispatchEvent(new Event("input", { bubbles: true }));
    });
  });
  show();
})();
