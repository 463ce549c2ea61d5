"""Feedback ingestion: ticket files -> triage -> themes -> evidence and story drafts for review."""
