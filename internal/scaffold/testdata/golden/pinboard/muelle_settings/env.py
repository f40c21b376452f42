"""Reading settings from the environment, written by muelle init.

MUELLE_BUILD=1 is set while the image is built (collectstatic): then missing
variables are allowed, so that no secret is needed, or baked, at build time.
"""
import os
from urllib.parse import quote

from django.core.exceptions import ImproperlyConfigured

BUILD = os.environ.get("MUELLE_BUILD") == "1"


def env(name, default=None):
    """The variable's value; its default; or an error naming it."""
    value = os.environ.get(name, "").strip()
    if value:
        return value
    if default is not None:
        return default
    if BUILD:
        return ""
    raise ImproperlyConfigured(
        f"{name} is not set: add it to .env.production (see .env.production.example)"
    )


def env_bool(name, default):
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean: use true or false")


def env_int(name, default):
    value = env(name, str(default))
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number") from None


def env_list(name, default=""):
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


def databases():
    """PostgreSQL, reached on the stack's internal network."""
    return {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": env("POSTGRES_DB"),
            "USER": env("POSTGRES_USER"),
            "PASSWORD": env("POSTGRES_PASSWORD"),
            "HOST": env("POSTGRES_HOST", "db"),
            "PORT": env("POSTGRES_PORT", "5432"),
            # Persistent connections: one per worker, reused across requests.
            "CONN_MAX_AGE": env_int("DJANGO_CONN_MAX_AGE", 60),
            "OPTIONS": {"connect_timeout": 3},
        }
    }


def redis_url():
    url = os.environ.get("REDIS_URL", "").strip()
    if url:
        return url
    password = quote(env("REDIS_PASSWORD"), safe="")
    return f"redis://:{password}@{env('REDIS_HOST', 'redis')}:{env('REDIS_PORT', '6379')}/0"


def caches():
    """Redis through django-redis, with short timeouts so a stuck Redis
    fails a request quickly instead of hanging it."""
    return {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": redis_url(),
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 2,
                "SOCKET_TIMEOUT": 2,
            },
        }
    }
