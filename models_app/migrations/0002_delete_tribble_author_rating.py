"""The lecture's example migration: drop Tribble, add Author.rating."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("models_app", "0001_initial")]

    operations = [
        migrations.DeleteModel("Tribble"),
        migrations.AddField("Author", "rating", models.IntegerField(default=0)),
    ]
