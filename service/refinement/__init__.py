"""Refinement of the existing backlog: quality findings, rewrites, splits, estimates and labels for review."""
