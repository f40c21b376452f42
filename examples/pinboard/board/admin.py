from django.contrib import admin

from .models import Board, Pin


@admin.register(Board)
class BoardAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "created_at")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Pin)
class PinAdmin(admin.ModelAdmin):
    list_display = ("title", "board", "created_by", "created_at")
    list_filter = ("board",)
    search_fields = ("title", "body")
