"""Rollout step 2 of 3: fill display_name from name for rows that lack one."""

from django.db import migrations
from django.db.models import F


def fill_display_name(apps, schema_editor):
    Author = apps.get_model("models_app", "Author")
    # Only NULL rows, so values already written by new code are kept and a
    # rerun after a partial failure is harmless.
    Author.objects.filter(display_name__isnull=True).update(display_name=F("name"))


def clear_display_name(apps, schema_editor):
    Author = apps.get_model("models_app", "Author")
    Author.objects.update(display_name=None)


class Migration(migrations.Migration):
    dependencies = [("models_app", "0003_author_display_name")]

    operations = [migrations.RunPython(fill_display_name, reverse_code=clear_display_name)]
