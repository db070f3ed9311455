"""gunicorn settings shared by `make run` and deploy/ (values here are defaults; flags override)."""

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
