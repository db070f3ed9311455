"""Payout providers behind one interface (`base.Provider`): WeChat 商家转账 (the default rail), WeChat
现金红包 (legacy), and the same adapters pointed at the fake WeChat server shipped in `app/fake_wechat`."""
