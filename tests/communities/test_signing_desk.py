"""The agreement signing desk in the admin, and the services behind it."""

import datetime as dt
import html
import io
import re
import threading

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from communities import services
from communities.models import Agency, Agreement, Community, Street
from communities.services import agreement_sign, agreement_terminate, agreements_expire
from communities.tasks import expire_agreements

# A real, if tiny, one-page PDF.
SMALL_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/MediaBox[0 0 72 72]/Parent 2 0 R>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
WINDOWS_EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200


@pytest.fixture(autouse=True)
def english(settings):
    # Assertions read English text; the zh-hans catalogue must not change what they see.
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def desk(client, superuser):
    client.force_login(superuser)
    return client


def today():
    return timezone.localdate()


def make_draft(agency, community, number="GJ-DRAFT-1", starts=0, days=365):
    return Agreement.objects.create(
        agency=agency,
        community=community,
        number=number,
        starts_on=today() + dt.timedelta(days=starts),
        ends_on=today() + dt.timedelta(days=starts + days),
    )


def messages_of(response):
    """(level, text) of each admin message rendered on the page."""
    content = response.content.decode()
    block = re.search(r'<ul class="messagelist">(.*?)</ul>', content, re.S)
    if not block:
        return []
    return [
        (level, html.unescape(text).strip())
        for level, text in re.findall(r'<li class="(\w+)">(.*?)</li>', block.group(1), re.S)
    ]


def change_url(agreement):
    return reverse("admin:communities_agreement_change", args=[agreement.pk])


def sign_url(agreement):
    return reverse("admin:communities_agreement_sign", args=[agreement.pk])


def terminate_url(agreement):
    return reverse("admin:communities_agreement_terminate", args=[agreement.pk])


def changelist(client, **params):
    return client.get(reverse("admin:communities_agreement_changelist"), params)


# Signing through the admin


def test_it_signs_a_draft_through_the_admin_desk(world, desk, superuser):
    draft = make_draft(world.yuanlin, world.shengli)
    page = desk.get(sign_url(draft))
    assert page.status_code == 200
    assert 'name="signed_on"' in page.content.decode()

    signed_on = today() - dt.timedelta(days=2)
    response = desk.post(sign_url(draft), {"signed_on": signed_on.isoformat()})

    assert response.status_code == 302
    assert response["Location"] == change_url(draft)
    draft.refresh_from_db()
    assert draft.status == Agreement.Status.ACTIVE
    assert draft.signed_on == signed_on
    assert draft.signed_by == superuser
    assert draft.signed_at is not None
    record = draft.history.filter(status=Agreement.Status.ACTIVE).get()
    assert record.history_user == superuser
    assert record.signed_by_id == superuser.pk
    assert draft.history.filter(status=Agreement.Status.DRAFT).exists()


def test_the_change_form_offers_sign_on_a_draft_and_terminate_on_an_active_one(world, desk):
    draft = make_draft(world.yuanlin, world.shengli)
    draft_page = desk.get(change_url(draft)).content.decode()
    assert sign_url(draft) in draft_page
    assert terminate_url(draft) not in draft_page

    active_page = desk.get(change_url(world.agreement)).content.decode()
    assert terminate_url(world.agreement) in active_page
    assert sign_url(world.agreement) not in active_page


def test_it_refuses_to_sign_over_the_pairs_active_agreement_and_changes_nothing(world, desk):
    draft = make_draft(world.sanxia, world.shengli, number="GJ-TEST-002")
    before = world.agreement.history.count()

    response = desk.post(sign_url(draft), {"signed_on": today().isoformat()})

    assert response.status_code == 200
    errors = [text for level, text in messages_of(response) if level == "error"]
    assert len(errors) == 1
    assert "GJ-TEST-001" in errors[0]
    assert "Terminate it, or wait until it ends" in errors[0]
    draft.refresh_from_db()
    assert draft.status == Agreement.Status.DRAFT
    assert draft.signed_by is None
    world.agreement.refresh_from_db()
    assert world.agreement.status == Agreement.Status.ACTIVE
    assert world.agreement.history.count() == before


