"""Talking to language models: one small interface (base), one module per provider, the registry
that names them, and pricing. Pure library code: nothing here knows about Flask or the database."""
