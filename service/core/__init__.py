"""What every feature shares: settings, database, tables, the suggestion lifecycle, errors, the runtime."""
