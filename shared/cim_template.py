"""The custom IM ``extension``: the bounds every extension keeps, which ``extension`` fields
the operator's notification centre accepts (``BLINDPOST_CIM_TEMPLATE``), and the check of one
extension against them.  Intake checks both before it answers (error 2), so a message it
accepts is one every later stage can read and the dispatcher can send; the dispatcher checks
the template again when it sends (the template may have changed in between).

The template is JSON: ``{"title": {"type": "string", "required": true},
"action": {"type": "choice", "choices": ["BUY", "SELL"]}, "urgent": {"type": "boolean"},
"image": {"type": "media_url"}}``.  Errors name the field, never its value.
"""

from __future__ import annotations

import json
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.settings import SettingsError

# Far beyond any template (whose fields are flat), far below the nesting at which the JSON
# parsers of the later stages give up (about 200 levels): an extension intake accepts is
# one they can read.
MAX_DEPTH = 8
MAX_KEYS = 256
MAX_BYTES = 64 * 1024


class FieldSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    type: Literal["string", "choice", "boolean", "media_url"]
    required: bool = False
    choices: list[str] = Field(default_factory=list)
    max_length: int = Field(4000, ge=1)

    @model_validator(mode="after")
    def _choices_for_choice(self) -> FieldSpec:
        if self.type == "choice" and not self.choices:
            raise ValueError("a choice field needs choices")
        return self


class InvalidExtension(ValueError):
    """``str()`` names the field, never its value."""


def check_bounds(extension: dict[str, Any]) -> None:
    """Depth, key count and encoded size; iterative, so no depth can exhaust the stack."""
    keys = 0
    pending: list[tuple[Any, int]] = [(extension, 1)]
    while pending:
        value, depth = pending.pop()
        if not isinstance(value, dict | list):
            continue
        if depth > MAX_DEPTH:
            raise InvalidExtension(f"extension is nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            keys += len(value)
            if keys > MAX_KEYS:
                raise InvalidExtension(f"extension has more than {MAX_KEYS} keys")
            value = list(value.values())
        pending.extend((item, depth + 1) for item in value)
    if len(json.dumps(extension, ensure_ascii=False).encode()) > MAX_BYTES:
        raise InvalidExtension(f"extension is larger than {MAX_BYTES} bytes")


class CimTemplate(BaseModel):
    model_config = ConfigDict(frozen=True)
    fields: dict[str, FieldSpec]
    allow_unknown: bool = False

    @classmethod
    def parse(cls, text: str | None) -> CimTemplate | None:
        """None (no template configured): any extension object is passed on as it is."""
        if not text:
            return None
        return cls(fields=json.loads(text))

    @classmethod
    def from_setting(cls, text: str | None) -> CimTemplate | None:
        """:meth:`parse` for a service's start: a bad template stops it, named, not shown."""
        try:
            return cls.parse(text)
        except ValueError:
            raise SettingsError(
                "BLINDPOST_CIM_TEMPLATE: not a valid template (docs/dispatch.md)"
            ) from None

    def validate_extension(self, extension: dict[str, Any] | None) -> None:
        extension = extension or {}
        for name, spec in self.fields.items():
            if name not in extension or extension[name] is None:
                if spec.required:
                    raise InvalidExtension(f"extension.{name} is required")
                continue
            _check(name, spec, extension[name])
        unknown = sorted(set(extension) - set(self.fields))
        if unknown and not self.allow_unknown:
            raise InvalidExtension(
                f"extension fields not in the template: {', '.join(unknown)[:200]}"
            )


def _check(name: str, spec: FieldSpec, value: Any) -> None:
    if spec.type == "boolean":
        if not isinstance(value, bool):
            raise InvalidExtension(f"extension.{name} must be a boolean")
        return
    if not isinstance(value, str):
        raise InvalidExtension(f"extension.{name} must be a string")
    if len(value) > spec.max_length:
        raise InvalidExtension(f"extension.{name} is longer than {spec.max_length}")
    if spec.type == "choice" and value not in spec.choices:
        raise InvalidExtension(f"extension.{name} is not one of the template's choices")
    if spec.type == "media_url":
        try:
            parts = urlsplit(value)
        except ValueError:  # e.g. an unclosed IPv6 bracket
            raise InvalidExtension(f"extension.{name} must be an https URL") from None
        if parts.scheme != "https" or not parts.netloc:
            raise InvalidExtension(f"extension.{name} must be an https URL")
