"""The default navigation: one item per page of the spec's route table (migration 0001 seeds a frozen copy)."""

# label, icon, link, requires_role, position, parent label
DEFAULT_NAVIGATION = [
    ("Chat", "chat", "/chat", "user", 10, None),
    ("Archive", "archive", "/chat/archive", "user", 20, None),
    ("Search", "search", "/chat/search", "user", 30, None),
    ("Prompts", "book", "/prompts", "user", 40, None),
    ("Ideas", "bulb", "/ideas", "user", 50, None),
    ("Projects", "folder", "/projects", "user", 60, None),
    ("Billing", "card", "/billing", "user", 70, None),
    ("Moderation", "shield", "/moderation/prompts", "moderator", 80, None),
    ("Admin", "gear", "/admin", "admin", 90, None),
    ("Users", "users", "/admin/users", "admin", 100, "Admin"),
    ("Models", "cpu", "/admin/models", "admin", 110, "Admin"),
    ("Navigation", "menu", "/admin/navigation", "admin", 120, "Admin"),
    ("Audit log", "list", "/admin/audit", "admin", 130, "Admin"),
    ("Usage", "chart", "/admin/usage", "admin", 140, "Admin"),
]
