"""A person's inbox: mentions, suggestions given to them, and comments and decisions on the suggestions they follow
(written by `service.core.notifications`), to read and mark read, and to watch or mute a suggestion; the routes,
`refinery inbox` and the desk's Inbox."""
