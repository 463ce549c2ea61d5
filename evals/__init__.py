"""Evaluation harness: an eval is dataset + solver + scorers (inspect_ai style)."""
