"""Who fetched a pixel or followed a link: a person, a mail proxy, Apple, a scanner or a bot.

Every logged hit is classified and kept, never dropped (SPEC §3.3): reports show the raw
numbers and make engagement the headline. Rules come before the UA parser because the
parser alone gets mail traffic wrong: ``user_agents`` calls Yahoo's proxy a bot and Gmail's
proxy, Apple's bare ``Mozilla/5.0`` and python-requests humans (FIELD-NOTES). Mautic once
called every Gmail open a bot (over-filtering); listmonk users see half their opens within a
minute (under-filtering). First match wins:

=====  ==============================  ================  ===============================
step   evidence                        class             reason
=====  ==============================  ================  ===============================
1      method HEAD                     security_scanner  head_request
2      UA contains GoogleImageProxy    mail_proxy        gmail_image_proxy
2      UA contains YahooMailProxy      mail_proxy        yahoo_mail_proxy
2      UA is exactly ``Mozilla/5.0``   apple_mpp         apple_mpp_ua (an open)
2      UA is exactly ``Mozilla/5.0``   bot               ua:bare_mozilla (a click)
2      UA names a scanner vendor       security_scanner  known_scanner:<vendor>
2      Google's delivery-time fetch    security_scanner  known_scanner:gmail_prefetch
3      address in a scanner network    security_scanner  known_scanner:<vendor>
4      under 2 s since the send        security_scanner  within_2s_of_send
5      no UA                           bot               ua:empty
5      an HTTP library                 bot               ua:library:<name>
5      Office's link-existence probe   bot               ua:office_link_probe
5      a crawler (``is_bot``)          bot               ua:bot
5      a mail client                   human             ua:mail_client
5      a browser or web view           human             ua:browser
5      nothing the parser knows        human             ua:unrecognised
=====  ==============================  ================  ===============================

Steps 2 and 5 depend on the User-Agent alone: they run once per distinct UA, cut to
:data:`core.visitors.MAX_USER_AGENT` characters, behind a bounded cache (an unseen UA costs
the parser ~1.5 ms; a cached one a dictionary lookup). Step 3 is cached per address
(:func:`scanner_vendor`), also bounded. What one hit cannot show — an open
and a click at the moment of sending, every link clicked at once, a honeypot click — is
:mod:`pixel.bursts`' job. ``docs/classification.md`` explains each rule and threshold.
"""

import bisect
import enum
import ipaddress
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

import user_agents

from core.visitors import MAX_USER_AGENT

# A person cannot open or click within two seconds of the send: the mail has barely left.
# Gateways that scan at delivery do (FIELD-NOTES; Mautic's default timeFromEmailThreshold).
SEND_SCAN_SECONDS = 2.0

# Distinct client addresses whose scanner network (or none) is remembered: ~100 bytes each.
ADDRESS_CACHE_SIZE = 4096

# Distinct cut User-Agents remembered; each entry holds at most a 512-character string and a
# small verdict, so the cache stays under ~5 MB even when every entry is a long UA.
UA_CACHE_SIZE = 4096


class AgentClass(enum.StrEnum):
    HUMAN = "human"
    MAIL_PROXY = "mail_proxy"  # Gmail, Yahoo: fetched when the person opens, then cached
    APPLE_MPP = "apple_mpp"  # Mail Privacy Protection: prefetched at delivery, read or not
    SECURITY_SCANNER = "security_scanner"
    BOT = "bot"


class HitKind(enum.StrEnum):
    OPEN = "open"
    CLICK = "click"


@dataclass(frozen=True, slots=True)
class Hit:
    """One request on ``/o/`` or ``/c/``, as the view read it (plain values, no request)."""

    method: str
    user_agent: str | None
    client_ip: str | None  # None where the deployment does not pass it on
    seconds_since_send: float | None  # None when the message has no send time
    kind: HitKind


@dataclass(frozen=True, slots=True)
class Classification:
    agent_class: AgentClass
    reason: str  # machine-readable: ``gmail_image_proxy``, ``known_scanner:mimecast``…
    ua_family: str = ""  # the parser's browser family: ``Outlook``, ``Apple Mail``, ``Chrome``…
    device: str = "other"  # ``pc``, ``mobile``, ``tablet``, ``spider`` or ``other``

    @property
    def human_triggered(self) -> bool:
        """Tell whether a person caused this hit: a human, or a proxy fetching for one."""
        return self.agent_class in (AgentClass.HUMAN, AgentClass.MAIL_PROXY)

    def as_scanner(self, reason: str) -> "Classification":
        """Return this hit reclassified as a security scanner, keeping what the UA said."""
        return Classification(AgentClass.SECURITY_SCANNER, reason, self.ua_family, self.device)


