"""The rows of the outbox and of the inbox (templates/notifications/outbox.html and inbox.html):
`{% load notification_rows %}`.

Each tag writes its page's rows with f-strings, every name and text escaped, in the very markup
the template's loop wrote for each, whitespace included: with the rows read as values() rather
than model instances, an outbox page of 50 rows went from 12–15 ms of CPU to 8–10 ms at city
size. A change to a row's markup is made here.

The rows are those of the views' `values()` (communities.rows.Row), read by key.
"""

from django import template
from django.template.defaultfilters import floatformat, linebreaksbr
from django.template.defaulttags import CsrfTokenNode
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator
from django.utils.translation import gettext, ngettext

from communities.links import id_url
from communities.validators import mask_mobile
from notifications.models import Notification, sms_cost_of
from reports.svg import escape as _text

from .xiachen import minute_date

register = template.Library()

STATE_BADGES = {
    Notification.State.PENDING: "secondary",
    Notification.State.SENDING: "info",
    Notification.State.SENT: "success",
    Notification.State.FAILED: "danger",
    Notification.State.UNREACHABLE: "warning",
}


def _labels(name: str) -> dict:
    """{value: label} of a field's choices, translated once per page rather than once per row
    (a row's `get_kind_display` translated every kind to find its own)."""
    return {value: str(label) for value, label in Notification._meta.get_field(name).choices}


class _Moments(dict):
    """`{{ value|minute_date }}` as a template writes it (in the current time zone, escaped), each
    moment once per page: the messages of a batch share their due and sent moments (a city
    outbox page's 100-odd dates are about 65 different ones)."""

    def __missing__(self, value) -> str:
        self[value] = text = _text(minute_date(timezone.localtime(value)))
        return text


class _OutboxWords:
    """What a page of the outbox says of each message (its state, channel, kind, why it was not
    sent, how often it was tried), translated once per page: the template's plural tag looked
    its words up again for each of the 50 rows."""

    def __init__(self):
        self.state = _labels("state")
        self.channel = _labels("channel")
        self.kind = _labels("kind")
        self.unreachable = _labels("unreachable_reason")
        self.failure = _labels("failure")
        self.queued, self.due, self.sent = (
            _text(gettext(word)) for word in ("queued", "due", "sent")
        )
        self.sending_failed = _text(gettext("Sending failed"))
        self.technical_detail = _text(gettext("technical detail"))
        self.send_again = _text(gettext("Send again"))
        self._attempts = {}

    def attempts(self, number: int) -> str:
        if number not in self._attempts:
            self._attempts[number] = _text(
                ngettext("%(counter)s attempt", "%(counter)s attempts", number)
                % {"counter": number}
            )
        return self._attempts[number]

    def not_sent(self, reason: str) -> str:
        return _text(
            gettext("Not sent: %(reason)s.") % {"reason": self.unreachable.get(reason, reason)}
        )


def _sms_cost(parts: int) -> str:
    """The `{% blocktranslate count parts=… with cost=…|floatformat:3 %}` of a text message: the
    translation as it is, its numbers (digits) in it."""
    text = ngettext(
        "%(parts)s billed message, ¥%(cost)s", "%(parts)s billed messages, ¥%(cost)s", parts
    )
    return text % {"parts": parts, "cost": floatformat(sms_cost_of(parts), "3")}


