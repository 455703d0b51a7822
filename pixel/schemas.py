"""The email API's request and response bodies; also the source of its OpenAPI schemas.

Answers are built as plain dicts (a batch answers 10,000 messages; a model per message
would cost more than minting it) in the shape the ``Out`` models document; the
schemathesis run holds the two together.
"""

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from pixel.models import Method, SuppressionKind, TrackingConsent, TrackingMode
from pixel.suppressions import CURSOR_RE

SITE_ID = r"^[a-z0-9][a-z0-9-]{0,62}$"
# A list name goes into List-Id (RFC 2919: a dot-atom), so only what a dot-atom allows.
LIST_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
MAX_BATCH = 10_000
# Visible text: no control characters (NUL included), which no id or name needs.
TEXT = r"^[^\x00-\x1f\x7f]+$"
RECIPIENT_ID_RE = re.compile(TEXT[1:-1])
MAX_RECIPIENT_ID = 255
Campaign = Annotated[str, Field(min_length=1, max_length=200, pattern=TEXT)]
RecipientId = Annotated[str, Field(min_length=1, max_length=MAX_RECIPIENT_ID, pattern=TEXT)]
# One "@" with something on each side and no spaces: whether it delivers is the sender's
# business; the address is only stored (masked display) and hashed (suppression).
Email = Annotated[str, Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")]
ListName = Annotated[str, Field(pattern=LIST_NAME)]
SiteId = Annotated[str, Field(pattern=SITE_ID)]
# Built as text by core.times.api_time, the one form of every time the API answers.
ApiTime = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]


class _In(BaseModel):
    # Unknown fields and loose types are errors: a typo must not silently drop a setting.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class MessageIn(_In):
    """One message to mint for one recipient."""

    campaign: Campaign
    recipient: RecipientId = Field(description="the sending system's id for the recipient")
    email: Email | None = None
    list: ListName = "default"
    send: bool = Field(True, description="record a `sent` event: the message is being sent")
    site: SiteId | None = Field(None, description="default: the first site of the sites file")


class RenderIn(MessageIn):
    """One message to mint, and the HTML of the email to put its pixel and links into."""

    html: Annotated[str, Field(min_length=1, max_length=1_000_000)]


class BatchRecipientIn(_In):
    recipient: RecipientId
    email: Email | None = None


class BatchIn(_In):
    """One campaign's messages for up to 10,000 recipients, each named once."""

    campaign: Campaign
    recipients: Annotated[list[BatchRecipientIn], Field(min_length=1, max_length=MAX_BATCH)]
    list: ListName = "default"
    send: bool = True
    site: SiteId | None = None


class TrackingIn(_In):
    consent: TrackingConsent


class ListHeadersOut(_Out):
    """The headers to send the message with (RFC 2369, RFC 8058, RFC 2919)."""

    model_config = ConfigDict(frozen=True, serialize_by_alias=True)

    list_unsubscribe: str = Field(alias="List-Unsubscribe")
    list_unsubscribe_post: Literal["List-Unsubscribe=One-Click"] = Field(
        alias="List-Unsubscribe-Post"
    )
    list_id: str = Field(alias="List-Id")


class MessageOut(_Out):
    message_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    tracking: TrackingMode = Field(
        description="individual: opens and clicks are logged for this recipient; aggregate: "
        "counted under a random id no one can link to them; none: not tracked"
    )
    suppressed: bool = Field(description="unsubscribed from this list or all: do not send")
    pixel_url: str | None = Field(description="null when the message is not tracked")
    pixel_html: str | None
    unsubscribe_url: str
    headers: ListHeadersOut


class BatchMessageOut(MessageOut):
    recipient: str


class BatchOut(_Out):
    messages: list[BatchMessageOut] = Field(description="in the order of the request")


class RenderOut(MessageOut):
    html: str = Field(description="the email with its pixel, tracked links and unsubscribe URL")


class TrackingOut(_Out):
    site: str
    recipient: str
    consent: TrackingConsent
    changed_at: ApiTime
    method: Method


class SuppressionOut(_Out):
    """One unsubscribe or tracking opt-out, as the feed lists it."""

    cursor: str = Field(
        pattern=CURSOR_RE,
        description="ask with this as `since` to continue after this suppression",
    )
    kind: SuppressionKind = Field(
        description="unsubscribe: do not send (to `list`); tracking_optout: send, untracked"
    )
    site: str
    list: str = Field(description="the list left, or `*` for every list of the site")
    recipient: str | None = Field(
        description="the sending system's id; null when only the address's keyed hash is kept"
    )
    method: Method = Field(description="how the recipient said it")
    message_id: str | None = Field(description="the message whose link was used, if any")
    created_at: ApiTime
    lifted_at: ApiTime | None = Field(
        description="when the recipient took it back (an opt-out only); null while in force"
    )


class SuppressionsOut(_Out):
    suppressions: list[SuppressionOut] = Field(description="oldest first, at most `limit`")
    next: str = Field(
        pattern=CURSOR_RE,
        description="the cursor to ask with next (the same one when the page is empty)",
    )
    more: bool = Field(description="more suppressions were waiting past this page")
