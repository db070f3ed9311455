// The staff form: the distributor and store pickers dim unless the chosen seat kind needs them
// (<label data-seat="clerk waiter">). Without this script both stay usable; the server checks either way.
(function () {
  var kind = document.getElementById("seat-kind");
  if (!kind) return;
  function update() {
    document.querySelectorAll("[data-seat]").forEach(function (label) {
      var wanted = label.getAttribute("data-seat").split(" ").indexOf(kind.value) >= 0;
      label.classList.toggle("irrelevant", kind.value !== "" && !wanted);
      label.querySelector("select").disabled = kind.value !== "" && !wanted;
    });
  }
  kind.addEventListener("change", update);
  update();
})();
