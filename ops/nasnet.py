"""Ops of the nasnet spaces (being written)."""
