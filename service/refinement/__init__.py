"""Refinement of the existing backlog: quality findings, rewrites, splits and estimates for review."""
