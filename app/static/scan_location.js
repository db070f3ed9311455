// 定位后抽奖: the draw of this scan waits for the phone's location (docs/scan-path.md). Ask for it (inside
// WeChat through wx.getLocation when the JS-SDK is set up, else the browser's geolocation, which WeChat's
// webview has too), then post it with the draw ticket and put the answer's reward card in place. A refused
// or failed location posts the ticket without one: the server then says truthfully what it can draw.
// Without JS the button posts the form as it is.
(function () {
  function post(form, lat, lng) {
    form.elements.lat.value = lat == null ? '' : String(lat);
    form.elements.lng.value = lng == null ? '' : String(lng);
    var body = new URLSearchParams(new FormData(form));
    fetch(form.action, {method: 'POST', body: body, credentials: 'same-origin'})
      .then(function (resp) { return resp.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, 'text/html').getElementById('reward');
        var old = document.getElementById('reward');
        if (!fresh || !old) { form.submit(); return; }
        old.replaceWith(document.importNode(fresh, true));
        setup();
      })
      .catch(function () { form.submit(); });
  }

  function browserLocation(form) {
    if (!navigator.geolocation) { post(form, null, null); return; }
    navigator.geolocation.getCurrentPosition(
      function (pos) { post(form, pos.coords.latitude, pos.coords.longitude); },
      function () { post(form, null, null); },
      {enableHighAccuracy: false, timeout: 15000, maximumAge: 300000});
  }

  function wechatLocation(form, config) {
    var wx = window.wx;
    var done = false;
    function once(fn) { return function (a, b) { if (!done) { done = true; fn(a, b); } }; }
    var answer = once(function (lat, lng) { post(form, lat, lng); });
    var fallback = once(function () { browserLocation(form); });
    wx.config(config);
    wx.error(fallback);
    wx.ready(function () {
      wx.getLocation({
        type: 'wgs84',
        success: function (res) { answer(res.latitude, res.longitude); },
        fail: function () { answer(null, null); },
        cancel: function () { answer(null, null); }
      });
    });
  }

  function locate(form) {
    var button = document.getElementById('locate-button');
    var status = document.getElementById('locate-status');
    if (button) button.disabled = true;
    if (status) status.hidden = false;
    var config = form.dataset.wx ? JSON.parse(form.dataset.wx) : null;
    if (config && window.wx && window.wx.config) wechatLocation(form, config);
    else browserLocation(form);
  }

  function setup() {
    var form = document.getElementById('locate-form');
    if (!form) return;
    form.addEventListener('submit', function (event) { event.preventDefault(); locate(form); });
    if (form.dataset.auto === '1') locate(form);
  }

  setup();
})();
