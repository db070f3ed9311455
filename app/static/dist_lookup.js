// The lookup's scan box: after each answer, select the code in the box when the box still has the focus
// (a scanner gun, or Enter on a keyboard), so the next scan replaces it; and bring the answer into view.
(function () {
  "use strict";
  document.addEventListener("htmx:afterSwap", function (event) {
    if (!event.detail || !event.detail.target || event.detail.target.id !== "lookup-result") return;
    var box = document.getElementById("code");
    if (box && document.activeElement === box) box.select();
    var verdict = document.getElementById("verdict");
    if (verdict && verdict.scrollIntoView) verdict.scrollIntoView({ block: "start", behavior: "smooth" });
  });
})();
