"""ASGI entry point of the pinboard project."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pinboard.settings")

application = get_asgi_application()
