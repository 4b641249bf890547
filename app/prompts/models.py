"""Prompts, tags and usage (seed 003 `prompt_library`, `prompt_tags`, `prompt_library_tags`, `prompt_usage_events`)."""
