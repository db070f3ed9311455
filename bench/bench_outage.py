"""How fast a scan fails when Redis is gone: `python -m bench.bench_outage`.

Runs the real app (Flask test client, real Redis DB 15 through a TCP proxy) and times POST /api/v1/scans
with Redis refusing connections and with Redis hanging (blackholed), 30 requests each.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import redis

from app import create_app
from app.seed import seed_demo
from codegen import keys
from tests.support.proxy import TcpProxy


def main() -> None:
    scratch = redis.Redis(db=15)
    scratch.flushdb()
    proxy = TcpProxy("127.0.0.1", 6379)
    with tempfile.TemporaryDirectory(prefix="yo-") as tmp:
        var = Path(tmp)
        keys.init_keyring(var / "keys.json")
        app = create_app({"var_dir": var, "database_url": f"sqlite:///{var / 'b.db'}",
                          "redis_url": f"redis://127.0.0.1:{proxy.port}/15", "keys_file": var / "keys.json",
                          "hq_public_file": var / "hq.json"})
        info = seed_demo(app.config["YIMA"], app.extensions["yima.db"], app.extensions["yima.redis"])
        client = app.test_client()
        timeout_ms = app.config["YIMA"].redis_timeout * 1000
        print(f"Redis socket/connect timeout {timeout_ms:.0f} ms, 1 retry after 10 ms back-off")
        for mode in ("pass", "refuse", "blackhole"):
            proxy.set_mode(mode)
            times, statuses = [], set()
            for _ in range(30):
                start = time.perf_counter()
                statuses.add(client.post("/api/v1/scans", json={"code": info.inner_url}).status_code)
                times.append((time.perf_counter() - start) * 1000)
            times.sort()
            print(f"redis {mode:9s}: status {sorted(statuses)}  median {statistics.median(times):7.1f} ms"
                  f"  max {times[-1]:7.1f} ms")
        app.extensions["yima.db"].engine.dispose()
    proxy.close()
    scratch.flushdb()


if __name__ == "__main__":
    main()
