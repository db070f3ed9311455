"""The channel directory's refusals in Chinese: the domain speaks English (the API's `message`); the console
speaks Chinese first. Each pattern matches a message of channel/directory.py, channel/territory.py or
channel/staff.py and keeps its particulars (a place, a dealer number); an unknown message is shown as it is.
"""

from __future__ import annotations

import re

from channel.errors import ChannelError

FIELDS = {"code": "编号", "name": "名称", "contact": "联系人", "address": "地址", "territory": "区域",
          "email": "邮箱", "password": "密码"}

_ZH: tuple[tuple[str, str], ...] = (
    (r"(\w+): must be text", "{f}须为文本"),
    (r"(\w+): required", "请填写{f}"),
    (r"(\w+): at most (\d+) characters", "{f}最多 {1} 个字符"),
    (r"(\w+): must not contain control characters", "{f}不能包含控制字符"),
    (r"code: at most 40 characters, no spaces.*", "编号最多 40 个字符，不含空格"),
    (r"code: the brand has a distributor (.+) already", "本品牌已有编号为 {0} 的经销商"),
    (r"parent_id: a distributor id, or null", "请选择上级经销商"),
    (r"parent_id: no distributor .*", "没有这个上级经销商"),
    (r"parent_id: a distributor cannot sit under itself.*", "经销商不能挂在自己或自己的下级经销商之下"),
    (r"territory: (.+) is outside the territory of (.+)", "{0} 不在上级经销商 {1} 的区域内"),
    (r"territory: sub-distributor (.+) sells in (.+); narrow.*", "下级经销商 {0} 的区域包含{1}：请先缩小其区域"),
    (r"territory: store (.+) is in (.+); move.*", "门店 {0} 位于{1}：请先将其转给其他经销商"),
    (r"territory: a list of adcode prefixes.*", "区域须为行政区划代码列表"),
    (r"territory: name at least one.*", "请至少填写一个省、市或区县代码"),
    (r"territory: at most (\d+) prefixes", "区域最多 {0} 个代码"),
    (r"territory: '(.*)' is not a province.*", "“{0}”不是有效的省（2 位）、市（4 位）或区县（6 位）代码"),
    (r"adcode: six digits.*", "请填写 6 位区县代码，例如 440106"),
    (r"adcode: (\d+) is not in the region tree", "{0} 不是有效的行政区划代码"),
    (r"adcode: (\d+) is a province or city.*", "{0} 是省或市的代码：请填写区县代码"),
    (r"adcode: (.+) is outside the territory of (.+)", "{0} 不在经销商 {1} 的区域内"),
    (r"lat: give both lat and lng.*", "经纬度须同时填写或同时留空"),
    (r"lat: a number.*", "纬度须在 -90 到 90 之间"),
    (r"lng: a number.*", "经度须在 -180 到 180 之间"),
    (r"distributor_id: the id of the distributor.*", "请选择供货经销商"),
    (r"distributor_id: a distributor seat names.*", "经销商岗位须选择所属经销商"),
    (r"distributor_id: .*", "没有这个经销商"),
    (r"store_id: a clerk or waiter seat names.*", "门店岗位须选择所属门店"),
    (r"store_id: .*", "没有这个门店"),
    (r"kind: one of .*", "请选择岗位"),
    (r"kind: a \w+ seat is brand-wide.*", "仓库和稽查岗位面向全品牌，不选经销商或门店"),
    (r"email: this e-mail has an account already", "该邮箱已有账户"),
    (r"email: .*", "邮箱格式不正确"),
    (r"password: must be .*", "密码须为 10–200 个字符"),
    (r"password: too simple.*", "密码过于简单（至少使用 5 个不同的字符）"),
    (r"name: must be 1-100 characters", "名称须为 1–100 个字符"),
    (r"days: .*", "有效期须为 1–366 天"),
    (r"(\w+): whole fen .*", "金额须在 0 到 10,000 元之间，最多两位小数"),
    (r"this account also has a console role.*", "该账户还有控制台角色，请由品牌管理员管理"),
    (r"this account is disabled.*", "该账户已停用：请先启用"),
)
_PATTERNS = tuple((re.compile(pattern), zh) for pattern, zh in _ZH)


def field_of(exc: ChannelError) -> str:
    """The input a refusal is about: its `field`, else the message's "field: ..." prefix, else ""."""
    field = getattr(exc, "field", "")
    if field:
        return str(field)
    head, sep, _ = str(exc).partition(": ")
    return head if sep and head.isidentifier() else ""


def in_chinese(message: str) -> str:
    for pattern, zh in _PATTERNS:
        found = pattern.fullmatch(message)
        if found:
            groups = found.groups()
            field = FIELDS.get(groups[0], groups[0]) if groups else ""
            return zh.format(*groups, f=field)
    return message
