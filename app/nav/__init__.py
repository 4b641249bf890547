"""The navigation bar as data (seed 003 `navigation_items`), filtered by role."""
