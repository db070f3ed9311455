"""The observability settings: parsed in app/config.py, bad values refused with the variable's name."""

from __future__ import annotations

import ipaddress
import secrets

import pytest

from app.config import LOOPBACK, ConfigError, load_config
from app.metrics import endpoint_group, may_read


def test_defaults_suit_make_run() -> None:
    cfg = load_config({})
    assert (cfg.log_format, cfg.log_level, cfg.metrics, cfg.metrics_token, cfg.metrics_dir) == (
        "text", "INFO", True, None, None)
    assert cfg.metrics_allow == LOOPBACK and cfg.worker_metrics_port == 0


def test_values_are_parsed() -> None:
    token = secrets.token_urlsafe(32)
    cfg = load_config({"YIMA_LOG_FORMAT": "JSON", "YIMA_LOG_LEVEL": "warning", "YIMA_METRICS": "0",
                       "YIMA_METRICS_ALLOW": " 10.0.0.0/8, fd00::/8 ", "YIMA_METRICS_TOKEN": token,
                       "PROMETHEUS_MULTIPROC_DIR": "/tmp/m", "YIMA_WORKER_METRICS_PORT": "9108"})
    assert (cfg.log_format, cfg.log_level, cfg.metrics) == ("json", "WARNING", False)
    assert cfg.metrics_allow == (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))
    assert cfg.metrics_token == token and str(cfg.metrics_dir) == "/tmp/m" and cfg.worker_metrics_port == 9108


@pytest.mark.parametrize(("name", "value"), [
    ("YIMA_LOG_FORMAT", "xml"),
    ("YIMA_LOG_LEVEL", "loud"),
    ("YIMA_METRICS", "yes"),
    ("YIMA_METRICS_ALLOW", "10.0.0.1/8"),  # host bits set: a typo for 10.0.0.0/8 or for one address?
    ("YIMA_METRICS_ALLOW", "everyone"),
    ("YIMA_METRICS_TOKEN", "metrics"),
    ("YIMA_WORKER_METRICS_PORT", "70000"),
])
def test_bad_values_are_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_config({name: value})


def test_may_read() -> None:
    token = secrets.token_urlsafe(32)
    cfg = load_config({"YIMA_METRICS_ALLOW": "10.1.0.0/16", "YIMA_METRICS_TOKEN": token})
    assert may_read(cfg, "10.1.2.3", "")
    assert may_read(cfg, "::ffff:10.1.2.3", "")  # an IPv4 client on a dual-stack socket
    assert not may_read(cfg, "10.2.0.1", "")
    assert not may_read(cfg, "not an address", "")
    assert not may_read(cfg, "10.1.2.3", "", proxied=True)
    assert may_read(cfg, "198.51.100.1", f"Bearer {token}", proxied=True)
    assert may_read(cfg, "198.51.100.1", f"bearer  {token}")
    assert not may_read(cfg, "198.51.100.1", f"Basic {token}")
    assert not may_read(load_config({}), "198.51.100.1", "Bearer ")  # no token configured: no token opens it


@pytest.mark.parametrize(("endpoint", "group"), [
    ("scan.scan_page", "scan_page"), ("api.create_scan", "scan_api"), ("ops_campaigns.index", "ops"),
    ("rules_api.publish", "ops"), ("health.healthz", "health"), ("api.openapi", "api"), (None, "unmatched"),
    ("metrics", "metrics"), ("catalog.something", "other"),
])
def test_endpoint_groups(endpoint: str | None, group: str) -> None:
    assert endpoint_group(endpoint) == group
