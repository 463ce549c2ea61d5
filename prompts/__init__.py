"""Versioned prompt templates, one YAML file per prompt, validated at load time.

Templates use `$name` placeholders (string.Template); a missing variable is an error, never an empty string.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from string import Template
from typing import Any

import yaml
from pydantic import BaseModel, Field, model_validator

PROMPTS_DIR = Path(__file__).parent


class Example(BaseModel):
    """A worked input/output pair shown to the model before the real input."""

    input: dict[str, Any]
    output: dict[str, Any]


class PromptTemplate(BaseModel):
    """One prompt file: identity, version, the schema it targets, and its templates."""

    id: str
    version: str
    description: str = ""
    schema_name: str = Field(alias="schema", description="Name of the pydantic model the reply must match.")
    system: str
    user: str
    reask: str = Field(description="Sent after an invalid reply; `$error` is the validation error.")
    examples: list[Example] = []

    @model_validator(mode="after")
    def _templates_parse(self) -> PromptTemplate:
        for name in ("system", "user", "reask"):
            if not Template(getattr(self, name)).is_valid():
                raise ValueError(f"prompt {self.id}: invalid placeholder in {name!r}")
        return self

    @property
    def variables(self) -> set[str]:
        """Placeholders the user template needs."""
        return set(Template(self.user).get_identifiers())

    def render_user(self, **variables: str) -> str:
        """Fill the user template; raises KeyError naming a missing variable."""
        missing = self.variables - variables.keys()
        if missing:
            raise KeyError(f"prompt {self.id} needs variables {sorted(missing)}")
        return Template(self.user).substitute(variables)

    def render_reask(self, error: str) -> str:
        return Template(self.reask).substitute(error=error)

    def messages(self, **variables: str) -> list[dict[str, str]]:
        """System message, the worked examples as prior turns, then the filled user message."""
        turns = [{"role": "system", "content": self.system.strip()}]
        for example in self.examples:
            turns.append({"role": "user", "content": self.render_user(**example.input)})
            turns.append({"role": "assistant", "content": json.dumps(example.output, ensure_ascii=False)})
        turns.append({"role": "user", "content": self.render_user(**variables)})
        return turns


@cache
def load_prompt(prompt_id: str) -> PromptTemplate:
    """Load and validate `prompts/<prompt_id>.yaml`."""
    path = PROMPTS_DIR / f"{prompt_id}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no prompt file {path}")
    return PromptTemplate.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
