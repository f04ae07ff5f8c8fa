"""`{% load change_reasons %}`: a history row's reason in the reader's language."""

from django import template

from communities.history import change_reason_label

register = template.Library()


@register.filter
def change_reason(code):
    return change_reason_label(code)
