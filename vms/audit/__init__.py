"""The tamper-evident audit log (INV-4, ACC-6)."""
