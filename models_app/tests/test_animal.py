from django.test import TestCase

from models_app.models import Animal


class AnimalTests(TestCase):
    def test_speak(self):
        Animal.objects.create(name="lion", sound="roar")
        Animal.objects.create(name="cat", sound="meow")
        self.assertEqual(Animal.objects.get(name="lion").speak(), 'The lion says "roar"')
        self.assertEqual(Animal.objects.get(name="cat").speak(), 'The cat says "meow"')
