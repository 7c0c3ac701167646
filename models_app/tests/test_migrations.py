from io import StringIO

from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import TestCase, TransactionTestCase

APP = "models_app"
NULLABLE = (APP, "0003_author_display_name")
NOT_NULL = (APP, "0005_author_display_name_not_null")


class DisplayNameRolloutTests(TransactionTestCase):
    """Run the 0003-0005 rollout forwards and backwards on real data.

    Migrations change the schema, so this cannot run inside TestCase's
    transaction (nor could it on MariaDB, whose DDL commits implicitly).
    """

    available_apps = [APP]
    # The flush after each test only has to empty this app's tables; no
    # other test relies on rows created by migrations.
    serialized_rollback = False

    def setUp(self):
        # Registered first so the schema is restored even if a test fails.
        self.addCleanup(self.migrate_to_latest)
        self.migrate(NULLABLE)

    def migrate(self, target):
        executor = MigrationExecutor(connection)
        executor.migrate([target])
        executor.loader.build_graph()
        return executor.loader.project_state(target).apps.get_model(APP, "Author")

    def migrate_to_latest(self):
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes(APP))

    def test_forward_backfills_and_reverse_clears(self):
        Author = self.migrate(NULLABLE)
        Author.objects.create(name="Roald Dahl")
        Author.objects.create(name="Jane Austen", display_name="Miss Austen")

        Author = self.migrate(NOT_NULL)
        self.assertEqual(
            list(Author.objects.order_by("name").values_list("name", "display_name")),
            [("Jane Austen", "Miss Austen"), ("Roald Dahl", "Roald Dahl")],
        )

        Author = self.migrate(NULLABLE)
        self.assertEqual(
            list(Author.objects.order_by("name").values_list("name", "display_name")),
            [("Jane Austen", None), ("Roald Dahl", None)],
        )

    def test_display_name_is_not_null_after_rollout(self):
        self.migrate(NOT_NULL)
        with connection.cursor() as cursor:
            columns = connection.introspection.get_table_description(cursor, "models_app_author")
        null_ok = {column.name: column.null_ok for column in columns}
        # assertFalse, not assertIs(..., False): MySQL introspection gives 0/1.
        self.assertFalse(null_ok["display_name"])


class MigrationStateTests(TestCase):
    def test_models_match_migrations(self):
        # Exits with status 1 if makemigrations would write anything.
        call_command("makemigrations", APP, check=True, dry_run=True, stdout=StringIO())
