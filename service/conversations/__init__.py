"""Conversations: meeting transcripts and chat threads become reviewed suggestions."""
