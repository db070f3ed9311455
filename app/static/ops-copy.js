// "Copy" buttons next to a secret shown once: <button data-copy="input-id" data-copied="Copied">.
// Without the Clipboard API (plain HTTP on another host) the text is selected for Ctrl/Cmd+C.
document.addEventListener("click", function (event) {
  var button = event.target.closest("button[data-copy]");
  if (!button) return;
  var field = document.getElementById(button.getAttribute("data-copy"));
  if (!field) return;
  field.focus();
  field.select();
  var done = function () { button.textContent = button.getAttribute("data-copied") || "✓"; };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(field.value).then(done, function () {});
  } else if (document.execCommand && document.execCommand("copy")) {
    done();
  }
});
