from django.test import TestCase

from models_app.models import Book


class BookManagerTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        for title, author in [
            ("Matilda", "Roald Dahl"),
            ("The BFG", "Roald Dahl"),
            ("Emma", "Jane Austen"),
        ]:
            Book.objects.create(title=title, author=author)

    def test_objects_returns_every_book(self):
        self.assertQuerySetEqual(
            Book.objects.order_by("title").values_list("title", flat=True),
            ["Emma", "Matilda", "The BFG"],
        )

    def test_dahl_objects_returns_only_dahl_books(self):
        self.assertQuerySetEqual(
            Book.dahl_objects.order_by("title").values_list("title", flat=True),
            ["Matilda", "The BFG"],
        )

    def test_dahl_objects_filters_compose(self):
        self.assertFalse(Book.dahl_objects.filter(title="Emma").exists())
        self.assertEqual(Book.dahl_objects.filter(title__startswith="The").count(), 1)

    def test_objects_is_the_default_manager(self):
        self.assertIs(Book._default_manager, Book.objects)