def test_it_refuses_a_signing_date_in_the_future(world, desk):
    draft = make_draft(world.yuanlin, world.shengli)
    response = desk.post(sign_url(draft), {"signed_on": (today() + dt.timedelta(1)).isoformat()})
    assert response.status_code == 200
    assert [level for level, _ in messages_of(response)] == ["error"]
    draft.refresh_from_db()
    assert draft.status == Agreement.Status.DRAFT


def test_a_malformed_date_is_a_form_error_not_a_crash(world, desk):
    draft = make_draft(world.yuanlin, world.shengli)
    response = desk.post(sign_url(draft), {"signed_on": "30/02/not-a-date"})
    assert response.status_code == 200
    assert response.context["form"].errors["signed_on"]
    draft.refresh_from_db()
    assert draft.status == Agreement.Status.DRAFT


def test_the_sign_page_of_an_agreement_already_signed_sends_back_with_a_message(world, desk):
    response = desk.get(sign_url(world.agreement), follow=True)
    assert response.redirect_chain[-1][0] == change_url(world.agreement)
    assert [level for level, _ in messages_of(response)] == ["error"]


def test_the_desk_views_are_404_for_unknown_agreements(world, desk):
    for name in ("sign", "terminate"):
        for pk in ("999999", "not-a-number"):
            url = reverse(f"admin:communities_agreement_{name}", args=[pk])
            assert desk.get(url).status_code == 404
            assert desk.post(url, {"reason": "x"}).status_code == 404


def test_the_desk_needs_change_permission(world, client, django_user_model):
    viewer = django_user_model.objects.create_user(username="viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_agreement"))
    client.force_login(viewer)
    draft = make_draft(world.yuanlin, world.shengli)

    assert client.get(change_url(draft)).status_code == 200
    assert client.post(sign_url(draft), {"signed_on": today().isoformat()}).status_code == 403
    assert client.post(terminate_url(world.agreement), {"reason": "x"}).status_code == 403
    draft.refresh_from_db()
    assert draft.status == Agreement.Status.DRAFT


def test_the_desk_is_not_for_people_outside_the_admin(world, client, city_admin):
    client.force_login(city_admin)  # a city administrator without admin access (is_staff)
    draft = make_draft(world.yuanlin, world.shengli)
    response = client.post(sign_url(draft), {"signed_on": today().isoformat()})
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]
    draft.refresh_from_db()
    assert draft.status == Agreement.Status.DRAFT


def test_the_changelist_action_signs_the_drafts_it_can_and_reports_the_others(world, desk):
    fine = make_draft(world.yuanlin, world.shenzhen, number="GJ-OK-1")
    blocked = make_draft(world.sanxia, world.shengli, number="GJ-BLOCKED-1")
    already = world.agreement

    response = desk.post(
        reverse("admin:communities_agreement_changelist"),
        {"action": "sign_selected", "_selected_action": [fine.pk, blocked.pk, already.pk]},
        follow=True,
    )

    assert response.status_code == 200
    fine.refresh_from_db()
    blocked.refresh_from_db()
    assert fine.status == Agreement.Status.ACTIVE
    assert fine.signed_on == today()
    assert blocked.status == Agreement.Status.DRAFT
    shown = messages_of(response)
    errors = [text for level, text in shown if level == "error"]
    assert len(errors) == 2
    assert any("GJ-BLOCKED-1" in text and "GJ-TEST-001" in text for text in errors)
    assert any(text.startswith("GJ-TEST-001") for text in errors)
    assert ("success", "Signed 1 agreement.") in shown


