"""Production settings of pinboard, written by muelle init.

They import the project's own settings (pinboard.settings) and override
what production needs, every secret and host-specific value from the
environment (see .env.production.example). muelle init never overwrites this
file unless asked to (--force); edit it as you like.
"""
import django

from pinboard.settings import *  # noqa: F401,F403
from pinboard.settings import MIDDLEWARE as _PROJECT_MIDDLEWARE

from .env import BUILD, caches, databases, env, env_bool, env_int, env_list

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env("DJANGO_SECRET_KEY", "build-time-only-not-a-secret" if BUILD else None)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS")

# Django checks the Origin of unsafe requests against these; by default every
# allowed host over HTTPS. Django before 4.0 wants them without the scheme.
CSRF_TRUSTED_ORIGINS = env_list(
    "DJANGO_CSRF_TRUSTED_ORIGINS",
    ",".join(f"https://{h.lstrip('.')}" for h in ALLOWED_HOSTS if h != "*" and not h.startswith(".")),
)
if django.VERSION < (4, 0):
    CSRF_TRUSTED_ORIGINS = [o.split("://", 1)[-1] for o in CSRF_TRUSTED_ORIGINS]

DATABASES = databases()
if django.VERSION >= (4, 1):
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

CACHES = caches()
SESSION_ENGINE = "django.contrib.sessions.backends.cache"

# The health middleware answers /healthz and /readyz before anything else:
# before the host check and the HTTPS redirect, which health checks from
# inside the stack would fail.
MIDDLEWARE = ["muelle_settings.health.HealthCheckMiddleware"] + [
    m for m in _PROJECT_MIDDLEWARE if m != "muelle_settings.health.HealthCheckMiddleware"
]
if "django.middleware.security.SecurityMiddleware" not in MIDDLEWARE:
    MIDDLEWARE.insert(1, "django.middleware.security.SecurityMiddleware")

# Collected into the image at build time; copied into the volume nginx serves.
STATIC_URL = "/static/"
STATIC_ROOT = "/srv/static-build"
MEDIA_URL = "/media/"
MEDIA_ROOT = "/srv/media"

# HTTPS ends at nginx, which says so in X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
SECURE_REDIRECT_EXEMPT = [r"^healthz/?$", r"^readyz/?$"]
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"

# One JSON object per line on stdout, for `docker compose logs` and log shippers.
LOG_LEVEL = env("DJANGO_LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "muelle_settings.jsonlog.JSONFormatter"}},
    "handlers": {
        "stdout": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "json"}
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["stdout"], "level": LOG_LEVEL, "propagate": False},
        "django.security.DisallowedHost": {"handlers": ["stdout"], "level": "ERROR", "propagate": False},
    },
}
