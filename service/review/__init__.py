"""Review: a person accepts (maybe with edits) or rejects every suggestion; the suggestions routes."""
