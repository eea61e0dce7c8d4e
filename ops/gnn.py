"""Ops of the gnn spaces (being written)."""
