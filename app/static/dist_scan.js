/* Scan forms on the channel's phone pages: any <form data-scan-form> holding an <input name="code">.

   - Scanner guns type a code then Enter, which submits the form. With data-scan-target="<selector>" and
     htmx loaded, each submission is sent by htmx (the CSRF header comes from hx-headers on <body>) and its
     answer swapped into the target; the box is cleared and focused at once, so the next scan can come while
     the last is still on its way. Posts go one after another, in scan order: a burst of scans is never
     dropped or merged (htmx's own trigger queue keeps only the last waiting request).
   - Where the browser has BarcodeDetector (Chrome on Android), a camera button is added: it reads QR, Data
     Matrix and Code 128 symbols and submits each new code it sees, until stopped.
   - Without JavaScript the form posts as a plain form. Inside WeChat, its own scanner opening the code's URL
     works too.
   Other pages reuse this: put data-scan-form on the form (and data-scan-target for in-page answers). */
(function () {
  "use strict";
  var EN = (document.documentElement.lang || "").indexOf("en") === 0;
  function t(zh, en) { return EN ? en : zh; }

  function sendInOrder(form, input, target) {
    var chain = Promise.resolve();
    // The box is emptied before htmx reads the form, so htmx must not validate it (`required`): the code
    // travels in `values`, and an empty scan is skipped here.
    form.noValidate = true;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var code = input.value.trim();
      input.value = "";
      input.focus();
      if (!code) { return; }
      chain = chain.then(function () {
        return window.htmx.ajax("POST", form.action, {
          source: form, target: target, swap: "innerHTML", values: { code: code }
        });
      }).catch(function () { /* the next scan still goes */ });
    });
  }

  function pickFormats() {
    var wanted = ["qr_code", "data_matrix", "code_128"];
    if (!window.BarcodeDetector.getSupportedFormats) { return Promise.resolve(wanted); }
    return window.BarcodeDetector.getSupportedFormats().then(function (have) {
      var both = wanted.filter(function (f) { return have.indexOf(f) >= 0; });
      return both.length ? both : wanted;
    });
  }

  function addCamera(form, input) {
    if (!("BarcodeDetector" in window) || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      return;
    }
    var button = document.createElement("button");
    button.type = "button";
    button.className = "scan-camera";
    button.textContent = t("摄像头", "Camera");
    input.insertAdjacentElement("afterend", button);
    var video = null, stream = null, timer = 0, last = "", lastAt = 0;

    function stop() {
      window.clearTimeout(timer);
      if (stream) { stream.getTracks().forEach(function (track) { track.stop(); }); }
      if (video) { video.remove(); }
      stream = null; video = null;
      button.textContent = t("摄像头", "Camera");
      input.focus();
    }

    function start() {
      pickFormats().then(function (formats) {
        var detector = new window.BarcodeDetector({ formats: formats });
        return navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
          .then(function (s) {
            stream = s;
            video = document.createElement("video");
            video.className = "scan-video";
            video.setAttribute("playsinline", "");
            video.muted = true;
            video.srcObject = s;
            form.insertAdjacentElement("afterend", video);
            button.textContent = t("停止", "Stop");
            return video.play().then(function () { look(detector); });
          });
      }).catch(function () {
        stop();
        button.disabled = true;
        button.textContent = t("无法使用摄像头", "No camera");
      });
    }

    function look(detector) {
      if (!video) { return; }
      detector.detect(video).then(function (found) {
        var now = Date.now();
        if (found.length) {
          var value = found[0].rawValue;
          if (value && (value !== last || now - lastAt > 3000)) {
            last = value; lastAt = now;
            input.value = value;
            if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
          }
        }
      }).catch(function () { /* a frame that cannot be read: try the next */ }).then(function () {
        timer = window.setTimeout(function () { look(detector); }, 250);
      });
    }

    button.addEventListener("click", function () { if (stream) { stop(); } else { start(); } });
    document.addEventListener("visibilitychange", function () { if (document.hidden && stream) { stop(); } });
  }

  function enhance(form) {
    var input = form.querySelector("input[name=code]");
    if (!input) { return; }
    var selector = form.getAttribute("data-scan-target");
    var target = selector ? document.querySelector(selector) : null;
    if (target && window.htmx) { sendInOrder(form, input, target); }
    addCamera(form, input);
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("form[data-scan-form]"), enhance);
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
}());
