"""Models from the lecture on Django's ORM."""


from django.db import models

from .managers import DahlBookManager, GradeRecordQuerySet, TimespanQuerySet


# Polls tutorial
class Question(models.Model):
    question_text = models.CharField(max_length=200)
    pub_date = models.DateTimeField("date published")

    def __str__(self):
        return self.question_text


class Choice(models.Model):
    question = models.ForeignKey(Question, on_delete=models.CASCADE)
    choice_text = models.CharField(max_length=200)
    votes = models.IntegerField(default=0)

    def __str__(self):
        return self.choice_text


# Multi-table inheritance: each Restaurant row points at its Place row.
class Place(models.Model):
    name = models.CharField(max_length=50)
    address = models.CharField(max_length=80)

    def __str__(self):
        return self.name


class Restaurant(Place):
    serves_hot_dogs = models.BooleanField(default=False)
    serves_pizza = models.BooleanField(default=False)


# Managers
class Book(models.Model):
    title = models.CharField(max_length=100)
    author = models.CharField(max_length=50)

    objects = models.Manager()
    dahl_objects = DahlBookManager()

    def __str__(self):
        return self.title


# Migrations: rating comes from 0002, display_name from the 0003-0005 rollout.
class Author(models.Model):
    name = models.CharField(max_length=100)
    rating = models.IntegerField(default=0)
    display_name = models.CharField(max_length=100)

    def __str__(self):
        return self.name


# Computed values: in Python (property) or in SQL (annotation).
class Timespan(models.Model):
    start = models.DateTimeField()
    end = models.DateTimeField()

    objects = TimespanQuerySet.as_manager()

    @property
    def duration(self):
        """end - start, computed in Python (the SQL side is ``Timespan.objects.with_duration()``)."""
        return self.end - self.start


# Behaviour on models
class Animal(models.Model):
    name = models.CharField(max_length=50)
    sound = models.CharField(max_length=50)

    def speak(self):
        return f'The {self.name} says "{self.sound}"'


# Append-only history: a change is a new row, never an UPDATE.
class GradeRecord(models.Model):
    name = models.CharField(max_length=100)
    grade = models.CharField(max_length=2)
    tstamp = models.DateTimeField()

    objects = GradeRecordQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "tstamp"], name="unique_graderecord_name_tstamp")]

    def __str__(self):
        return f"{self.name}: {self.grade} at {self.tstamp.isoformat()}"
