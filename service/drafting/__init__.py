"""Drafting: raw ideas -> story draft suggestions, streamed as the model writes them."""
