"""The release this process runs, so two releases can be told apart.

muelle sets MUELLE_RELEASE in the containers it starts; an image may also
carry a RELEASE file at the project root. Development falls back to "dev".
"""
import functools
import os

from django.conf import settings


@functools.lru_cache(maxsize=1)
def current_release():
    for name in ("MUELLE_RELEASE", "APP_RELEASE"):
        value = os.environ.get(name, "").strip()
        if value:
            return value
    path = settings.BASE_DIR / "RELEASE"
    try:
        return path.read_text().strip() or "dev"
    except OSError:
        return "dev"


def context_processor(request):
    return {"release": current_release()}
