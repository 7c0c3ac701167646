"""Write a Django project whose test suite is dominated by ORM queries: recording's worst case.

A few models, thousands of tests, each running dozens of queries that return hundreds of
rows (filters, values(), values_list(), annotate, select_related, aggregates; ordered and
unordered), plus a few writes per test so written values and new keys are renamed. Used to
measure what recording costs where little else happens:

    .venv/bin/python benchmarks/generate_query_heavy.py /tmp/heavy
    .venv/bin/python benchmarks/recording_overhead.py --project-dir /tmp/heavy

The project is deterministic (a fixed seed): every run and every backend runs the same tests.
"""

from __future__ import annotations

import argparse
import random
import shutil
import textwrap
from pathlib import Path

PYPROJECT = """\
[tool.portability]
settings = "heavy.settings"
tests = ["heavy"]

[tool.pytest.ini_options]
python_files = ["test_*.py"]
"""

SETTINGS = """\
SECRET_KEY = "query-heavy-benchmark"
INSTALLED_APPS = ["django.contrib.contenttypes", "heavy"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
"""

MODELS = """\
from django.db import models


class Publisher(models.Model):
    name = models.CharField(max_length=100, unique=True)
    country = models.CharField(max_length=2)


class Author(models.Model):
    name = models.CharField(max_length=100)
    email = models.CharField(max_length=100, unique=True)
    born = models.DateField()
    rating = models.DecimalField(max_digits=6, decimal_places=2)


class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, models.CASCADE, related_name="books")
    publisher = models.ForeignKey(Publisher, models.CASCADE, related_name="books")
    pages = models.IntegerField()
    price = models.DecimalField(max_digits=8, decimal_places=2)
    score = models.FloatField()
    published = models.DateTimeField()
    in_print = models.BooleanField(default=True)
"""

MIGRATION = """\
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Publisher",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=100, unique=True)),
                ("country", models.CharField(max_length=2)),
            ],
        ),
        migrations.CreateModel(
            name="Author",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=100)),
                ("email", models.CharField(max_length=100, unique=True)),
                ("born", models.DateField()),
                ("rating", models.DecimalField(decimal_places=2, max_digits=6)),
            ],
        ),
        migrations.CreateModel(
            name="Book",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False)),
                ("title", models.CharField(max_length=200)),
                ("pages", models.IntegerField()),
                ("price", models.DecimalField(decimal_places=2, max_digits=8)),
                ("score", models.FloatField()),
                ("published", models.DateTimeField()),
                ("in_print", models.BooleanField(default=True)),
                ("author", models.ForeignKey(on_delete=models.CASCADE, related_name="books", to="heavy.author")),
                ("publisher", models.ForeignKey(on_delete=models.CASCADE, related_name="books", to="heavy.publisher")),
            ],
        ),
    ]
"""

MODULE_HEADER = """\
import datetime as dt
from decimal import Decimal

from django.db.models import Avg, Count, F, Max, Min, Q, Sum
from django.test import TestCase

from heavy.models import Author, Book, Publisher

UTC = dt.timezone.utc


class {name}(TestCase):
    @classmethod
    def setUpTestData(cls):
        publishers = Publisher.objects.bulk_create(
            [Publisher(name=f"Publisher {{i}}", country="FR" if i % 3 else "DE") for i in range({publishers})]
        )
        authors = [
            Author.objects.create(
                name=f"Author {{i % 37}}",
                email=f"author{{i}}@example.com",
                born=dt.date(1940 + i % 60, 1 + i % 12, 1 + i % 28),
                rating=Decimal(i % 500) / 100,
            )
            for i in range({authors})
        ]
        Book.objects.bulk_create(
            [
                Book(
                    title=f"Book {{i:04d}}",
                    author=authors[i % len(authors)],
                    publisher=publishers[i % len(publishers)],
                    pages=50 + (i * 37) % 900,
                    price=Decimal((i * 53) % 10000) / 100,
                    score=(i * 7919) % 1000 / 7.0,
                    published=dt.datetime(2000 + i % 24, 1 + i % 12, 1 + i % 28, i % 24, tzinfo=UTC),
                    in_print=i % 5 != 0,
                )
                for i in range({books})
            ]
        )
"""

