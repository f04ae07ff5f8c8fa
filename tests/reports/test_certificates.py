"""Service-hour certificates (志愿服务证明, issue 12 point 4): numbered from the register, figures
by the two ledgers of 我的记录, a PDF in Chinese read back here, scope, and the public page that
verifies a number."""

import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from activities.models import Activity, Participation
from communities.dates import local_midnight
from members.models import Member
from reports import certificates
from reports.certificates import VERIFY_DOOR, certificate_pdf, issue, masked_name
from reports.me import ledgers
from reports.models import Certificate

from . import test_me
from .test_me import activity, take_part

year_of_service = test_me.year_of_service  # the fixture: this year's service of 李建华

YEAR = timezone.localdate().year
JAN_1 = dt.date(YEAR, 1, 1)


def pdf_text(content: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def issued(world, member_user, **kwargs):
    values = {
        "member": world.sanxia_member,
        "first": JAN_1,
        "last": dt.date(YEAR, 12, 31),
        "issuer": world.sanxia,
        "contact": "0717-1234567",
        "by": member_user,
    }
    return issue(**{**values, **kwargs})


def post_form(client, url, **data):
    values = {
        "first_day": JAN_1.isoformat(),
        "last_day": timezone.localdate().isoformat(),
        "contact": "0717-1234567",
    }
    return client.post(url, {**values, **data})


# --- The register ----------------------------------------------------------------------------


def test_numbers_follow_each_other_in_the_year_and_are_unique(world, member_user):
    numbers = [issued(world, member_user).number for _ in range(3)]
    assert numbers == [f"XC-{YEAR}-{n:06d}" for n in (1, 2, 3)]
    assert Certificate.objects.values("number").distinct().count() == 3


def test_the_figures_are_the_ledgers_of_the_period(world, member_user, year_of_service):
    mine = Participation.objects.filter(member=world.sanxia_member)
    expected = ledgers(mine, YEAR)
    certificate = issued(world, member_user)
    assert certificate.duty_hours == expected["duty"].hours
    assert certificate.voluntary_hours == expected["volunteer"].hours
    assert certificate.activities == expected["total"].present
    assert certificate.voluntary_hours > 0 and certificate.duty_hours > 0  # both ledgers held


def test_a_shorter_period_leaves_out_what_is_outside_it(world, member_user, year_of_service):
    # The fixture's service: duty patrol on Jan 2, voluntary 3 h Jan 3, 1.5 h Jan 4.
    certificate = issued(world, member_user, first=dt.date(YEAR, 1, 3), last=dt.date(YEAR, 1, 3))
    assert certificate.duty_hours == 0
    assert certificate.voluntary_hours == Decimal("3")
    assert certificate.activities == 1


def test_the_figures_are_frozen_at_issue(world, member_user, year_of_service):
    certificate = issued(world, member_user)
    before = certificate.voluntary_hours
    take_part(
        world,
        activity(
            world,
            "后来补录",
            days=0,
            at=local_midnight(JAN_1) + dt.timedelta(days=9, hours=9),
            nature=Activity.Nature.VOLUNTEER,
        ),
        "present",
        Decimal("4"),
    )
    certificate.refresh_from_db()
    assert certificate.voluntary_hours == before
    assert issued(world, member_user).voluntary_hours == before + 4


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_certificates_issued_at_once_get_distinct_numbers_in_order(world, member_user):
    import threading

    from django.db import connection, connections

    assert connection.vendor == "postgresql"
    people = 8
    start = threading.Barrier(people)
    failures = []

    def tap():
        try:
            start.wait()
            issued(world, member_user)
        except Exception as exc:  # noqa: BLE001 — reported below
            failures.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=tap) for _ in range(people)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    numbers = sorted(Certificate.objects.values_list("number", flat=True))
    assert numbers == [f"XC-{YEAR}-{n:06d}" for n in range(1, people + 1)]


# --- The PDF ---------------------------------------------------------------------------------


