"""Health endpoints, written by muelle init.

/healthz answers whether the process serves requests at all: cheap, no
database. /readyz also checks PostgreSQL and Redis, each with a short
timeout, and answers 503 naming what failed. Both report the release.
The middleware answers them before any other middleware runs, so the host
check and the HTTPS redirect do not apply to them.
"""
import os
import time

from django.db import connections
from django.http import JsonResponse

PATHS = {"/healthz": "healthz", "/healthz/": "healthz", "/readyz": "readyz", "/readyz/": "readyz"}


def release():
    return os.environ.get("MUELLE_RELEASE", "dev")


class HealthCheckMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        kind = PATHS.get(request.path_info)
        if kind == "healthz":
            return JsonResponse({"status": "ok", "release": release()})
        if kind == "readyz":
            return readiness()
        return self.get_response(request)


def check_database():
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")


def check_cache():
    from django_redis import get_redis_connection

    get_redis_connection("default").ping()


def readiness():
    checks, ok = {}, True
    for name, check in (("database", check_database), ("cache", check_cache)):
        start = time.monotonic()
        try:
            check()
            checks[name] = {"status": "ok", "ms": round((time.monotonic() - start) * 1000, 1)}
        except Exception as exc:  # any failure means "not ready"; say which kind
            ok = False
            checks[name] = {"status": "error", "error": type(exc).__name__}
    return JsonResponse(
        {"status": "ok" if ok else "error", "release": release(), "checks": checks},
        status=200 if ok else 503,
    )
