"""The H5 page's strings about location and draws held for it (zh-CN first, English), merged into app.i18n."""

from __future__ import annotations

LOCATION_MESSAGES: dict[str, dict[str, str]] = {
    "zh": {
        "locate_needed": "本活动仅限{regions}参与，抽奖前需要确认您的位置。",
        "locate_waiting": "正在获取您的位置…",
        "locate_button": "获取位置并抽奖",
        "locate_retry": "开启定位后重试",
        "locate_outside": "活动仅限{regions}参与。未能确认您在活动地区（{where}），本次未抽奖。",
        "locate_not_spent": "此码未被消耗：请开启定位后重试，或稍后用本机再次扫码。",
        "locate_privacy": "位置仅用于判断活动地区，不会保存经纬度。",
        "locate_where_unknown": "位置未知",
        "locate_where_ip": "按网络判断：{place}",
        "locate_where_gps": "定位：{place}",
        "locate_some_regions": "部分地区",
        "ticket_invalid": "抽奖凭证已失效",
        "ticket_invalid_text": "请用扫码的这台手机重新扫码参与。",
        "taken": "此码已中奖，奖品已被抽取。",
        "first_scan_used": "本活动仅限首次扫码的手机参与，此码已由其他手机首次扫描。",
    },
    "en": {
        "locate_needed": "This promotion is open in {regions} only: we need your location before the draw.",
        "locate_waiting": "Finding your location…",
        "locate_button": "Share my location and draw",
        "locate_retry": "Turn on location and try again",
        "locate_outside": "This promotion is open in {regions} only. We could not confirm you are there ({where}), "
                          "so nothing was drawn.",
        "locate_not_spent": "This code is not used up: turn on location and try again, or scan it again later "
                            "with this phone.",
        "locate_privacy": "Your location only decides the promotion's region; coordinates are not stored.",
        "locate_where_unknown": "location unknown",
        "locate_where_ip": "by your network: {place}",
        "locate_where_gps": "located: {place}",
        "locate_some_regions": "some regions",
        "ticket_invalid": "This draw has expired",
        "ticket_invalid_text": "Scan the code again with the phone you scanned it with.",
        "taken": "This code has already won: its prize was taken.",
        "first_scan_used": "This promotion is for the phone that scans a code first; another phone scanned this "
                           "code first.",
    },
}
