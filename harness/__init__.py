"""Run one Django test suite on every database it claims to support and report the differences."""

__version__ = "0.1.0"
