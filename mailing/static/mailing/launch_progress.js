/* The campaign page while a launch is recorded or sent (mailing/admin_launch.py): reload every few
 * seconds to show the progress, unless the person has started editing the form (a reload would lose
 * the edit). A static file: the Content Security Policy runs no inline script without its nonce. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("launch-progress");
    if (!box || box.dataset.busy !== "1") return;
    var edited = false;
    document.querySelectorAll("form").forEach(function (f) { f.addEventListener("input", function () { edited = true; }); });
    setTimeout(function () { if (!edited) window.location.reload(); }, 3000);
  });
})();
