"""The backlog: accepted work, imported from and exported to Jira, Linear and GitHub."""
