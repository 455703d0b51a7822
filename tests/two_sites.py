"""The two-site test data (tests/data/shop_sites.toml): builders for the shop site's requests.

demo is the bundled site (lifetimes 180/180, proof options on, local origins); shop differs
in every way a bug could mix up: origins, policy version, lifetimes 200/30, proof options off.
"""

from pathlib import Path

from factories import ORIGIN, decision

TWO_SITES = str(Path(__file__).resolve().parent / "data" / "shop_sites.toml")
SHOP_ORIGIN = "https://shop.example"
SHOP_POLICY = "2026-12-15"
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36"
)


def shop_decision(**overrides) -> dict:
    body = {
        "site": "shop",
        "choices": {"analytics": True, "marketing": True},
        "policy_version": SHOP_POLICY,
    }
    return decision(**body | overrides)


def post(client, body: dict, headers=None):
    """POST a decision from the page origin its site allows."""
    origin = SHOP_ORIGIN if body["site"] == "shop" else ORIGIN
    return client.post("/api/v1/consents", json=body, headers={"Origin": origin, **(headers or {})})
