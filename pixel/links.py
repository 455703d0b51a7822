"""The URLs and headers of minted messages: pixel, tracked links, unsubscribe, list headers.

One home for what a minted message looks like to its sender, used by the email API
(``/api/v1/messages``, ``/batch``, ``/render``) and by the demo shop's email tab, so both
answer the same shape. Plain values in (keys, public URL, the mailing); no request.
"""

from urllib.parse import urlsplit

from pixel import render as rendering
from pixel import tokens
from pixel.messages import Mailing, Minted


class MessageLinks:
    """The links of one mailing's messages, under this install's public URL."""

    def __init__(self, keys: list[str], base: str, mailing: Mailing):
        self.keys = keys
        self.base = base
        host = urlsplit(base).hostname or "localhost"
        self.list_id = f"<{mailing.list}.{mailing.site}.{host}>"

    def pixel_url(self, tracked_id: str) -> str:
        return f"{self.base}/o/{tokens.sign_message(self.keys, tokens.OPEN, tracked_id)}.gif"

    def click_url(self, tracked_id: str, url: str | None) -> str:
        """A tracked link to ``url``; ``None`` makes the hidden honeypot link."""
        return f"{self.base}/c/{tokens.sign_click(self.keys, tracked_id, url)}"

    def unsubscribe_url(self, message_id: str) -> str:
        token = tokens.sign_message(self.keys, tokens.UNSUBSCRIBE, message_id)
        return f"{self.base}/u/{token}"

    def answer(self, m: Minted) -> dict:
        """A message's answer, as MessageOut documents it."""
        unsubscribe_url = self.unsubscribe_url(m.message_id)
        pixel_url = self.pixel_url(m.tracked_id) if m.tracked_id else None
        return {
            "message_id": m.message_id,
            "tracking": m.tracking,
            "suppressed": m.suppressed,
            "pixel_url": pixel_url,
            "pixel_html": rendering.pixel_html(pixel_url) if pixel_url else None,
            "unsubscribe_url": unsubscribe_url,
            "headers": {
                "List-Unsubscribe": f"<{unsubscribe_url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                "List-Id": self.list_id,
            },
        }

    def rendered(self, m: Minted, html: str) -> dict:
        """The answer with ``html`` rendered for the message: pixel before ``</body>``,
        links wrapped (plus the honeypot), ``{{ unsubscribe_url }}`` filled."""
        answer = self.answer(m)
        tracking = None
        if (tracked_id := m.tracked_id) is not None:
            tracking = rendering.Tracking(
                pixel_html=answer["pixel_html"],
                honeypot_url=self.click_url(tracked_id, None),
                wrap=lambda url: self.click_url(tracked_id, url),
            )
        return answer | {"html": rendering.render(html, answer["unsubscribe_url"], tracking)}