def test_signing_first_stores_expired_on_the_pairs_agreement_past_its_end(world, desk):
    old = world.agreement
    Agreement.objects.filter(pk=old.pk).update(
        starts_on=today() - dt.timedelta(days=400), ends_on=today() - dt.timedelta(days=1)
    )
    renewal = make_draft(world.sanxia, world.shengli, number="GJ-TEST-002")

    response = desk.post(sign_url(renewal), {"signed_on": today().isoformat()})

    assert response.status_code == 302
    old.refresh_from_db()
    renewal.refresh_from_db()
    assert old.status == Agreement.Status.EXPIRED
    assert renewal.status == Agreement.Status.ACTIVE
    expired = old.history.get(status=Agreement.Status.EXPIRED)
    assert expired.history_change_reason == services.EXPIRED_BY_DATE
    assert expired.history_user is None


# Terminating through the admin


def test_it_terminates_an_active_agreement_with_a_reason(world, desk, superuser):
    assert desk.get(terminate_url(world.agreement)).status_code == 200

    response = desk.post(
        terminate_url(world.agreement),
        {"terminated_on": today().isoformat(), "reason": "  The community was merged.  "},
    )

    assert response.status_code == 302
    agreement = Agreement.objects.get(pk=world.agreement.pk)
    assert agreement.status == Agreement.Status.TERMINATED
    assert agreement.terminated_on == today()
    assert agreement.termination_reason == "The community was merged."
    assert agreement.terminated_by == superuser
    assert agreement.history.filter(status=Agreement.Status.TERMINATED).get().history_user == (
        superuser
    )