def test_the_pdf_holds_the_name_the_hours_the_number_and_the_verification_address(
    world, member_user, year_of_service
):
    certificate = issued(world, member_user)
    text = pdf_text(certificate_pdf(certificate))
    assert "志愿服务证明" in text
    assert "李建华" in text
    assert world.sanxia.name in text
    assert certificate.number in text
    duty = f"{certificate.duty_hours.normalize():f}"
    voluntary = f"{certificate.voluntary_hours.normalize():f}"
    assert f"下沉任务{duty}小时" in text.replace("\n", "")
    assert f"志愿服务{voluntary}小时" in text.replace("\n", "")
    assert f"参加服务活动{certificate.activities}次" in text.replace("\n", "")
    assert "负责人" in text and certificate.responsible in text
    assert "0717-1234567" in text
    assert settings.SITE_URL + reverse("reports:certificate_verify") in text.replace("\n", "")
    assert "13900000001" not in text  # the holder's mobile is not printed
    issued_on = timezone.localtime(certificate.issued_at).date()
    date = f"{issued_on.year}年{issued_on.month}月{issued_on.day}日"
    assert f"出具日期：{date}" in text.replace("\n", "")
    # No ID number: Xiachen keeps none (its privacy notice says so).
    assert "身份证" not in text


# --- The activities served, listed -----------------------------------------------------------


def flat(content: bytes) -> str:
    return pdf_text(content).replace("\n", "").replace(" ", "")


def test_the_pdf_lists_each_activity_served_and_the_total_is_their_sum(
    world, member_user, year_of_service
):
    certificate = issued(world, member_user)
    day = [dt.date(YEAR, 1, n).isoformat() for n in range(1, 10)]
    # Present rows only, of the period, not drafts, not another member's: the ledger's.
    assert certificate.lines == [
        {"day": day[1], "title": "沿江防汛巡逻", "community": "胜利一路社区", "nature": "duty",
         "hours": "2.0"},
        {"day": day[2], "title": "清扫一", "community": "胜利一路社区", "nature": "volunteer",
         "hours": "3.0"},
        {"day": day[3], "title": "清扫二", "community": "胜利一路社区", "nature": "volunteer",
         "hours": "1.5"},
    ]  # fmt: skip
    lines_total = sum(Decimal(line["hours"]) for line in certificate.lines)
    assert lines_total == certificate.total_hours == Decimal("6.5")
    assert certificate.activities == len(certificate.lines)
    text = flat(certificate_pdf(certificate))
    assert "附：服务活动明细（共3次）" in text
    assert "日期服务活动社区类别小时" in text
    assert f"{day[1]}沿江防汛巡逻胜利一路社区下沉任务2" in text
    assert f"{day[2]}清扫一胜利一路社区志愿服务3" in text
    assert f"{day[3]}清扫二胜利一路社区志愿服务1.5" in text
    assert "合计3次6.5" in text
    for absent in ("巡逻二", "宣讲", "草稿", "别人的"):
        assert absent not in text, absent


def _many_activities(world, n, *, prefix="活动"):
    start = local_midnight(JAN_1) + dt.timedelta(hours=9)
    activities = Activity.objects.bulk_create(
        [
            Activity(
                community=world.shengli,
                type=world.cleanup,
                title=f"{prefix}{i:03d}",
                starts_at=start + dt.timedelta(hours=i),
                ends_at=start + dt.timedelta(hours=i, minutes=30),
                nature=Activity.Nature.VOLUNTEER if i % 2 else Activity.Nature.DUTY,
                status=Activity.Status.FINISHED,
            )
            for i in range(1, n + 1)
        ]
    )
    Participation.objects.bulk_create(
        [
            Participation(
                activity=activity,
                member=world.sanxia_member,
                status=Participation.Status.PRESENT,
                hours=Decimal("0.5") * (1 + i % 4),
                source=Participation.Source.ROLL_CALL,
            )
            for i, activity in enumerate(activities)
        ]
    )


