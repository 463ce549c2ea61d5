"""Sending backlog items to the team's tracker (Jira Cloud, GitHub issues, Linear): created there, or updated when
changed here."""
