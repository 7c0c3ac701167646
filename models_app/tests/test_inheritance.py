from django.test import TestCase

from models_app.models import Place, Restaurant


class MultiTableInheritanceTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.restaurant = Restaurant.objects.create(name="Bob's Cafe", address="1 Main St", serves_hot_dogs=True)
        cls.park = Place.objects.create(name="City Park", address="2 Elm St")

    def test_restaurant_row_links_to_its_place_row(self):
        place = Place.objects.get(name="Bob's Cafe")
        self.assertEqual(self.restaurant.place_ptr_id, place.pk)
        self.assertEqual(self.restaurant.pk, place.pk)

    def test_place_reaches_its_restaurant(self):
        restaurant = Place.objects.get(name="Bob's Cafe").restaurant
        self.assertEqual(restaurant, self.restaurant)
        self.assertIs(restaurant.serves_hot_dogs, True)
        self.assertIs(restaurant.serves_pizza, False)

    def test_plain_place_has_no_restaurant(self):
        park = Place.objects.get(name="City Park")
        self.assertFalse(hasattr(park, "restaurant"))

    def test_fields_are_shared(self):
        restaurant = Restaurant.objects.get(address="1 Main St")
        self.assertEqual(restaurant.name, "Bob's Cafe")

        Place.objects.filter(pk=restaurant.pk).update(name="Bob's Diner")
        restaurant.refresh_from_db()
        self.assertEqual(restaurant.name, "Bob's Diner")

    def test_every_restaurant_is_a_place(self):
        self.assertQuerySetEqual(
            Place.objects.order_by("name").values_list("name", flat=True),
            ["Bob's Cafe", "City Park"],
        )
        self.assertQuerySetEqual(Restaurant.objects.values_list("name", flat=True), ["Bob's Cafe"])