def test_hundreds_of_activities_run_over_pages_with_the_header_on_each(world, member_user):
    import time

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    issued(world, member_user)  # the first of the year writes its counter
    _many_activities(world, 3)
    with CaptureQueriesContext(connection) as few:
        issued(world, member_user)
    _many_activities(world, 297, prefix="另一活动")
    with CaptureQueriesContext(connection) as many:
        certificate = issued(world, member_user)
    # One query reads the lines however many there are.
    assert len(many) == len(few), (len(few), len(many))
    # 300 of these, and the world's patrol of today (in the year unless run on Jan 1 early).
    n = len(certificate.lines)
    assert certificate.activities == n and n >= 300

    started = time.process_time()
    content = certificate_pdf(certificate)
    took = time.process_time() - started
    assert took < 10, f"{took:.1f} s of CPU"
    pages = [page.extract_text().replace("\n", "").replace(" ", "") for page in
             PdfReader(io.BytesIO(content)).pages]  # fmt: skip
    assert len(pages) >= 5
    for page in pages:  # each page: the number, and (past the first) the header row repeated
        assert certificate.number in page
        assert "日期服务活动社区类别小时" in page
    text = "".join(pages)
    for line in certificate.lines:
        assert line["title"] in text, line
    total = sum(Decimal(line["hours"]) for line in certificate.lines)
    assert total == certificate.total_hours
    assert f"合计{n}次{total.normalize():f}" in text
    print(f"\n{n} activities: {len(pages)} pages, {took:.2f} s of CPU, {len(many)} queries")


def test_a_certificate_downloaded_after_a_correction_shows_the_lines_issued(
    client, world, member_user, year_of_service
):
    client.force_login(member_user)
    post_form(client, reverse("reports:my_certificate"), issuer=f"agency-{world.sanxia.pk}")
    certificate = Certificate.objects.get()
    # The ledger is corrected afterwards: 清扫一 was 3 hours, now 8; a late record is added.
    Participation.objects.filter(member=world.sanxia_member, activity__title="清扫一").update(
        hours=Decimal("8")
    )
    take_part(
        world,
        activity(world, "后来补录", days=0, nature=Activity.Nature.VOLUNTEER,
                 at=local_midnight(JAN_1) + dt.timedelta(days=8, hours=9)),
        "present",
        Decimal("4"),
    )  # fmt: skip
    again = flat(client.get(reverse("reports:certificate_pdf", args=[certificate.pk])).content)
    assert "清扫一胜利一路社区志愿服务3" in again and "后来补录" not in again
    assert "合计3次6.5" in again
    # A new certificate reads the ledger as it is now.
    post_form(client, reverse("reports:my_certificate"), issuer=f"agency-{world.sanxia.pk}")
    new = Certificate.objects.order_by("-pk").first()
    assert new.pk != certificate.pk and new.total_hours == Decimal("15.5")
    text = flat(certificate_pdf(new))
    assert "清扫一胜利一路社区志愿服务8" in text and "后来补录" in text and "合计4次15.5" in text


def test_the_download_costs_the_same_queries_however_many_lines(client, world, member_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(member_user)
    small = issued(world, member_user)
    _many_activities(world, 200)
    big = issued(world, member_user)
    counts = []
    for certificate in (small, big):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("reports:certificate_pdf", args=[certificate.pk]))
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_a_certificate_issued_before_the_lines_were_kept_prints_its_figures_without_a_list(
    world, member_user, year_of_service
):
    certificate = issued(world, member_user)
    Certificate.objects.filter(pk=certificate.pk).update(lines=None)
    certificate.refresh_from_db()
    text = flat(certificate_pdf(certificate))
    assert "参加服务活动3次" in text and "附：服务活动明细" not in text


# --- Issuing from the pages ------------------------------------------------------------------


