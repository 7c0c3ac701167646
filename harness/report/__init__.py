"""Renderers: each takes the backends, the comparison and findings, and writes one format."""
