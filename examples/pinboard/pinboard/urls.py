from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("board.urls")),
]

# Development only: in production nginx serves media files.
urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
