"""Changing a job's Ray Data settings without editing it (`raytop run --set`), and measuring
whether a change helps (`raytop tune`)."""
