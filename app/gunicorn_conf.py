"""gunicorn settings shared by `make run` and deploy/ (values here are defaults; flags override)."""

import math as _math
import os as _os
from pathlib import Path as _Path


def _cores() -> int:
    """The cores this process may use: its CPU affinity, capped by a cgroup v2 CPU quota (a container
    limited to 2 CPUs on a 64-core node gets 2, where os.cpu_count() says 64)."""
    cores = len(_os.sched_getaffinity(0)) if hasattr(_os, "sched_getaffinity") else (_os.cpu_count() or 1)
    try:
        quota, period = _Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, _math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


# Chosen by `make bench-scan` on the 2-core box, scans/s at saturation and p99 at half of it.
# 2026-11-23, everything on both cores: sync:2 2,309-2,646/s, p99 3.9-8 ms; sync:5 (gunicorn's 2 x cores
# + 1) 2,095-2,766/s, p99 15 ms; gevent 2x100 at best 10-30 % more, p99 70-300 ms under saturation and a
# monkey-patching dependency. 2026-12-01, the app alone on one core (Redis, PostgreSQL and the load
# generator on the other), scan / bare: sync:2 0.57-0.65, sync:4 0.60-0.64 with a saturated p99 of
# 85-135 ms, gthread 2x4 0.53-0.64 (keep-alive: 5-20 % more of both), gevent 2x100 0.52-0.58. None is
# clearly better, so the conservative sync baseline stays. 2026-12-02, same layout, alternating runs:
# gthread 1x4 raises bare and scan alike (scan / bare 0.59-0.64 against sync:2's 0.58-0.64); sync:4
# 0.59 with a saturated p99 of 60-90 ms; SCHED_BATCH workers no different. With Redis on another host
# (a network round trip per scan) more sync workers per core should pay off: measure there before
# changing this.
# 2026-12-03, the one-box layout of `make bench-scan` (wrk, app, Redis and PostgreSQL on both cores,
# nothing pinned) after the script calls went EVALSHA-only: sync:2 scan / bare 0.58, scan+draw / bare
# 0.46, p99 at half load 3.0 / 23 ms; sync:4 0.67 / 0.58, p99 3.7 / 6.8 ms (1.16x the scans/s and 1.26x
# the drawing scans/s of sync:2); gthread 2x4 0.66 / 0.43. A sync worker waits out every Redis round
# trip (two for a drawing scan); two per core keep the cores busy meanwhile. So: two per core.
workers = 2 * _cores()
worker_class = "sync"
timeout = 30
graceful_timeout = 10
keepalive = 5
accesslog = "-"
errorlog = "-"
loglevel = "info"
# Forwarded headers only from a load balancer on loopback by default (deploy/ overrides per site).
forwarded_allow_ips = "127.0.0.1"
# gunicorn 27 opens a control socket in ~/.gunicorn by default, shared by every gunicorn of the user;
# yima has no use for it.
control_socket_disable = True
# Log lines in YIMA_LOG_FORMAT, the access line with the request id and no secrets (app/gunicorn_logging.py).
logger_class = "app.gunicorn_logging.YimaLogger"

# --- Prometheus multiprocess mode (app/metrics.py) -------------------------------------------------------
# Every worker writes its samples into files in PROMETHEUS_MULTIPROC_DIR and a scrape of any worker adds
# them all up. prometheus_client picks the mode when it is first imported, so the directory is set up here
# in the master before any worker is forked (and before anything here imports prometheus_client): the one
# given (`yima run` gives var/metrics/app), emptied of a previous run's files, else a private temporary
# directory removed at exit. Names below are underscored: gunicorn reads every other one as a setting.
import shutil as _shutil  # noqa: E402
import tempfile as _tempfile  # noqa: E402

_metrics: dict[str, _Path] = {}


def on_starting(server):  # type: ignore[no-untyped-def]
    from app.config import load_config

    cfg = load_config()
    if not cfg.metrics:
        return
    if cfg.metrics_dir is None:
        path = _metrics["temporary"] = _Path(_tempfile.mkdtemp(prefix="yima-metrics-"))
        _os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)  # inherited by every worker forked from here
    else:
        path = cfg.metrics_dir
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):  # a previous run's samples (counters would carry on from them)
            stale.unlink()
    _metrics["dir"] = path


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    # A worker that exits leaves its counters and histograms (still summed) but not its live gauges.
    if "dir" in _metrics:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid, path=str(_metrics["dir"]))


def on_exit(server):  # type: ignore[no-untyped-def]
    if "temporary" in _metrics:
        _shutil.rmtree(_metrics.pop("temporary"), ignore_errors=True)
