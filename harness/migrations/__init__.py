"""`portability migrations`: apply, reverse, introspect and lint migrations on every backend."""

# The step that creates the tables of apps without migrations (as `migrate --run-syncdb` does), named
# like a migration in the results.
RUN_SYNCDB = "run_syncdb"