# Each template is one statement of a test body; {a} and {b} are drawn per use.
QUERIES = [
    "list(Book.objects.filter(pages__gte={a}).order_by('id'))",
    "list(Book.objects.filter(pages__lt={b}))",
    "list(Book.objects.select_related('author', 'publisher').filter(price__lt={a}).order_by('-price', 'id'))",
    "list(Book.objects.values('id', 'title', 'price', 'published').filter(pages__gte={a}))",
    "list(Book.objects.values_list('title', 'author__name', 'score').order_by('title'))",
    "list(Book.objects.filter(Q(in_print=True) | Q(pages__gt={b})).values_list('id', 'author_id', 'publisher_id'))",
    "list(Author.objects.annotate(n=Count('books'), longest=Max('books__pages')).order_by('email'))",
    "list(Book.objects.values('author__name').annotate(total=Sum('pages'), avg=Avg('score')).order_by('author__name'))",
    "list(Book.objects.filter(published__year__gte=20{a2:02d}).only('id', 'title', 'published'))",
    "list(Book.objects.annotate(per_page=F('price') / F('pages')).filter(pages__gt={a}).order_by('id'))",
    "list(Author.objects.filter(born__lt=dt.date(19{a2:02d}, 6, 1)).values('name', 'email', 'born', 'rating'))",
    "list(Book.objects.filter(title__startswith='Book 0').values_list('title', flat=True))",
    "Book.objects.filter(pages__gte={a}).count()",
    "Book.objects.aggregate(Sum('pages'), Min('price'), Max('published'), Avg('score'))",
    "Book.objects.filter(author__rating__gte=Decimal('{r}')).exists()",
    "list(Book.objects.filter(publisher__country='FR').select_related('publisher').order_by('id')[:{b}])",
    "list(Publisher.objects.annotate(books_in_print=Count('books', filter=Q(books__in_print=True))))",
    "[book.author.name for book in Book.objects.select_related('author').filter(score__gt={s})]",
]

WRITES = [
    "Book.objects.create(title='New {i}', author=Author.objects.order_by('id').first(), "
    "publisher=Publisher.objects.order_by('id').first(), pages={a}, price=Decimal('{r}'), score={s}, "
    "published=dt.datetime(2020, 1, 1, tzinfo=UTC))",
    "Book.objects.filter(pages__lt={a}).update(in_print=False)",
    "Author.objects.filter(email='author{i3}@example.com').update(rating=Decimal('{r}'))",
]


def test_body(rng: random.Random, index: int, queries: int) -> str:
    lines = []
    for position in range(queries):
        if position % 8 == 7:
            template = rng.choice(WRITES)
        else:
            template = rng.choice(QUERIES)
        values = {
            "a": rng.randrange(50, 600),
            "b": rng.randrange(300, 950),
            "a2": rng.randrange(0, 24) if "20{a2" in template else rng.randrange(40, 99),
            "r": f"{rng.randrange(0, 500) / 100:.2f}",
            "s": rng.randrange(0, 140),
            "i": index,
            "i3": rng.randrange(0, 60),
        }
        lines.append(template.format(**values))
    return "\n".join(lines)


def write_project(
    out: Path, tests: int, per_module: int, queries: int, books: int, authors: int, publishers: int
) -> None:
    if out.exists():
        shutil.rmtree(out)
    app = out / "heavy"
    (app / "migrations").mkdir(parents=True)
    (app / "tests").mkdir()
    (out / "pyproject.toml").write_text(PYPROJECT)
    (app / "__init__.py").write_text("")
    (app / "settings.py").write_text(SETTINGS)
    (app / "models.py").write_text(MODELS)
    (app / "migrations" / "__init__.py").write_text("")
    (app / "migrations" / "0001_initial.py").write_text(MIGRATION)
    (app / "tests" / "__init__.py").write_text("")
    rng = random.Random(20240611)
    for module_index, start in enumerate(range(0, tests, per_module)):
        name = f"QueryHeavy{module_index:03d}Test"
        parts = [MODULE_HEADER.format(name=name, books=books, authors=authors, publishers=publishers)]
        for index in range(start, min(start + per_module, tests)):
            body = textwrap.indent(test_body(rng, index, queries), " " * 8)
            parts.append(f"    def test_{index:05d}(self):\n{body}\n")
        (app / "tests" / f"test_heavy_{module_index:03d}.py").write_text("\n".join(parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the project folder to (re)create")
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--per-module", type=int, default=100, help="tests per module (one TestCase class each)")
    parser.add_argument("--queries", type=int, default=24, help="statements per test")
    parser.add_argument("--books", type=int, default=300, help="rows of the largest table")
    parser.add_argument("--authors", type=int, default=60)
    parser.add_argument("--publishers", type=int, default=8)
    args = parser.parse_args()
    write_project(args.out, args.tests, args.per_module, args.queries, args.books, args.authors, args.publishers)
    print(f"wrote {args.tests} tests to {args.out}: run `portability run --project-dir {args.out}`")


if __name__ == "__main__":
    main()
