"""Webhooks: a project's events (suggestions created, decided, reopened, assigned; comments; jobs ended) POSTed to URLs
an admin sets, signed, retried, with each delivery's outcome kept; the routes, the sender and `refinery webhook`."""