def classify_agent(hit: Hit) -> Classification:
    """Classify one hit by the rules in this module's docstring, first match wins."""
    reading = _read_user_agent(_cut(hit.user_agent))
    found = reading.classification
    if hit.method.upper() == "HEAD":
        return found.as_scanner("head_request")
    if found.agent_class is AgentClass.APPLE_MPP and hit.kind == HitKind.CLICK:
        # Mail Privacy Protection fetches images only; a bare UA on a link is something else.
        return Classification(AgentClass.BOT, "ua:bare_mozilla", found.ua_family, found.device)
    if reading.settled:
        return found
    vendor = scanner_vendor(hit.client_ip)
    if vendor is not None:
        return found.as_scanner(f"known_scanner:{vendor}")
    if within_send_scan(hit.seconds_since_send):
        return found.as_scanner("within_2s_of_send")
    return found


def within_send_scan(seconds: float | None) -> bool:
    """Tell whether a hit came sooner after the send than a person could have made it."""
    # A negative or non-finite age is a clock disagreement, not evidence of a scan.
    return seconds is not None and math.isfinite(seconds) and 0 <= seconds < SEND_SCAN_SECONDS


def _cut(user_agent: str | None) -> str:
    # Cut before stripping: a 10 KB header costs no more than a 512-character one.
    return (user_agent or "")[:MAX_USER_AGENT].strip()


# --- what the User-Agent alone says (cached) ---------------------------------------------


@dataclass(frozen=True, slots=True)
class _Reading:
    classification: Classification
    settled: bool  # a named rule matched: the address and the timing cannot change it


# Gateways that say who they are; most do not, and are caught by network or timing instead.
_VENDOR_TOKEN = re.compile(
    r"\b(barracuda|mimecast|proofpoint|ironport|symantec|messagelabs)\b", re.IGNORECASE
)
_VENDOR_NAME = {"ironport": "cisco", "messagelabs": "symantec"}

# Google fetches images from its own addresses at delivery with this exact, frozen string
# (Mautic #10245, GMass "false opens in Gmail"); the person's open comes later, through the
# image proxy. Matched whole: a real browser never ends its UA with a second "Mozilla/5.0".
_GMAIL_PREFETCH = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/42.0.2311.135 Safari/537.36 Edge/12.246 Mozilla/5.0"
)

# Families ua-parser gives HTTP libraries and headless automation; it marks few as bots.
_LIBRARY_FAMILIES = frozenset(
    {
        "Apache-HttpClient",
        "axios",
        "curl",
        "Go-http-client",
        "HeadlessChrome",
        "Java",
        "libwww-perl",
        "okhttp",
        "PhantomJS",
        "PostmanRuntime",
        "PycURL",
        "Python aiohttp",
        "Python Requests",
        "Python-urllib",
        "Scrapy",
        "Wget",
        "wget2",
    }
)
# Mail clients the parser names but ``is_email_client`` (a short fixed list) leaves out.
_MAIL_CLIENT_FAMILIES = frozenset(
    {
        "Airmail",
        "kmail2",
        "MacOutlook",
        "MailBar",
        "Outlook-iOS",
        "Outlook-iOS-Android",
        "Postbox",
        "Superhuman",
        "YahooMobileMail",
    }
)
# Office asks whether a link exists before it hands the link to the browser (the Office
# Existence Discovery protocol): a machine's echo of a person's click, who arrives next.
_OFFICE_PROBE = re.compile(r"^Microsoft Office (Existence|Protocol) Discovery")
# Libraries the parser does not know at all (family "Other"), by their leading token.
_LIBRARY_TOKEN = re.compile(
    r"^(python-httpx|node-fetch|undici|got|guzzlehttp|ruby|php|reqwest|java-http-client"
    r"|httpclient|libcurl|http\.rb|faraday)\b",
    re.IGNORECASE,
)


@lru_cache(maxsize=UA_CACHE_SIZE)
def _read_user_agent(user_agent: str) -> _Reading:
    if not user_agent:
        return _Reading(Classification(AgentClass.BOT, "ua:empty"), settled=False)
    lowered = user_agent.lower()
    if "googleimageproxy" in lowered:
        return _settled(AgentClass.MAIL_PROXY, "gmail_image_proxy", "GmailImageProxy")
    if "yahoomailproxy" in lowered:
        return _settled(AgentClass.MAIL_PROXY, "yahoo_mail_proxy", "YahooMailProxy")
    if user_agent == "Mozilla/5.0":
        return _settled(AgentClass.APPLE_MPP, "apple_mpp_ua", "Other")
    token = _VENDOR_TOKEN.search(user_agent)
    if token is not None:
        vendor = token.group(1).lower()
        return _settled(
            AgentClass.SECURITY_SCANNER, f"known_scanner:{_VENDOR_NAME.get(vendor, vendor)}"
        )
    if user_agent == _GMAIL_PREFETCH:
        return _settled(AgentClass.SECURITY_SCANNER, "known_scanner:gmail_prefetch", "Edge")
    return _Reading(_parse(user_agent), settled=False)


# The User-Agent cache's hits, misses and fixed ``maxsize``, for tests and the benchmark.
cache_info = _read_user_agent.cache_info


def _settled(agent_class: AgentClass, reason: str, family: str = "Other") -> _Reading:
    return _Reading(Classification(agent_class, reason, family, "other"), settled=True)


