"""Creates the board new pins go to when none is chosen (reversible)."""
from django.db import migrations


def create_default_board(apps, schema_editor):
    Board = apps.get_model("board", "Board")
    Board.objects.get_or_create(slug="general", defaults={"name": "General"})


def remove_default_board(apps, schema_editor):
    Board = apps.get_model("board", "Board")
    Board.objects.filter(slug="general", pins__isnull=True).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("board", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(create_default_board, remove_default_board),
    ]
