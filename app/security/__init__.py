"""Roles, the permission decorator, safe redirects, response headers and the audit log."""
