from django.urls import path

from . import views

app_name = "board"

urlpatterns = [
    path("", views.index, name="index"),
    path("api/pins/", views.api_pins, name="api-pins"),
    path("api/pins/<int:pk>/", views.api_pin, name="api-pin"),
    path("health/", views.health, name="health"),
]
