"""Shared model building blocks; each domain keeps its own models module."""
