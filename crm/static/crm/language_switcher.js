// The language menu in the admin's header sends its form when a language is picked
// (an onchange="" attribute would be inline script, which the Content Security Policy refuses).
document.addEventListener("DOMContentLoaded", function () {
  var select = document.getElementById("language-select");
  if (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  }
});
