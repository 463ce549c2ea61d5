"""A person's inbox: mentions, suggestions given to them, and comments and decisions on those (written by
`service.core.notifications`), to read and mark read; the routes, `refinery inbox` and the desk's Inbox."""
