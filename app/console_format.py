"""How the console writes times and roles: China time (the brands' clock) with the zone said once per page."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from app.auth import tr

CHINA = ZoneInfo("Asia/Shanghai")


def local_time(moment: datetime | None, seconds: bool = False) -> str:
    """"2026-12-02 18:05" in China time; "—" for none. SQLite hands back naive UTC."""
    if moment is None:
        return "—"
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def role_name(role: str | None) -> str:
    names = {"admin": tr("管理员", "admin"), "operator": tr("运营", "operator"), "analyst": tr("分析师", "analyst")}
    return names.get(role or "", role or "—")


def console_helpers() -> dict[str, object]:
    """For a blueprint's context processor: the helpers its templates use."""
    return {"local_time": local_time, "role_name": role_name}