def test_a_member_issues_their_own_and_the_register_logs_it(client, world, member_user):
    client.force_login(member_user)
    assert (
        client.get(reverse("reports:my_record"))
        .content.decode()
        .count(reverse("reports:my_certificate"))
    )
    page = client.get(reverse("reports:my_certificate"))
    assert page.status_code == 200
    response = post_form(
        client, reverse("reports:my_certificate"), issuer=f"agency-{world.sanxia.pk}"
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    certificate = Certificate.objects.get()
    assert certificate.member == world.sanxia_member
    assert certificate.issued_by == member_user
    assert certificate.issuer_kind == Certificate.IssuerKind.AGENCY
    assert certificate.agency == world.sanxia and certificate.issuer_name == world.sanxia.name
    assert certificate.responsible == "李建华"  # the login has no full name: its member's
    assert certificate.first_day == JAN_1 and certificate.last_day == timezone.localdate()
    assert certificate.number in pdf_text(response.content)
    listed = client.get(reverse("reports:my_certificate")).content.decode()
    assert certificate.number in listed
    again = client.get(reverse("reports:certificate_pdf", args=[certificate.pk]))
    assert again.status_code == 200 and certificate.number in pdf_text(again.content)


def test_a_member_may_name_a_community_they_are_reported_in_to(client, world, member_user):
    client.force_login(member_user)
    post_form(client, reverse("reports:my_certificate"), issuer=f"community-{world.shengli.pk}")
    certificate = Certificate.objects.get()
    assert certificate.issuer_kind == Certificate.IssuerKind.COMMUNITY
    assert certificate.community == world.shengli and certificate.agency is None


@pytest.mark.parametrize(
    "data",
    [
        {"first_day": "2026-05-02", "last_day": "2026-05-01"},
        {"last_day": "2099-12-31"},
        {"first_day": "9999-99-99"},
        {"first_day": "1900-01-01"},
        {"contact": "x" * 31},
        {"issuer": "community-999999"},
        {"issuer": "\x00"},
    ],
)
def test_a_wrong_form_says_so_and_issues_nothing(client, world, member_user, data):
    client.force_login(member_user)
    values = {"issuer": f"agency-{world.sanxia.pk}", **data}
    response = post_form(client, reverse("reports:my_certificate"), **values)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert 'class="invalid-feedback' in response.content.decode() or "alert" in (
        response.content.decode()
    )
    assert not Certificate.objects.exists()


def test_a_community_not_reported_in_to_is_not_an_issuer(client, world, member_user):
    client.force_login(member_user)
    post_form(client, reverse("reports:my_certificate"), issuer=f"community-{world.shenzhen.pk}")
    assert not Certificate.objects.exists()


def test_the_office_issues_for_a_member_of_its_roster(client, world, agency_office):
    agency_office.first_name = "张主任"
    agency_office.save()
    client.force_login(agency_office)
    member_page = client.get(reverse("reports:roster_member", args=[world.sanxia_member_2.pk]))
    url = reverse("reports:roster_certificate", args=[world.sanxia_member_2.pk])
    assert url in member_page.content.decode()
    response = post_form(client, url, issuer=f"agency-{world.sanxia.pk}")
    assert response["Content-Type"] == "application/pdf"
    certificate = Certificate.objects.get()
    assert certificate.member == world.sanxia_member_2 and certificate.issued_by == agency_office
    assert certificate.responsible == "张主任"
    text = pdf_text(response.content)
    assert "王海燕" in text and "张主任" in text
    download = client.get(reverse("reports:certificate_pdf", args=[certificate.pk]))
    assert download.status_code == 200


def test_another_members_certificate_and_a_member_off_the_roster_are_404(
    client, world, member_user, other_member_user, agency_office, other_agency_office
):
    certificate = issued(world, member_user)
    pdf = reverse("reports:certificate_pdf", args=[certificate.pk])
    client.force_login(other_member_user)
    assert client.get(pdf).status_code == 404
    client.force_login(other_agency_office)
    assert client.get(pdf).status_code == 404
    off_roster = reverse("reports:roster_certificate", args=[world.sanxia_member.pk])
    assert client.get(off_roster).status_code == 404
    assert post_form(client, off_roster, issuer=f"agency-{world.sanxia.pk}").status_code == 404
    client.force_login(agency_office)
    yuanlin = reverse("reports:roster_certificate", args=[world.yuanlin_member.pk])
    assert client.get(yuanlin).status_code == 404
    assert client.get(pdf).status_code == 200  # its own roster's member
    assert Certificate.objects.count() == 1


def test_staff_who_keep_no_roster_issue_nothing(client, world, community_staff):
    client.force_login(community_staff)
    url = reverse("reports:roster_certificate", args=[world.sanxia_member.pk])
    assert client.get(url).status_code == 403
    assert client.get(reverse("reports:my_certificate")).status_code == 403


def test_the_register_is_read_only_in_the_admin(staff_client, world, member_user):
    certificate = issued(world, member_user)
    changelist = staff_client.get(reverse("admin:reports_certificate_changelist"))
    assert changelist.status_code == 200 and certificate.number in changelist.content.decode()
    assert staff_client.get(reverse("admin:reports_certificate_add")).status_code == 403
    delete = reverse("admin:reports_certificate_delete", args=[certificate.pk])
    assert staff_client.post(delete, {"post": "yes"}).status_code == 403
    assert Certificate.objects.filter(pk=certificate.pk).exists()


# --- Verification ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, masked",
    [("李建华", "李*华"), ("王五", "王*"), ("欧阳小明", "欧**明"), ("李", "李"), ("", "")],
)
def test_names_are_masked_but_the_first_and_last_characters(name, masked):
    assert masked_name(name) == masked


