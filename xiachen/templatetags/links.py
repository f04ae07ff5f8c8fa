"""Django's `{% url %}`, a page by one id (or none) found at the price of a string format
(communities.links): a built-in of the template engine (settings.TEMPLATES), so that every
template's `{% url %}` is this one. Lists write one or two on each of their rows."""

from django import template
from django.template import defaulttags
from django.urls import NoReverseMatch
from django.utils.html import conditional_escape

from communities.links import id_url

register = template.Library()


class URLNode(defaulttags.URLNode):
    def render(self, context):
        if self.kwargs or len(self.args) != 1:
            return super().render(context)
        pk = self.args[0].resolve(context)
        if type(pk) is not int or pk < 0:
            return super().render(context)
        view_name = self.view_name.resolve(context)
        try:
            current_app = context.request.current_app
        except AttributeError:
            try:
                current_app = context.request.resolver_match.namespace
            except AttributeError:
                current_app = None
        url = ""
        try:
            url = id_url(view_name, pk, current_app=current_app)
        except NoReverseMatch:
            if self.asvar is None:
                raise
        if self.asvar:
            context[self.asvar] = url
            return ""
        return conditional_escape(url) if context.autoescape else url


@register.tag
def url(parser, token):
    node = defaulttags.url(parser, token)
    node.__class__ = URLNode
    return node