@register.simple_tag(takes_context=True)
def outbox_rows(context, page) -> SafeString:
    """The page's messages as outbox.html lists them; a failed one with its "Send again"."""
    words = _OutboxWords()
    moment = _Moments()
    csrf = CsrfTokenNode().render(context)
    this_page = _text(context["request"].get_full_path())
    failed = Notification.State.FAILED
    rows = []
    for n in page:
        state = n["state"]
        name = n["recipient_name"] or n["recipient_username"] or ""
        mobile = mask_mobile(n["recipient_mobile"])
        mobile = f' <span class="text-body-secondary">{_text(mobile)}</span>' if mobile else ""
        parts = n["sms_parts"]
        cost = (
            f'· <span class="text-nowrap" data-testid="sms-cost">{_sms_cost(parts)}</span>'
            if parts
            else ""
        )
        sent = moment[n["sent_at"]] if n["sent_at"] else "—"
        reason = n["unreachable_reason"]
        not_sent = (
            "\n              "
            '<div class="small text-warning-emphasis" data-testid="unreachable-reason">'
            f"{words.not_sent(reason)}</div>\n            "
            if reason
            else ""
        )
        failure, last_error = n["failure"], n["last_error"]
        error = ""
        if failure or last_error:
            said = _text(words.failure.get(failure, failure)) if failure else words.sending_failed
            detail = (
                "\n                  "
                '<details class="text-body-secondary" data-testid="failure-detail">'
                f"\n                    <summary>{words.technical_detail}</summary>"
                '\n                    <code class="d-block text-break">'
                f"{_text(Truncator(last_error).chars(500))}</code>"
                "\n                  </details>\n                "
                if last_error
                else ""
            )
            error = (
                '\n              <div class="small text-danger" data-testid="last-error">'
                f'\n                <span data-testid="failure-reason">{said}</span>'
                f"\n                {detail}"
                "\n              </div>\n            "
            )
        retry = (
            '\n            <form method="post"'
            f' action="{_text(id_url("notifications:outbox_retry", n["pk"]))}" class="m-0">'
            f"\n              {csrf}"
            f'\n              <input type="hidden" name="next" value="{this_page}">'
            '\n              <button type="submit" class="btn btn-sm btn-outline-primary'
            f' text-nowrap" data-testid="retry">{words.send_again}</button>'
            "\n            </form>\n          "
            if state == failed
            else ""
        )
        rows.append(
            '\n      <li class="list-group-item" data-testid="outbox-row"'
            f' data-pk="{n["pk"]}">'
            '\n        <div class="d-flex flex-wrap flex-md-nowrap justify-content-between'
            ' align-items-start gap-2">'
            '\n          <div class="flex-grow-1 text-break">'
            "\n            <div>"
            f'\n              <span class="badge text-bg-{STATE_BADGES[state]} me-1"'
            f' data-state="{_text(state)}">{_text(words.state.get(state, state))}</span>'
            f'\n              <span class="fw-semibold">{_text(n["subject"])}</span>'
            "\n            </div>"
            '\n            <div class="small">'
            f'\n              <span data-testid="recipient">{_text(name)}</span>{mobile}'
            f"\n              · {_text(words.channel.get(n['channel'], n['channel']))}"
            ' · <span class="text-body-secondary">'
            f"{_text(words.kind.get(n['kind'], n['kind']))}</span>"
            f"\n              {cost}"
            "\n            </div>"
            '\n            <div class="small text-body-secondary">'
            f'\n              <span class="text-nowrap">{words.queued} {moment[n["created_at"]]}'
            "</span>"
            f'\n              · <span class="text-nowrap">{words.due} {moment[n["due_at"]]}</span>'
            f'\n              · <span class="text-nowrap">{words.sent} {sent}</span>'
            '\n              · <span class="text-nowrap">'
            f"{words.attempts(n['attempts'])}</span>"
            "\n            </div>"
            f"\n            {not_sent}"
            f"\n            {error}"
            "\n          </div>"
            f"\n          {retry}"
            "\n        </div>"
            "\n      </li>\n    "
        )
    return mark_safe("".join(rows))  # noqa: S308 (every value above is escaped)


@register.simple_tag(takes_context=True)
def inbox_rows(context, page) -> SafeString:
    """The page's messages as inbox.html lists them: an unread one opens (and is marked read)
    through a form, a read one through its link."""
    kinds = _labels("kind")
    moment = _Moments()
    csrf = CsrfTokenNode().render(context)
    this_page = _text(context["request"].get_full_path())
    unread_word, read_word = _text(gettext("Unread")), _text(gettext("Mark as read"))
    rows = []
    for n in page:
        subject = _text(n["subject"])
        if n["read_at"]:
            link = n["link"]
            title = f'<a class="text-body" href="{_text(link)}">{subject}</a>' if link else subject
            opened = f"\n              {title}\n            "
            mark = ""
        else:
            action = _text(id_url("notifications:inbox_read", n["pk"]))
            opened = (
                f'\n              <form method="post" action="{action}" class="d-inline m-0">'
                f"\n                {csrf}"
                '\n                <input type="hidden" name="open" value="1">'
                '\n                <button type="submit" class="btn btn-link p-0 text-start'
                f' fw-semibold align-baseline xc-message-link">{subject}</button>'
                f'\n                <span class="badge text-bg-warning ms-1">{unread_word}</span>'
                "\n              </form>\n            "
            )
            mark = (
                f'\n            <form method="post" action="{action}" class="m-0">'
                f"\n              {csrf}"
                f'\n              <input type="hidden" name="next" value="{this_page}">'
                '\n              <button type="submit" class="btn btn-sm btn-outline-secondary">'
                f"{read_word}</button>"
                "\n            </form>\n          "
            )
        body = n["body"] and (
            f'<div class="small mt-1">{linebreaksbr(n["body"], autoescape=True)}</div>'
        )
        rows.append(
            f'\n      <li class="list-group-item{"" if n["read_at"] else " xc-unread"}"'
            f' data-testid="message" data-read="{"1" if n["read_at"] else "0"}">'
            '\n        <div class="d-flex flex-wrap justify-content-between align-items-start'
            ' gap-2">'
            '\n          <div class="flex-grow-1 text-break">'
            f"\n            {opened}"
            '\n            <div class="small text-body-secondary">'
            f"\n              {moment[n['sent_at'] or n['created_at']]}"
            f" · {_text(kinds.get(n['kind'], n['kind']))}"
            "\n            </div>"
            f"\n            {body}"
            "\n          </div>"
            f"\n          {mark}"
            "\n        </div>"
            "\n      </li>\n    "
        )
    return mark_safe("".join(rows))  # noqa: S308 (every value above is escaped)