def test_anyone_sees_a_genuine_number_with_the_masked_name_only(
    client, world, member_user, year_of_service
):
    certificate = issued(world, member_user)
    assert certificate.duty_hours and certificate.voluntary_hours
    page = client.get(reverse("reports:certificate_verify"), {"number": certificate.number})
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="verify-genuine"' in html
    assert "李*华" in html and "李建华" not in html and certificate.number in html
    # Issue 12: the number and the holder's masked name only — numbers run in order, so
    # anything more (the issuer, the period, the hours) would be read off by a guesser.
    genuine = html.split('data-testid="verify-genuine"', 1)[1].split("</dl>", 1)[0]
    assert genuine.count("<dd") == 2
    for private in (
        world.sanxia.name,
        certificate.responsible,
        certificate.contact,
        "13900000001",
        "下沉任务",
        "志愿服务时长",
    ):
        assert private not in genuine, private
    assert str(YEAR) not in genuine.replace(certificate.number, "")  # no period
    assert world.sanxia.name not in html and certificate.contact not in html


def test_a_number_typed_in_lower_case_with_spaces_is_found(client, world, member_user):
    certificate = issued(world, member_user)
    typed = f"  {certificate.number.lower()} "
    page = client.get(reverse("reports:certificate_verify"), {"number": typed})
    assert 'data-testid="verify-genuine"' in page.content.decode()


def test_an_unknown_number_says_so(client, world, member_user):
    issued(world, member_user)
    page = client.get(reverse("reports:certificate_verify"), {"number": f"XC-{YEAR}-999999"})
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="verify-unknown"' in html and 'data-testid="verify-genuine"' not in html


@pytest.mark.parametrize(
    "value", ["\x00", "'\"<script>alert(1)</script>", "x" * 5000, "%", "", "XC-%-%"]
)
def test_hostile_input_is_no_error_and_finds_nothing(client, world, member_user, value):
    issued(world, member_user)
    page = client.get(reverse("reports:certificate_verify"), {"number": value})
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="verify-genuine"' not in html
    assert "<script>alert(1)</script>" not in html


def test_the_verification_page_turns_away_an_address_that_asks_too_often(client, world):
    url = reverse("reports:certificate_verify")
    for n in range(VERIFY_DOOR.allowed):
        assert client.get(url, {"number": f"XC-{YEAR}-{n:06d}"}).status_code == 200
    shut = client.get(url, {"number": f"XC-{YEAR}-000001"})
    assert shut.status_code == 429 and int(shut["Retry-After"]) > 0
    assert client.get(url).status_code == 200  # the empty form is no lookup


def test_the_number_format_is_the_prefix_the_year_and_six_digits(world, member_user):
    number = issued(world, member_user).number
    assert re.fullmatch(rf"{certificates.NUMBER_PREFIX}-{YEAR}-\d{{6}}", number)


def test_a_certificate_of_a_member_who_left_stays_genuine(client, world, member_user):
    certificate = issued(world, member_user)
    Member.objects.filter(pk=world.sanxia_member.pk).update(
        status=Member.Status.LEFT, left_on=timezone.localdate()
    )
    page = client.get(reverse("reports:certificate_verify"), {"number": certificate.number})
    assert 'data-testid="verify-genuine"' in page.content.decode()
