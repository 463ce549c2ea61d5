"""Sending backlog items to the team's tracker (Jira Cloud, GitHub issues): created there, or updated when changed."""
