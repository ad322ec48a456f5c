"""Users, roles, passwords, tokens and the permission table."""
