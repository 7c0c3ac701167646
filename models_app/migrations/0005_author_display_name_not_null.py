"""Rollout step 3 of 3: make display_name NOT NULL once every row has a value."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("models_app", "0004_backfill_author_display_name")]

    operations = [
        migrations.AlterField(
            model_name="author",
            name="display_name",
            field=models.CharField(max_length=100),
        ),
    ]
