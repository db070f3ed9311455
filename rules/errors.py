"""The rules package's errors: one base, so the web layer and the command line map them in one place each."""

from __future__ import annotations

from codegen.errors import DomainError, Kind

__all__ = ["Kind", "RulesError"]


class RulesError(DomainError):
    """Base of every rules error: scans, campaigns, publishing, the draw and the drain."""
