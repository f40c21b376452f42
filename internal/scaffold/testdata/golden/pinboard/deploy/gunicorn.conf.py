"""gunicorn settings for pinboard, written by muelle init.

Every value can be changed with the environment variable named beside it.
"""
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# Two workers per CPU this container may use, plus one; at most 12.
workers = int(os.environ.get("GUNICORN_WORKERS") or min(2 * len(os.sched_getaffinity(0)) + 1, 12))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
max_requests = 1000
max_requests_jitter = 100
worker_tmp_dir = "/dev/shm"
# Only nginx reaches gunicorn, on the stack's own network.
forwarded_allow_ips = "*"
accesslog = "-"
errorlog = "-"
access_log_format = (
    '{"time": "%(t)s", "remote": "%({x-forwarded-for}i)s", "method": "%(m)s", '
    '"path": "%(U)s", "status": %(s)s, "bytes": "%(B)s", "duration_us": %(D)s, '
    '"user_agent": "%(a)s"}'
)
