from django.conf import settings
from django.contrib.auth.middleware import (
    AuthenticationMiddleware as DjangoAuthenticationMiddleware,
)
from django.core.signals import request_finished
from django.dispatch import receiver
from django.middleware.locale import LocaleMiddleware
from django.utils import translation
from django.utils.functional import SimpleLazyObject
from django.utils.translation import check_for_language

from members.sessions import user_of_session

from . import logs


class ChineseFirstLocaleMiddleware(LocaleMiddleware):
    """Chinese unless the person chose another language with the switch (a cookie).

    The browser's Accept-Language is not followed: many office computers here run an English
    system, and the people using them still work in Chinese."""

    def process_request(self, request):
        language = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        if not (language and check_for_language(language)):
            language = settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()


class RequestIdMiddleware:
    """Gives each request an id: the reverse proxy's `X-Request-ID` when it is a safe one,
    else a new one. Every log record written while the request is served carries it (see
    xiachen.logs), and so does the response, so that a person reporting a problem, the proxy's
    log and ours all name the same request.

    First in MIDDLEWARE, so that even a redirect to HTTPS carries it. The id is cleared when
    the response is closed (request_finished), not when this middleware returns: Django logs a
    4xx or 5xx response after the middleware, and that line must carry the id too."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.id = logs.accept_request_id(request.headers.get("X-Request-ID"))
        logs.request_id.set(request.id)
        response = self.get_response(request)
        response["X-Request-ID"] = request.id
        return response


@receiver(request_finished)
def forget_request_id(**kwargs):
    logs.request_id.set(None)


class AuthenticationMiddleware(DjangoAuthenticationMiddleware):
    """Django's, request.user being the login read with the session in one statement
    (members.sessions.user_of_session), with Django's checks."""

    def process_request(self, request):
        super().process_request(request)

        def user():
            if not hasattr(request, "_cached_user"):  # as django.contrib.auth.middleware's
                request._cached_user = user_of_session(request)
            return request._cached_user

        request.user = SimpleLazyObject(user)
