"""The scan bench's own logic: server command lines, the one-box ratios and targets, the stability windows."""

from __future__ import annotations

import pytest

from bench.scan_load import LoadResult
from bench.scan_report import ServerFigures, one_box_targets
from bench.scan_server import Model, command
from bench.scan_stability import _through, _window


def result(rps: float, p99: float = 1.0) -> LoadResult:
    return LoadResult(tool="wrk", mode="closed", seconds=1.0, requests=int(rps), sent=int(rps),
                      latencies_ms={"p50": 1.0, "p90": 1.0, "p99": p99, "max": p99}, statuses={"200": int(rps)},
                      socket_errors=0)


def test_gunicorn_starts_as_shipped_and_granian_on_the_same_factory_with_gunicorns_guarantees() -> None:
    assert command("gunicorn", Model("shipped"), 8123, 2)[1:] == [
        "--config", "python:app.gunicorn_conf", "--bind", "127.0.0.1:8123", "app:create_app()"]
    granian = command("granian", Model("shipped"), 8123, 2)
    assert granian[-1] == "app:create_app" and "--factory" in granian
    assert granian[granian.index("--interface") + 1] == "wsgi" and granian[granian.index("--workers") + 1] == "2"
    # without these a dead worker stops the whole server and a stuck one blocks shutdown for ever
    assert "--respawn-failed-workers" in granian and granian[granian.index("--workers-kill-timeout") + 1] == "10"
    sized = command("granian", Model("4x8"), 8123, 2)
    assert sized[sized.index("--workers") + 1] == "4" and sized[sized.index("--blocking-threads") + 1] == "8"
    assert Model("4x8").workers(2) == 4 and Model("gthread:3x4").workers(2) == 3 and Model("shipped").workers(2) == 2
    with pytest.raises(ValueError, match="granian model"):
        Model("sync:4").args("granian")
    with pytest.raises(ValueError, match="unknown server"):
        command("uwsgi", Model("shipped"), 8123, 2)


def test_one_box_ratios_are_medians_of_each_rounds_own_ratio_and_targets_say_pass_or_miss() -> None:
    fig = ServerFigures("gunicorn")
    for bare, scan, draw in ((1000, 700, 520), (2000, 1000, 900), (1000, 500, 400)):
        fig.rounds.append({"bare": result(bare), "scan": result(scan), "draw": result(draw)})
    fig.half = {"scan": result(300, p99=9.5), "draw": result(200, p99=12.0)}
    assert fig.ratio("scan") == 0.5  # rounds 0.7, 0.5, 0.5: not 2200 / 4000
    assert fig.ratio("draw") == 0.45  # rounds 0.52, 0.45, 0.4
    assert fig.rps("bare") == 1000 and fig.typical("scan").rps == 700
    targets = one_box_targets(fig)
    assert {k: t["pass"] for k, t in targets.items()} == {
        "scan_vs_bare": False, "draw_vs_bare": False, "scan_p99_at_half_ms": True, "draw_p99_at_half_ms": False}
    assert targets["scan_vs_bare"]["target"] == 0.6 and targets["draw_vs_bare"]["target"] == 0.5


def test_stability_windows_and_the_redis_url_through_the_proxy() -> None:
    timeline = [(0.5, "200", 0.001), (1.5, "404", 0.002), (2.1, "503", 0.001), (2.2, "error", 5.0),
                (3.0, "200", 0.001)]
    during = _window(timeline, 2.0, 3.0)
    assert during["requests"] == 2 and during["failed"] == 2 and during["statuses"] == {"503": 1, "error": 1}
    assert _window(timeline, 0.0, 2.0)["failed"] == 0
    assert _through("redis://:secret@127.0.0.1:6379/10?socket_timeout=1", 40001) == \
        "redis://:secret@127.0.0.1:40001/10?socket_timeout=1"
    assert _through("redis://127.0.0.1/3", 40001) == "redis://127.0.0.1:40001/3"
