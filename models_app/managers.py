"""Custom managers and querysets for models_app."""

from django.db import models
from django.db.models import F, Max, OuterRef, Subquery


class DahlBookManager(models.Manager):
    """Only the books written by Roald Dahl."""

    def get_queryset(self):
        return super().get_queryset().filter(author="Roald Dahl")


class TimespanQuerySet(models.QuerySet):
    def with_duration(self):
        """Annotate each row with ``sql_duration = end - start``, computed by the database.

        Named apart from the model's Python ``duration`` property, which it must agree with.
        """
        return self.annotate(sql_duration=F("end") - F("start"))


class GradeRecordQuerySet(models.QuerySet):
    def as_of(self, qtime):
        """Return each student's latest grade recorded strictly before ``qtime``.

        One row per name, ordered by name. Names with no record before
        ``qtime`` are left out.
        """
        latest_tstamp = (
            self.model._default_manager.filter(name=OuterRef("name"), tstamp__lt=qtime)
            .order_by()
            .values("name")
            .annotate(latest=Max("tstamp"))
            .values("latest")
        )
        # [:1] states the single row the subquery yields (Django 6.1 insists on it).
        return self.filter(tstamp=Subquery(latest_tstamp[:1])).order_by("name")
