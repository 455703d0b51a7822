"""Do Not Track and Global Privacy Control, read from request headers and the page."""

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Signals:
    dnt: bool = False
    gpc: bool = False

    def honoured(self, policy: str) -> bool:
        """Tell whether the site's signal policy says this browser must not be tracked."""
        return self.gpc or (policy == "strict" and self.dnt)

    def merge(self, dnt: bool = False, gpc: bool = False) -> "Signals":
        """Add what the page saw (``navigator.doNotTrack``, ``navigator.globalPrivacyControl``)."""
        return Signals(dnt=self.dnt or dnt, gpc=self.gpc or gpc)


def read_signals(headers: Mapping[str, str]) -> Signals:
    """Read ``DNT: 1`` and ``Sec-GPC: 1``; any other value means no signal."""
    return Signals(
        dnt=(headers.get("DNT") or "").strip() == "1",
        gpc=(headers.get("Sec-GPC") or "").strip() == "1",
    )