def _parse(user_agent: str) -> Classification:
    parsed = user_agents.parse(user_agent)
    family = parsed.browser.family[:64]
    device = _device(parsed)
    library = _library(user_agent, family)
    if library:
        return Classification(AgentClass.BOT, f"ua:library:{library}", family, device)
    if _OFFICE_PROBE.match(user_agent):
        return Classification(AgentClass.BOT, "ua:office_link_probe", family, device)
    if parsed.is_bot:
        return Classification(AgentClass.BOT, "ua:bot", family, device)
    if parsed.is_email_client or family in _MAIL_CLIENT_FAMILIES:
        return Classification(AgentClass.HUMAN, "ua:mail_client", family, device)
    if family == "Other" and parsed.os.family == "Other":
        return Classification(AgentClass.HUMAN, "ua:unrecognised", family, device)
    return Classification(AgentClass.HUMAN, "ua:browser", family, device)


def _library(user_agent: str, family: str) -> str:
    if family in _LIBRARY_FAMILIES:
        return family.lower().replace(" ", "-")
    if family == "Other":
        token = _LIBRARY_TOKEN.match(user_agent)
        if token is not None:
            return token.group(1).lower()
    return ""


def _device(parsed: user_agents.parsers.UserAgent) -> str:
    if parsed.is_bot:
        return "spider"
    if parsed.is_tablet:
        return "tablet"
    if parsed.is_mobile:
        return "mobile"
    if parsed.is_pc:
        return "pc"
    return "other"


# --- what the address says ---------------------------------------------------------------


class ScannerNetworks:
    """Published networks of mail-security gateways, looked up by binary search.

    Only the filtering tier of each vendor is listed — networks no mailbox is read from —
    never a whole cloud (Azure, Google Cloud): people browse from those too (Windows 365,
    VPNs), and Outlook.com and Gmail proxy their users' images from their own ranges.
    """

    def __init__(self, networks: dict[str, tuple[str, ...]]) -> None:
        spans = sorted(
            (int(net.network_address), int(net.broadcast_address), net.version, vendor)
            for vendor, cidrs in networks.items()
            for net in map(ipaddress.ip_network, cidrs)
        )
        self._spans = {
            version: [(start, end, vendor) for start, end, v, vendor in spans if v == version]
            for version in (4, 6)
        }
        self._starts = {version: [s[0] for s in self._spans[version]] for version in (4, 6)}
        for version in (4, 6):
            for before, after in pairwise(self._spans[version]):
                if before[1] >= after[0]:
                    raise ValueError(f"overlapping scanner networks: {before} and {after}")

    def vendor_of(self, address: str | None) -> str | None:
        """Return the vendor whose network holds this address, or None (also for junk)."""
        if not address:
            return None
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        if ip.version == 6 and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        number = int(ip)
        index = bisect.bisect_right(self._starts[ip.version], number) - 1
        if index < 0:
            return None
        _, end, vendor = self._spans[ip.version][index]
        return vendor if number <= end else None


SCANNER_NETWORKS = ScannerNetworks(
    {
        # Exchange Online Protection, where Safe Links and Defender scan: Microsoft 365
        # endpoint list (*.protection.outlook.com). Gophish #973 logged Safe Links clicks
        # from 40.107.218.12. Exchange Online's own ranges are left out on purpose.
        "microsoft": (
            "40.92.0.0/15",
            "40.107.0.0/16",
            "52.100.0.0/14",
            "104.47.0.0/17",
            "2a01:111:f400::/48",
            "2a01:111:f403::/48",
        ),
        # _netblocks.mimecast.com SPF records, US and EU grids.
        "mimecast": (
            "205.139.110.0/24",
            "205.139.111.0/24",
            "207.211.30.0/24",
            "207.211.31.0/25",
            "216.205.24.0/24",
            "63.128.21.0/24",
            "170.10.128.0/22",
            "170.10.132.0/23",
            "91.220.42.0/24",
            "146.101.78.0/24",
            "195.130.217.0/24",
            "185.58.85.0/24",
            "185.58.86.0/24",
        ),
        # Proofpoint's hosted filtering (pphosted.com) and its published service networks.
        "proofpoint": (
            "67.231.144.0/20",
            "148.163.128.0/19",
            "208.84.64.0/22",
            "208.86.200.0/22",
        ),
        # Barracuda Email Security Service / Email Gateway Defense (campus.barracuda.com).
        "barracuda": ("64.235.144.0/20", "209.222.80.0/21"),
        # Cisco Secure Email Cloud (IronPort, esa*.iphmx.com).
        "cisco": ("68.232.128.0/19",),
    }
)


@lru_cache(maxsize=ADDRESS_CACHE_SIZE)
def scanner_vendor(address: str | None) -> str | None:
    """The vendor whose scanner network holds this address, or None; cached per address.

    Parsing the address is most of a lookup's cost, and proxies, gateways and readers who
    open a mail twice repeat theirs. The networks are fixed, so nothing goes stale.
    """
    return SCANNER_NETWORKS.vendor_of(address)
