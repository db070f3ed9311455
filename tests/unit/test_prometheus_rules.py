"""deploy/prometheus/: the alert rules and the scrape config name only metrics yima exports and the jobs
the scrape config defines, and every alert has its entry in the runbook (deploy/README.md)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from prometheus_client.metrics import MetricWrapperBase

from app import metrics, payout_metrics, worker_metrics

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exported_names() -> set[str]:
    names: set[str] = set()
    for module in (metrics, worker_metrics, payout_metrics):
        for obj in vars(module).values():
            if isinstance(obj, MetricWrapperBase):
                for family in obj.describe():
                    names |= {family.name + s for s in SUFFIXES[family.type]}
    for collector in (worker_metrics.DrainLagCollector(None), payout_metrics.OpenPayoutsCollector(None)):
        for family in collector.describe():
            names.add(family.name)
    return names


def test_the_exported_names_are_found() -> None:
    names = exported_names()
    assert {"yima_scans_total", "yima_request_duration_seconds_bucket", "yima_drain_backlog_events"} <= names


def test_alerts_name_only_exported_metrics_and_scraped_jobs() -> None:
    rules = [r for g in yaml.safe_load((PROMETHEUS / "alerts.yml").read_text("utf-8"))["groups"] for r in g["rules"]]
    jobs = {j["job_name"] for j in yaml.safe_load((PROMETHEUS / "scrape.yml").read_text("utf-8"))["scrape_configs"]}
    assert jobs == {"yima-app", "yima-worker"}
    names = exported_names()
    runbook = (ROOT / "deploy" / "README.md").read_text("utf-8")
    for rule in rules:
        expr = rule["expr"]
        used = set(re.findall(r"\byima_[a-z_]+\b", expr))
        assert used <= names, f"{rule['alert']} names {sorted(used - names)}, which yima does not export"
        assert set(re.findall(r'job="([^"]+)"', expr)) <= jobs, rule["alert"]
        assert rule["labels"]["severity"] in ("page", "warning"), rule["alert"]
        assert f"`{rule['alert']}`" in runbook, f"{rule['alert']} has no entry in deploy/README.md"
