"""Ops of the nasbench201 spaces (being written)."""
