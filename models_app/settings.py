"""Minimal settings for running the models_app tests (SQLite in memory).

The portability harness replaces DATABASES to target each server.
"""

SECRET_KEY = "django-insecure-models-app-test-key"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "models_app",
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": ":memory:",
    }
}

USE_TZ = True
TIME_ZONE = "UTC"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
