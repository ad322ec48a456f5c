"""Backup sets of an installation and their restore (docs/design/backup.md)."""
