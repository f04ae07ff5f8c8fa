from django.conf import settings
from django.middleware.locale import LocaleMiddleware
from django.utils import translation
from django.utils.translation import check_for_language


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
