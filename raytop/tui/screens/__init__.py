"""Screens pushed over the overview: operator detail, plan, help, dataset picker, go-to-time."""
