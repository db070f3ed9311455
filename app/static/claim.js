// 确认收款: inside WeChat, WeChat's own sheet (requestMerchantTransfer); with the fake provider, its confirm page.
(function () {
  var button = document.getElementById('confirm-button');
  if (!button) return;
  button.addEventListener('click', function () {
    var d = button.dataset;
    if (window.WeixinJSBridge && d.package) {
      window.WeixinJSBridge.invoke('requestMerchantTransfer', {mchId: d.mchId, appId: d.appId, package: d.package},
        function () { window.location.reload(); });  // the sheet closing says nothing of payment: re-read the state
    } else if (d.fakeUrl) {
      window.location.href = d.fakeUrl;
    }
  });
})();
