"""The LLM layer: one interface for schema-constrained JSON from any model, with validation, bounded re-ask,
streaming of completed fields, a fair line in front of the model, and recovery when a model server fails.

Public face: `build_llm(LLMConfig(...))`, `LLMSettings` (that config from the environment),
`LLM.complete_structured`, `StructuredResult`, `CallRecord`, `CallEvent` and `Listener` (streaming), `LLMUnavailable`,
`fake_llm` (tests).
"""

from pipelines.llm.core import (
    LLM,
    CallEvent,
    CallRecord,
    Listener,
    LLMUnavailable,
    StructuredResult,
    describe_validation_error,
)
from pipelines.llm.fake import fake_llm
from pipelines.llm.providers import LLMConfig, LLMSettings, build_llm, default_threads, local_server, wire_schema

__all__ = [
    "LLM",
    "CallEvent",
    "CallRecord",
    "LLMConfig",
    "LLMSettings",
    "LLMUnavailable",
    "Listener",
    "StructuredResult",
    "build_llm",
    "default_threads",
    "describe_validation_error",
    "fake_llm",
    "local_server",
    "wire_schema",
]
