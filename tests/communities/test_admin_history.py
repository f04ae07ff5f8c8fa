"""History in the admin: read-only for records that change only through services, and in Chinese.

Agreements (the signing desk), report-ins and participations change through their services;
their admin history can be read, version by version, but nothing is reverted or saved from it.
"""

import datetime as dt
import html
import re
from html.parser import HTMLParser

import pytest
from django import forms
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone, translation

from activities.models import Participation
from activities.services.rollcall import RollCallRow, participation_roll_call
from communities.history import ChangeReason, change_reason_label
from communities.models import Agreement
from communities.services import agreement_sign, agreement_terminate, agreements_expire
from members.models import Registration
from members.services import registration_approve

SMALL_PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def history_url(obj):
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_history", args=[obj.pk])


def version_url(obj, record):
    opts = obj._meta
    return reverse(
        f"admin:{opts.app_label}_{opts.model_name}_simple_history", args=[obj.pk, record.pk]
    )


def revert_data(page):
    """What the version page's form holds, as a browser would post it back to revert."""
    data = {"_save": "Revert"}
    for field in page.context["adminform"].form:
        widget, value = field.field.widget, field.value()
        if isinstance(widget, forms.MultiWidget):
            for i, part in enumerate(widget.decompress(value)):
                data[f"{field.html_name}_{i}"] = "" if part is None else str(part)
        elif isinstance(field.field, forms.FileField):
            continue  # no upload keeps the version's file
        elif value is not None:
            data[field.html_name] = str(value)
    return data


def stored(obj):
    """Every column of the row as it is in the database."""
    row = type(obj).objects.filter(pk=obj.pk).values().get()
    return row


@pytest.fixture
def terminated_agreement(world, superuser):
    """园林局 with 胜利一路社区: drafted, signed, its scan uploaded, then terminated."""
    draft = Agreement.objects.create(
        agency=world.yuanlin,
        community=world.shengli,
        number="GJ-HIST-1",
        starts_on=timezone.localdate() - dt.timedelta(days=30),
        ends_on=timezone.localdate() + dt.timedelta(days=335),
    )
    agreement = agreement_sign(agreement=draft, by=superuser)
    agreement.scan.save("signed.pdf", ContentFile(SMALL_PDF))
    return agreement_terminate(agreement=agreement, by=superuser, reason="单位撤并")


def approved_registration(world, superuser):
    registration = Registration.objects.get(member=world.sanxia_member_2)
    return registration_approve(registration=registration, reviewer=superuser)


def changed_participation(world, superuser):
    participation = world.shengli_participation
    participation.hours = 3
    participation._history_user = superuser
    participation.save()
    return participation


def oldest_version(obj):
    return obj.history.order_by("history_date", "history_id").first()


@pytest.mark.parametrize(
    "make",
    [
        lambda world, superuser, agreement: agreement,
        lambda world, superuser, agreement: approved_registration(world, superuser),
        lambda world, superuser, agreement: changed_participation(world, superuser),
    ],
    ids=["agreement", "registration", "participation"],
)
def test_a_revert_from_history_changes_nothing(
    world, superuser, terminated_agreement, admin_client, make
):
    obj = make(world, superuser, terminated_agreement)
    before, versions = stored(obj), obj.history.count()
    first = oldest_version(obj)

    page = admin_client.get(version_url(obj, first))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="_save"' not in html  # no Revert button
    assert page.context["revert_disabled"] is True
    assert all(field.field.disabled for field in page.context["adminform"].form)

    response = admin_client.post(version_url(obj, first), revert_data(page))

    assert response.status_code == 403
    assert stored(obj) == before
    assert obj.history.count() == versions


def test_the_terminated_agreement_stays_terminated_with_its_reason_and_scan(
    world, terminated_agreement, admin_client
):
    agreement = terminated_agreement
    for record in agreement.history.all():
        page = admin_client.get(version_url(agreement, record))
        response = admin_client.post(version_url(agreement, record), revert_data(page))
        assert response.status_code == 403

    agreement = Agreement.objects.get(pk=agreement.pk)
    assert agreement.status == Agreement.Status.TERMINATED
    assert agreement.termination_reason == "单位撤并"
    assert agreement.terminated_on == timezone.localdate()
    assert agreement.scan.name.endswith(".pdf")
    with agreement.scan.open("rb") as scan:
        assert scan.read() == SMALL_PDF


def test_reviving_an_agreement_over_the_pairs_active_one_is_refused_not_a_500(
    world, superuser, terminated_agreement, admin_client
):
    # The pair signs again; the old one's active version must not come back beside it.
    renewal = Agreement.objects.create(
        agency=world.yuanlin,
        community=world.shengli,
        number="GJ-HIST-2",
        starts_on=timezone.localdate(),
        ends_on=timezone.localdate() + dt.timedelta(days=365),
    )
    agreement_sign(agreement=renewal, by=superuser)
    was_active = terminated_agreement.history.filter(status=Agreement.Status.ACTIVE).first()

    page = admin_client.get(version_url(terminated_agreement, was_active))
    response = admin_client.post(version_url(terminated_agreement, was_active), revert_data(page))

    assert response.status_code == 403
    active = Agreement.objects.filter(
        agency=world.yuanlin, community=world.shengli, status=Agreement.Status.ACTIVE
    )
    assert [a.number for a in active] == ["GJ-HIST-2"]


