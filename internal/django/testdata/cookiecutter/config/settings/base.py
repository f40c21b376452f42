"""Base settings to build other settings files upon."""
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve(strict=True).parent.parent.parent
APPS_DIR = BASE_DIR / "myproj"
env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", False)
DATABASES = {"default": env.db("DATABASE_URL")}
ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

LOCAL_APPS = [
    "myproj.users",
]

STATIC_ROOT = str(BASE_DIR / "staticfiles")
STATIC_URL = "/static/"
MEDIA_URL = "/media/"
