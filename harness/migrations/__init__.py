"""`portability migrations`: apply, reverse, introspect and lint migrations on every backend."""
