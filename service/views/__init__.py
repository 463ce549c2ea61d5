"""Saved views: named views of the review queue or the backlog (a tab and its filters), shared with the project."""
