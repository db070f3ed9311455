"""gunicorn settings shared by `make run` and deploy/ (values here are defaults; flags override)."""

# Chosen by `make bench-scan` on the 2-core box (2026-11-23), scans/s at saturation and p99 at half of it:
# sync:2 2,309-2,646/s, p99 3.9-8 ms; sync:5 (gunicorn's 2 x cores + 1) 2,095-2,766/s, p99 15 ms;
# gthread 2x4 unstable run to run; gevent 2x100 at best 10-30 % more but p99 70-300 ms under saturation
# and a monkey-patching dependency. With Redis on another host (one network round trip per scan) more
# sync workers per core should pay off: measure there before changing this.
workers = 2
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