def test_history_lists_and_versions_can_still_be_read(
    world, superuser, terminated_agreement, admin_client
):
    for obj in (
        terminated_agreement,
        approved_registration(world, superuser),
        changed_participation(world, superuser),
    ):
        assert admin_client.get(history_url(obj)).status_code == 200
        for record in obj.history.all():
            assert admin_client.get(version_url(obj, record)).status_code == 200


# Chinese throughout: every label the admin shows around history, in zh-hans.

# Words that showed through in English: the app label of django-axes, simple_history's history
# model names and column, the reasons services stored, a missing reason, and the raw app labels
# of the version page's breadcrumbs.
ENGLISH_LABELS = re.compile(
    r"\b(axes|historical|changes|none|signed|terminated|expired by date|roll call|demo data"
    r"|communities|members|activities|revert|model name|add link)\b",
    re.IGNORECASE,
)


class VisibleText(HTMLParser):
    """The text a person reads on a page, with the titles and labels a screen reader says."""

    SPOKEN = {"title", "aria-label", "alt", "placeholder"}

    def __init__(self):
        super().__init__()
        self.hidden = 0
        self.parts = []

    def handle_starttag(self, tag, attrs):
        self.hidden += tag in ("script", "style")
        attrs = dict(attrs)
        self.parts += [value for name, value in attrs.items() if name in self.SPOKEN and value]
        if tag == "input" and attrs.get("type") in ("submit", "button"):
            self.parts.append(attrs.get("value") or "")

    def handle_endtag(self, tag):
        self.hidden -= tag in ("script", "style")

    def handle_data(self, data):
        if not self.hidden and data.strip():
            self.parts.append(" ".join(data.split()))


def english_on(response):
    assert response.status_code == 200
    parser = VisibleText()
    parser.feed(response.content.decode())
    return sorted({m.group(0) for part in parser.parts for m in ENGLISH_LABELS.finditer(part)})


@pytest.fixture
def every_reason(world, superuser, terminated_agreement):
    """History rows with each reason the services write, and one with none."""
    past = Agreement.objects.create(
        agency=world.sanxia,
        community=world.shenzhen,
        number="GJ-PAST-1",
        starts_on=timezone.localdate() - dt.timedelta(days=400),
        ends_on=timezone.localdate() - dt.timedelta(days=35),
        status=Agreement.Status.ACTIVE,
        signed_on=timezone.localdate() - dt.timedelta(days=400),
    )
    agreements_expire()
    participation_roll_call(
        activity=world.shengli_activity,
        by=superuser,
        rows=[RollCallRow(member_id=world.sanxia_member.pk, status=Participation.Status.ABSENT)],
        resident_volunteers=0,
    )
    registration = approved_registration(world, superuser)
    first = oldest_version(registration)
    first.history_change_reason = ChangeReason.DEMO
    first.save()
    return [terminated_agreement, past, world.shengli_participation, registration]


def test_the_admin_index_is_in_chinese(admin_client):
    response = admin_client.get(reverse("admin:index"))
    assert english_on(response) == []
    apps = {app["app_label"]: str(app["name"]) for app in response.context["app_list"]}
    assert apps["axes"] == "登录锁定"
    assert apps["django_celery_beat"] == "周期任务"
    assert apps["communities"] == "社区与共建协议"


def test_every_history_page_is_in_chinese(admin_client, every_reason):
    reasons = set()
    for obj in every_reason:
        listing = admin_client.get(history_url(obj))
        assert english_on(listing) == [], obj
        reasons |= {
            html.unescape(reason).strip()
            for reason in re.findall(
                r'<td class="change-reason">(.*?)</td>', listing.content.decode(), re.S
            )
        }
        for record in obj.history.all():
            assert english_on(admin_client.get(version_url(obj, record))) == [], (obj, record)
    assert reasons == {"签署", "提前终止", "期满到期", "点名", "演示数据", "—"}


def test_history_names_and_columns_in_chinese():
    with translation.override("zh-hans"):
        assert str(Agreement.history.model._meta.verbose_name) == "共驻共建协议历史版本"
        assert str(Registration.history.model._meta.verbose_name) == "报到历史版本"
        assert str(Participation.history.model._meta.verbose_name) == "参与记录历史版本"
        assert translation.gettext("Changes") == "变更内容"


def test_a_reason_is_stored_as_its_code_and_shown_as_its_label():
    with translation.override("zh-hans"):
        assert change_reason_label(ChangeReason.SIGNED) == "签署"
        assert change_reason_label("expired by date") == "期满到期"
        assert change_reason_label(None) == "—"
        assert change_reason_label("") == "—"
        assert change_reason_label("数据更正") == "数据更正"  # a reason written by hand


def test_the_changes_column_shows_labels_not_codes(world, superuser, admin_client):
    registration = approved_registration(world, superuser)
    with translation.override("zh-hans"):
        listing = admin_client.get(history_url(registration)).content.decode()
    assert "待审核&nbsp;&rarr;&nbsp;已报到" in listing
    assert "pending" not in listing.split('id="change-history"')[1]


def test_a_deleted_or_empty_related_row_reads_in_chinese(world, superuser, admin_client):
    clerk = type(superuser).objects.create_user(username="clerk")
    participation = world.shenzhen_participation
    for recorder in (clerk, superuser):
        participation.recorded_by = recorder
        participation.save()
    clerk_pk = clerk.pk
    clerk.delete()

    with translation.override("zh-hans"):
        listing = admin_client.get(history_url(participation)).content.decode()
    assert f"已删除的用户（{clerk_pk}）&nbsp;&rarr;&nbsp;root" in listing
    assert "—&nbsp;&rarr;&nbsp;" in listing  # nobody had recorded it before
