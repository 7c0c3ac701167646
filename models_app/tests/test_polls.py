from datetime import UTC, datetime

from django.db.models import Sum
from django.test import TestCase

from models_app.models import Choice, Question

PUB_DATE = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


class ChoiceQueryTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.colour = Question.objects.create(question_text="Favourite colour?", pub_date=PUB_DATE)
        cls.pet = Question.objects.create(question_text="Favourite pet?", pub_date=PUB_DATE)
        # Distinct vote counts, so ordering by votes is total.
        for question, choice_text, votes in [
            (cls.colour, "Red", 3),
            (cls.colour, "Blue", 7),
            (cls.colour, "Green", 2),
            (cls.pet, "Cat", 5),
            (cls.pet, "Dog", 4),
        ]:
            Choice.objects.create(question=question, choice_text=choice_text, votes=votes)

    def test_most_voted_choice(self):
        top = Choice.objects.order_by("-votes")[0]
        self.assertEqual((top.choice_text, top.votes), ("Blue", 7))
        self.assertEqual(top.question, self.colour)

    def test_total_votes_per_question(self):
        totals = Choice.objects.values("question").annotate(total_votes=Sum("votes")).order_by("question")
        expected = sorted(
            [
                {"question": self.colour.pk, "total_votes": 12},
                {"question": self.pet.pk, "total_votes": 9},
            ],
            key=lambda row: row["question"],
        )
        self.assertEqual(list(totals), expected)

    def test_choices_deleted_with_their_question(self):
        self.pet.delete()
        self.assertQuerySetEqual(
            Choice.objects.order_by("choice_text").values_list("choice_text", flat=True),
            ["Blue", "Green", "Red"],
        )
