"""Activation slips (激活单): links just issued, printed with a QR code for members who are not
reached by the group robot or e-mail. Never a password: the member chooses theirs."""

import segno
from django.shortcuts import render
from django.utils.safestring import mark_safe

from .activation import Issued


def qr_svg(url: str) -> str:
    """The link as a QR code, inline SVG (segno), sized by the page."""
    svg = segno.make(url, error="m").svg_inline(scale=4, border=2, omitsize=True)
    return mark_safe(svg)  # noqa: S308 — segno's own markup of a URL we built


def slip_context(issued: list[Issued]) -> dict:
    return {
        "slips": [
            {
                "member": item.member,
                "agency": item.member.agency,
                "url": item.url,
                "qr": qr_svg(item.url),
                "expires": item.link.expires_at,
            }
            for item in issued
        ]
    }


def render_slips(request, issued: list[Issued]):
    """The printable slips of links just issued. Never cached: the links exist only here."""
    response = render(request, "members/activation_slips.html", slip_context(issued))
    response["Cache-Control"] = "no-store"
    return response
