"""Ops of the mobile spaces (being written)."""
