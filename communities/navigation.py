"""Where a page sends a person next. Every `next` parameter goes through `next_url`: only a
path on this site (or the site's public address) is followed; anything else — another host,
`javascript:`, or a bare word such as `NaN` that `redirect()` would try to reverse as a URL name
— falls back to the page's own address."""

from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme


def site_relative(url: str) -> str:
    """A stored link (absolute, for e-mail) made relative when it points at this site, so that
    it works on whichever host serves the page."""
    if url.startswith(settings.SITE_URL + "/"):
        return url[len(settings.SITE_URL) :]
    return url


def next_url(request, url: str | None, default: str) -> str:
    """`url` when it is a safe address on this site, else `default`."""
    if not url or not isinstance(url, str):
        return default
    url = site_relative(url.strip())
    parts = urlsplit(url)
    on_this_site = url.startswith("/") and not url.startswith("//") and not parts.netloc
    hosts = {request.get_host(), urlsplit(settings.SITE_URL).netloc}
    if on_this_site and url_has_allowed_host_and_scheme(
        url, allowed_hosts=hosts, require_https=request.is_secure()
    ):
        return url
    return default


def redirect_next(request, default: str, url: str | None = None) -> HttpResponseRedirect:
    """Redirects to the request's `next` (POST, then GET) or `url` when safe, else `default`."""
    if url is None:
        url = request.POST.get("next") or request.GET.get("next")
    return HttpResponseRedirect(next_url(request, url, default))
