"""Duplicate detection: what is indexed, checks on new drafts, merge suggestions, search, reindex."""

from service.duplicates.index import (
    calibration,
    detector,
    drafts_duplicates,
    in_this_project,
    index,
    item_document,
    item_document_id,
    item_duplicates,
    items_duplicates,
    reindex,
    search_text,
    suggestion_document_id,
    ticket_document,
    unindex,
)
from service.duplicates.service import (
    accept_merge,
    check_new_draft,
    detector_proposal,
    draft_decided,
    draft_reopened,
    merge_decided,
)

__all__ = [
    "accept_merge",
    "calibration",
    "check_new_draft",
    "detector",
    "drafts_duplicates",
    "detector_proposal",
    "in_this_project",
    "draft_decided",
    "draft_reopened",
    "index",
    "item_document",
    "item_document_id",
    "item_duplicates",
    "items_duplicates",
    "merge_decided",
    "reindex",
    "search_text",
    "suggestion_document_id",
    "ticket_document",
    "unindex",
]
