"""The request bodies of the Smartico contract, field names exactly as Smartico sends them.

Unknown fields are ignored (Smartico may add some); a field of the wrong type is refused
rather than coerced, so a number where a string belongs is reported, not silently turned
into text.  Validation messages name fields, never values: a value may be an address.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError, field_validator

from shared.cim_template import CimTemplate, InvalidExtension, check_bounds
from shared.domain import Channel
from shared.events import MessageContent

ACTIVITY_TYPES = ("preview", "Unknown", "EmailCustomerSupport")

Uid = Annotated[StrictStr, Field(min_length=1, max_length=256)]
# No control characters: ids are database keys (PostgreSQL text cannot hold NUL) and log values.
UserId = Annotated[StrictStr, Field(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$")]
Text = Annotated[StrictStr, Field(max_length=1_000_000)]


class InvalidRequest(ValueError):
    """Error 2; ``str()`` names the field and the problem, never the value."""


def check_callback_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http or https URL")
    if len(value) > 2048:
        raise ValueError("must be at most 2048 characters")
    return value


class _Base(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    ext_user_id: UserId
    body: Text
    callback_url: Annotated[StrictStr, Field(min_length=1)]

    @field_validator("callback_url")
    @classmethod
    def _callback_url(cls, value: str) -> str:
        return check_callback_url(value)

    @property
    def uid(self) -> str:
        raise NotImplementedError


class EmailRequest(_Base):
    from_email_address: Annotated[StrictStr, Field(min_length=1, max_length=1000)]
    reply_to_email_address: Annotated[StrictStr, Field(max_length=1000)] | None = None
    subject: Annotated[StrictStr, Field(max_length=10_000)]
    text_body: Text | None = None
    email_uid: Uid
    activity_type: Literal["preview", "Unknown", "EmailCustomerSupport"] | None = None
    to_email_address: StrictStr | None = Field(default=None, repr=False)

    @field_validator("activity_type", mode="before")
    @classmethod
    def _blank_is_absent(cls, value: Any) -> Any:
        return None if value == "" else value

    @property
    def uid(self) -> str:
        return self.email_uid

    @property
    def is_preview(self) -> bool:
        """Contract: with ``activity_type`` the address comes from the request, not the
        user's profile.  Without it a ``to_email_address`` is ignored."""
        return self.activity_type is not None

    def content(self) -> MessageContent:
        return MessageContent(
            subject=self.subject,
            body=self.body,
            text_body=self.text_body,
            from_email_address=self.from_email_address,
            reply_to_email_address=self.reply_to_email_address,
        )


class ImRequest(_Base):
    """SMS, Viber and WhatsApp share this body."""

    from_number: Annotated[StrictStr, Field(max_length=64)] | None = None
    im_uid: Uid

    @property
    def uid(self) -> str:
        return self.im_uid

    def content(self) -> MessageContent:
        return MessageContent(body=self.body, from_number=self.from_number)


class CimRequest(ImRequest):
    extension: dict[str, Any] | None = None

    def content(self) -> MessageContent:
        return MessageContent(
            body=self.body, from_number=self.from_number, extension=self.extension
        )


Request = EmailRequest | ImRequest | CimRequest

MODELS: dict[Channel, type[EmailRequest] | type[ImRequest] | type[CimRequest]] = {
    Channel.EMAIL: EmailRequest,
    Channel.SMS: ImRequest,
    Channel.VIBER: ImRequest,
    Channel.WHATSAPP: ImRequest,
    Channel.CIM: CimRequest,
}


def parse_request(channel: Channel, data: Any, cim_template: CimTemplate | None = None) -> Request:
    """Validate a decoded JSON body; raises :class:`InvalidRequest`.  A custom IM's
    ``extension`` is checked here, against its bounds and the configured template, so that
    one no later stage could read or send is refused now (error 2) rather than lost."""
    if not isinstance(data, dict):
        raise InvalidRequest("the request body must be a JSON object")
    try:
        request = MODELS[channel].model_validate(data)
    except ValidationError as exc:
        raise InvalidRequest(describe(exc)) from None
    if isinstance(request, EmailRequest) and request.is_preview:
        preview_address(request)  # validates it
    if isinstance(request, CimRequest) and request.extension is not None:
        try:
            check_bounds(request.extension)
            if cim_template is not None:
                cim_template.validate_extension(request.extension)
        except InvalidExtension as problem:
            raise InvalidRequest(f"invalid request: {problem}") from None
    return request


def preview_address(request: EmailRequest) -> str:
    """The normalised recipient of a preview; raises :class:`InvalidRequest`."""
    address = request.to_email_address
    if not address:
        raise InvalidRequest(
            f"to_email_address is required when activity_type is {request.activity_type!r}"
        )
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        raise InvalidRequest("to_email_address is not a valid e-mail address") from None


_MESSAGES = {
    "missing": "is required",
    "string_type": "must be a string",
    "dict_type": "must be an object",
    "string_too_short": "must not be empty",
    "literal_error": "must be one of " + ", ".join(ACTIVITY_TYPES),
    "string_pattern_mismatch": "must not contain control characters",
}


def describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_input=False, include_url=False, include_context=False):
        field = ".".join(str(part) for part in error["loc"] if not str(part).startswith("function"))
        field = field.split(".")[0] if error["type"] == "string_type" else field
        message = _MESSAGES.get(error["type"])
        if message is None:
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "string_too_long":
                message = error["msg"].replace("String should have", "must have")
        problems.append(f"{field} {message}")
    return "invalid request: " + "; ".join(problems)
