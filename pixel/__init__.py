"""The email side of Consentry: tracking pixels, tracked links, unsubscribe and preferences.

Its views and domain functions arrive with the email issues; it shares ``core`` (config,
SQL store, errors, signing) and ``events`` (the ClickHouse pipeline) with ``consent``.
"""
