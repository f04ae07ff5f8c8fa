"""The demo: demo.yaml says what it holds, loader.py puts it in through the services."""

from .loader import ARTICLE_NAMES, DEMO_ACCOUNTS, DEMO_PASSWORD, DEMO_TOTP, anchor_for, load

__all__ = ["ARTICLE_NAMES", "DEMO_ACCOUNTS", "DEMO_PASSWORD", "DEMO_TOTP", "anchor_for", "load"]
