"""Development settings for compose.yaml, written by muelle init: the
project's own settings (pinboard.settings) with PostgreSQL and Redis from
the development stack, DEBUG on and the health endpoints of production."""
from pinboard.settings import *  # noqa: F401,F403
from pinboard.settings import MIDDLEWARE as _PROJECT_MIDDLEWARE

from .env import caches, databases, env_list

DEBUG = True
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
DATABASES = databases()
CACHES = caches()
SESSION_ENGINE = "django.contrib.sessions.backends.cache"
MIDDLEWARE = ["muelle_settings.health.HealthCheckMiddleware"] + list(_PROJECT_MIDDLEWARE)
