// The inspector's page (/dist/diversion/inspect): the phone's position into the form, and a camera scanner
// where the browser has BarcodeDetector. Without either the page still works: a scanner gun types the code
// and Enter submits, and the region picker or the network address says where the check happened.
(function () {
  "use strict";
  function ready(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }

  function locate() {
    var status = document.getElementById("geo-status");
    if (!status) { return; }
    status.textContent = status.dataset.off;
    if (!navigator.geolocation) { return; }
    navigator.geolocation.getCurrentPosition(function (pos) {
      document.getElementById("lat").value = pos.coords.latitude.toFixed(5);
      document.getElementById("lng").value = pos.coords.longitude.toFixed(5);
      status.textContent = status.dataset.on;
    }, function () { /* refused or unavailable: the picker or the address decides */ },
    { enableHighAccuracy: false, timeout: 10000, maximumAge: 300000 });
  }

  function camera() {
    var button = document.getElementById("camera");
    var video = document.getElementById("preview");
    if (!button || !video || !("BarcodeDetector" in window) || !navigator.mediaDevices) { return; }
    button.hidden = false;
    var stream = null;
    function stop() {
      if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
      video.hidden = true;
    }
    button.addEventListener("click", function () {
      if (stream) { stop(); return; }
      var detector = new window.BarcodeDetector({ formats: ["qr_code", "data_matrix"] });
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (s) {
        stream = s;
        video.srcObject = s;
        video.hidden = false;
        return video.play();
      }).then(function tick() {
        if (!stream) { return; }
        detector.detect(video).then(function (found) {
          if (found.length) {
            document.getElementById("code").value = found[0].rawValue;
            stop();
            document.getElementById("inspect-form").requestSubmit();
          } else {
            window.setTimeout(tick, 250);
          }
        }, function () { window.setTimeout(tick, 500); });
      }).catch(stop);
    });
  }

  ready(function () { locate(); camera(); });
})();
