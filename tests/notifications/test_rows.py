"""The outbox's and the inbox's rows are written in Python (xiachen/templatetags/
notification_rows.py): subjects, names, texts and errors that look like markup are shown as
written, never as markup; a message's lines are kept; a text message says what it cost."""

from django.urls import reverse

from notifications.models import Notification

from .test_views import message

OUTBOX = reverse("notifications:outbox")
INBOX = reverse("notifications:inbox")
MARKUP = '<b>&"x"\''
ESCAPED = "&lt;b&gt;&amp;&quot;x&quot;&#x27;"

State, Channel = Notification.State, Notification.Channel


def rows(html: str, testid: str) -> str:
    return html.split(f'data-testid="{testid}"', 1)[1].split("</ul>", 1)[0]


def test_outbox_rows_show_what_looks_like_markup_as_written(
    client, world, community_staff, settings
):
    settings.LANGUAGE_CODE = "en"
    member = world.sanxia_member
    member.name = f"李{MARKUP}"
    failed = message(
        world.shengli_activity,
        member=member,
        state=State.FAILED,
        channel=Channel.WEBHOOK,
        subject=f"提醒{MARKUP}",
        last_error=f"HTTPError: {MARKUP}",
        attempts=2,
    )
    message(
        world.shengli_activity,
        member=member,
        channel=Channel.SMS,
        subject="短信",
        sms_parts=2,
    )
    client.force_login(community_staff)
    html = rows(client.get(OUTBOX, {"page": 1}).content.decode(), "outbox")
    assert f'<span class="fw-semibold">提醒{ESCAPED}</span>' in html
    assert f'<span data-testid="recipient">李{ESCAPED}</span>' in html
    assert f'<code class="d-block text-break">HTTPError: {ESCAPED}</code>' in html
    assert "<b>" not in html
    # The retry form goes back to the page as it was asked for, its address escaped.
    assert f'action="/notifications/outbox/{failed.pk}/retry/"' in html
    assert 'name="next" value="/notifications/outbox/?page=1"' in html
    assert '<span class="text-nowrap">2 attempts</span>' in html
    cost = 2 * float(settings.SMS_PRICE_PER_PART)
    assert f'data-testid="sms-cost">2 billed messages, ¥{cost:.3f}</span>' in html


def test_inbox_rows_show_what_looks_like_markup_as_written_and_keep_a_messages_lines(
    client, world, member_user, settings
):
    settings.LANGUAGE_CODE = "en"
    unread = message(world.shengli_activity, user=member_user, subject=f"未读{MARKUP}")
    Notification.objects.filter(pk=unread.pk).update(body=f"第一行{MARKUP}\n第二行")
    read = message(
        world.shengli_activity,
        user=member_user,
        subject=f"已读{MARKUP}",
        url=f"{settings.SITE_URL}/activities/?q={MARKUP}",
    )
    Notification.objects.filter(pk=read.pk).update(read_at=read.created_at)
    client.force_login(member_user)
    html = rows(client.get(INBOX).content.decode(), "inbox")
    assert f'xc-message-link">未读{ESCAPED}</button>' in html
    assert f'<div class="small mt-1">第一行{ESCAPED}<br>第二行</div>' in html
    # A read message links to its page on this site, the link made relative and escaped.
    assert f'<a class="text-body" href="/activities/?q={ESCAPED}">已读{ESCAPED}</a>' in html
    assert "<b>" not in html


def test_the_outbox_filter_bar_shows_the_values_and_errors_of_each_request(
    client, world, community_staff, settings
):
    """The filter bar is written once per process for each set of values ({% memo %}): each
    request still sees its own values, its own errors and its own language."""
    client.force_login(community_staff)

    def bar(params, language="en"):
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
        html = client.get(OUTBOX, params).content.decode()
        return html.split('data-testid="outbox-filters"', 1)[1].split("</form>", 1)[0]

    failed = '<option value="failed" selected>'
    assert failed in bar({"state": "failed"})
    assert failed not in bar({}) and failed not in bar({"state": "sent"})
    assert failed in bar({"state": "failed", "page": "2"})
    assert "Enter a valid date." in bar({"date_from": "2024-13-45"})
    fine = bar({"date_from": "2024-05-01"})
    assert "Enter a valid date." not in fine and 'value="2024-05-01"' in fine
    assert "The end date is before the start date." in bar(
        {"date_from": "2024-05-02", "date_to": "2024-05-01"}
    )
    assert "Filter" in bar({"state": "failed"}) and "筛选" not in bar({"state": "failed"})
    assert "筛选" in bar({"state": "failed"}, "zh-hans")