def test_it_refuses_to_terminate_without_a_reason(world, desk):
    response = desk.post(
        terminate_url(world.agreement), {"terminated_on": today().isoformat(), "reason": "   "}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    world.agreement.refresh_from_db()
    assert world.agreement.status == Agreement.Status.ACTIVE
    assert world.agreement.termination_reason == ""


def test_terminating_a_draft_is_not_offered(world, desk):
    draft = make_draft(world.yuanlin, world.shengli)
    response = desk.post(terminate_url(draft), {"reason": "why not"}, follow=True)
    assert [level for level, _ in messages_of(response)] == ["error"]
    draft.refresh_from_db()
    assert draft.status == Agreement.Status.DRAFT


# The services


def test_agreement_sign_records_who_and_when(world, superuser):
    draft = make_draft(world.yuanlin, world.shengli)
    result = agreement_sign(agreement=draft, by=superuser)
    assert result.status == Agreement.Status.ACTIVE
    assert result.signed_on == today()
    assert result.signed_by == superuser
    assert Agreement.objects.get(pk=draft.pk).status == Agreement.Status.ACTIVE


@pytest.mark.parametrize(
    "setup, code",
    [
        ("not_draft", "not_draft"),
        ("ended", "ended"),
        ("future", "signed_in_future"),
        ("overlap", "already_active"),
    ],
)
def test_agreement_sign_refusals(world, superuser, setup, code):
    signed_on = None
    if setup == "not_draft":
        agreement = world.agreement
    elif setup == "ended":
        agreement = make_draft(world.yuanlin, world.shengli, starts=-100, days=99)
    elif setup == "future":
        agreement = make_draft(world.yuanlin, world.shengli)
        signed_on = today() + dt.timedelta(days=1)
    else:
        agreement = make_draft(world.sanxia, world.shengli, number="GJ-TEST-002")
    status_before = agreement.status

    with pytest.raises(ValidationError) as refused:
        agreement_sign(agreement=agreement, by=superuser, signed_on=signed_on)

    assert refused.value.code == code
    assert Agreement.objects.get(pk=agreement.pk).status == status_before


def test_a_concurrent_signing_caught_by_the_database_is_the_same_refusal(
    world, superuser, monkeypatch
):
    # Pretend the check saw nothing, as when another signing commits between check and write:
    # the database constraint must still stop it, with the same message.
    monkeypatch.setattr(services, "_other_active", lambda pair, agreement: None)
    draft = make_draft(world.sanxia, world.shengli, number="GJ-TEST-002")

    with pytest.raises(ValidationError) as refused:
        agreement_sign(agreement=draft, by=superuser)

    assert refused.value.code == "already_active"
    assert "GJ-TEST-001" in refused.value.messages[0]
    assert Agreement.objects.get(pk=draft.pk).status == Agreement.Status.DRAFT
    assert Agreement.objects.filter(status=Agreement.Status.ACTIVE).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_people_signing_two_drafts_of_one_pair_at_once_sign_only_one(superuser):
    # Its own places, not `world`: a transactional test must not need the migrations' rows,
    # which an earlier transactional test may have flushed.
    street = Street.objects.create(name="西陵街道")
    community = Community.objects.create(street=street, name="学院街社区")
    agency = Agency.objects.create(name="市民宗委")
    drafts = [make_draft(agency, community, number=f"GJ-RACE-{i}") for i in (1, 2)]
    start = threading.Barrier(len(drafts))
    outcomes = {}

    def sign(draft):
        try:
            start.wait()
            agreement_sign(agreement=draft, by=superuser)
            outcomes[draft.number] = "signed"
        except ValidationError as exc:
            outcomes[draft.number] = exc.code
        finally:
            connection.close()

    threads = [threading.Thread(target=sign, args=(draft,)) for draft in drafts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes.values()) == ["already_active", "signed"]
    active = Agreement.objects.filter(
        agency=agency, community=community, status=Agreement.Status.ACTIVE
    )
    assert active.count() == 1


def test_agreement_terminate_requires_an_active_agreement_and_a_reason(world, superuser):
    with pytest.raises(ValidationError) as no_reason:
        agreement_terminate(agreement=world.agreement, by=superuser, reason=" \n ")
    assert no_reason.value.code == "reason_required"

    draft = make_draft(world.yuanlin, world.shengli)
    with pytest.raises(ValidationError) as not_active:
        agreement_terminate(agreement=draft, by=superuser, reason="changed plans")
    assert not_active.value.code == "not_active"

    # Active in storage but past its end: expired in fact, nothing left to terminate.
    Agreement.objects.filter(pk=world.agreement.pk).update(ends_on=today() - dt.timedelta(1))
    world.agreement.refresh_from_db()
    with pytest.raises(ValidationError) as expired:
        agreement_terminate(agreement=world.agreement, by=superuser, reason="late")
    assert expired.value.code == "not_active"
    assert Agreement.objects.get(pk=world.agreement.pk).status == Agreement.Status.ACTIVE


def test_agreement_terminate_stores_the_reason(world, superuser):
    on = today() - dt.timedelta(days=3)
    result = agreement_terminate(agreement=world.agreement, by=superuser, reason=" merged ", on=on)
    assert result.status == Agreement.Status.TERMINATED
    assert (result.terminated_on, result.termination_reason) == (on, "merged")
    assert result.terminated_by == superuser


def past_end(world):
    """Active agreements of two pairs that ended yesterday and last month, plus a draft."""
    Agreement.objects.filter(pk=world.agreement.pk).update(ends_on=today() - dt.timedelta(1))
    last_month = Agreement.objects.create(
        agency=world.yuanlin,
        community=world.shenzhen,
        number="GJ-OLD-1",
        starts_on=today() - dt.timedelta(days=400),
        ends_on=today() - dt.timedelta(days=30),
        status=Agreement.Status.ACTIVE,
        signed_on=today() - dt.timedelta(days=400),
    )
    current = Agreement.objects.create(
        agency=world.yuanlin,
        community=world.shengli,
        number="GJ-NOW-1",
        starts_on=today() - dt.timedelta(days=10),
        ends_on=today(),
        status=Agreement.Status.ACTIVE,
        signed_on=today() - dt.timedelta(days=10),
    )
    stale_draft = make_draft(
        world.sanxia, world.shenzhen, number="GJ-DRAFT-OLD", starts=-50, days=10
    )
    return last_month, current, stale_draft


def test_agreements_expire_stores_expired_with_history(world):
    last_month, current, stale_draft = past_end(world)

    assert agreements_expire() == 2

    statuses = dict(Agreement.objects.values_list("number", "status"))
    assert statuses == {
        "GJ-TEST-001": Agreement.Status.EXPIRED,
        "GJ-OLD-1": Agreement.Status.EXPIRED,
        "GJ-NOW-1": Agreement.Status.ACTIVE,  # its last day is today
        "GJ-DRAFT-OLD": Agreement.Status.DRAFT,
    }
    record = last_month.history.latest("history_date")
    assert record.status == Agreement.Status.EXPIRED
    assert record.history_change_reason == services.EXPIRED_BY_DATE
    assert record.history_user is None
    assert agreements_expire() == 0


def test_agreements_expire_takes_the_day_to_judge_by(world):
    past_end(world)
    assert agreements_expire(today=today() - dt.timedelta(days=5)) == 1  # only GJ-OLD-1


def test_the_management_command_expires_and_says_how_many(world):
    past_end(world)
    out = io.StringIO()
    call_command("expire_agreements", stdout=out)
    assert "Expired 2 agreements." in out.getvalue()
    assert not Agreement.objects.filter(
        status=Agreement.Status.ACTIVE, ends_on__lt=today()
    ).exists()


def test_the_celery_task_runs_the_same_service(world):
    past_end(world)
    assert expire_agreements.name == "communities.expire_agreements"
    assert expire_agreements.apply().get() == 2


# The changelist


def test_an_agreement_past_its_end_shows_as_expired_without_anything_run(world, desk):
    Agreement.objects.filter(pk=world.agreement.pk).update(ends_on=today() - dt.timedelta(1))

    page = changelist(desk)
    content = page.content.decode()
    assert "agreement-status-expired" in content
    assert "agreement-status-active" not in content

    expired = changelist(desk, effective_status="expired").context["cl"].result_list
    assert [a.number for a in expired] == ["GJ-TEST-001"]
    assert list(changelist(desk, effective_status="active").context["cl"].result_list) == []
    assert Agreement.objects.get(pk=world.agreement.pk).status == Agreement.Status.ACTIVE


def test_the_status_filter_follows_the_stored_status_otherwise(world, desk):
    make_draft(world.yuanlin, world.shengli)
    numbers = {
        value: {
            a.number for a in changelist(desk, effective_status=value).context["cl"].result_list
        }
        for value in Agreement.Status.values
    }
    assert numbers == {
        "draft": {"GJ-DRAFT-1"},
        "active": {"GJ-TEST-001"},
        "expired": set(),
        "terminated": set(),
    }
    assert "agreement-status-draft" in changelist(desk).content.decode()


def test_the_term_filter(world, desk):
    make_draft(world.yuanlin, world.shengli, number="LATER", starts=10)
    make_draft(world.yuanlin, world.shenzhen, number="ENDED", starts=-30, days=10)
    make_draft(world.sanxia, world.shenzhen, number="NOW-DRAFT", starts=-5)  # not in force

    def numbers(term):
        return {a.number for a in changelist(desk, term=term).context["cl"].result_list}

    assert numbers("current") == {"GJ-TEST-001"}
    assert numbers("upcoming") == {"LATER"}
    assert numbers("ended") == {"ENDED"}


# The scan


def scan_post(agreement, upload):
    return {
        "commitments": agreement.commitments,
        "agency_contact": "张三",
        "agency_contact_phone": "",
        "community_contact": "",
        "community_contact_phone": "",
        "scan": upload,
        "_save": "Save",
    }


def test_a_small_pdf_scan_is_accepted_and_linked_privately(world, desk):
    upload = SimpleUploadedFile("signed.pdf", SMALL_PDF, content_type="application/pdf")
    response = desk.post(change_url(world.agreement), scan_post(world.agreement, upload))

    assert response.status_code == 302
    agreement = Agreement.objects.get(pk=world.agreement.pk)
    assert agreement.scan.name.endswith(".pdf")
    assert agreement.agency_contact == "张三"
    with agreement.scan.open("rb") as stored:
        assert stored.read() == SMALL_PDF

    page = desk.get(change_url(agreement)).content.decode()
    assert reverse("communities:agreement_scan", args=[agreement.pk]) in page
    assert f'href="{agreement.scan.url}"' not in page
    assert 'href="/media/' not in page


def test_a_renamed_exe_is_refused_as_a_scan(world, desk):
    upload = SimpleUploadedFile("scan.pdf", WINDOWS_EXE, content_type="application/pdf")
    response = desk.post(change_url(world.agreement), scan_post(world.agreement, upload))

    assert response.status_code == 200
    assert "Only a PDF, JPEG or PNG scan can be uploaded" in response.content.decode()
    agreement = Agreement.objects.get(pk=world.agreement.pk)
    assert not agreement.scan
    assert agreement.agency_contact == ""


def test_an_oversized_scan_is_refused(world, desk, settings):
    settings.AGREEMENT_SCAN_MAX_BYTES = 1024
    upload = SimpleUploadedFile("scan.pdf", SMALL_PDF + b"0" * 2048)
    response = desk.post(change_url(world.agreement), scan_post(world.agreement, upload))

    assert response.status_code == 200
    assert "the limit is 1.0" in response.content.decode()
    assert not Agreement.objects.get(pk=world.agreement.pk).scan


def test_the_scan_downloads_in_scope_and_is_404_outside(
    world, client, agency_office, other_agency_office
):
    world.agreement.scan.save("signed.pdf", ContentFile(SMALL_PDF))
    url = reverse("communities:agreement_scan", args=[world.agreement.pk])

    client.force_login(agency_office)
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == SMALL_PDF

    client.force_login(other_agency_office)
    assert client.get(url).status_code == 404


# What stays editable


def test_the_terms_are_read_only_once_signed(world, desk):
    draft = make_draft(world.yuanlin, world.shengli)
    draft_page = desk.get(change_url(draft)).content.decode()
    for field in ("number", "agency", "community", "starts_on", "ends_on", "daily_quota"):
        assert f'name="{field}"' in draft_page

    signed_page = desk.get(change_url(world.agreement)).content.decode()
    for field in ("number", "agency", "community", "starts_on", "ends_on", "daily_quota"):
        assert f'name="{field}"' not in signed_page
    for field in ("commitments", "agency_contact", "community_contact_phone", "scan"):
        assert f'name="{field}"' in signed_page
    assert "agreement-status-active" in signed_page

    data = scan_post(world.agreement, "")
    data.update(number="CHANGED", daily_quota="9", ends_on="2099-01-01", commitments="更新承诺")
    assert desk.post(change_url(world.agreement), data).status_code == 302
    agreement = Agreement.objects.get(pk=world.agreement.pk)
    assert (agreement.number, agreement.daily_quota) == ("GJ-TEST-001", 1)
    assert agreement.ends_on == world.agreement.ends_on
    assert agreement.commitments == "更新承诺"


def test_a_signed_agreement_cannot_be_deleted_but_a_draft_can(world, desk):
    draft = make_draft(world.yuanlin, world.shengli)
    delete = "admin:communities_agreement_delete"
    assert desk.get(reverse(delete, args=[world.agreement.pk])).status_code == 403
    assert desk.get(reverse(delete, args=[draft.pk])).status_code == 200
    actions = changelist(desk).context["action_form"].fields["action"].choices
    assert "delete_selected" not in dict(actions)


def test_an_agreement_signed_on_paper_earlier_is_entered_as_of_that_moment(world, superuser):
    draft = make_draft(world.yuanlin, world.shengli, starts=-30)
    signed = timezone.now() - dt.timedelta(days=30)

    result = agreement_sign(
        agreement=draft, by=superuser, signed_on=timezone.localdate(signed), now=signed
    )

    assert result.signed_at == signed
    assert result.history.latest("history_id").history_date == signed
    # "In the future" is judged at that moment: a day after it is refused.
    later = make_draft(world.sanxia, world.shenzhen, number="GJ-DRAFT-2", starts=-30)
    with pytest.raises(ValidationError) as refused:
        agreement_sign(
            agreement=later,
            by=superuser,
            signed_on=timezone.localdate(signed) + dt.timedelta(days=1),
            now=signed,
        )
    assert refused.value.code == "signed_in_future"
