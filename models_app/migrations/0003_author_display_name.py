"""Rollout step 1 of 3: add display_name as a nullable column."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("models_app", "0002_delete_tribble_author_rating")]

    operations = [
        migrations.AddField(
            model_name="author",
            name="display_name",
            field=models.CharField(max_length=100, null=True),
        ),
    ]
