"""A member issues a service-hour certificate (志愿服务证明) on a phone and reads the PDF back;
the office issues one from the roster's member page; anyone verifies a number, signed out."""

import io

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from reports.models import Certificate

from .browser import assert_no_horizontal_scroll, log_in
from .conftest import SCREENS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def read_pdf(download) -> str:
    with open(download.value.path(), "rb") as file:
        return "".join(p.extract_text() for p in PdfReader(io.BytesIO(file.read())).pages)


def phone(browser, live_server):
    context = browser.new_context(
        base_url=live_server.url, locale="zh-CN", timezone_id="Asia/Shanghai", **SCREENS["phone"]
    )
    context.set_default_timeout(10_000)
    return context.new_page()


@pytest.mark.parametrize("screen", ["phone"])
def test_a_certificate_is_issued_downloaded_and_verified(
    page, browser, live_server, world, member_user, agency_office
):
    log_in(page, "sanxia_member")
    page.goto("/me/")
    page.get_by_test_id("certificate-link").click()
    assert_no_horizontal_scroll(page)
    with page.expect_download() as download:
        page.get_by_test_id("certificate-issue").click()
    certificate = Certificate.objects.get()
    text = read_pdf(download).replace("\n", "")
    assert "志愿服务证明" in text and "李建华" in text and certificate.number in text
    assert f"下沉任务{certificate.duty_hours.normalize():f}小时" in text
    assert certificate.duty_hours == 2  # the world's duty patrol, present for 2 hours
    # …listed below, with the total its sum.
    assert "附：服务活动明细（共1次）" in text and "沿江防汛巡逻胜利一路社区下沉任务2" in text
    assert "合计1次2" in text.replace(" ", "")

    page.goto("/me/certificate/")
    expect(page.get_by_test_id("certificate-row")).to_have_count(1)

    office = phone(browser, live_server)
    log_in(office, "sanxia_office")
    office.goto(f"/roster/{world.sanxia_member_2.pk}/")
    office.get_by_test_id("certificate").click()
    with office.expect_download() as download:
        office.get_by_test_id("certificate-issue").click()
    second = Certificate.objects.order_by("-pk").first()
    assert second.number != certificate.number and "王海燕" in read_pdf(download)
    office.context.close()

    stranger = phone(browser, live_server)
    stranger.goto("/verify/")
    stranger.get_by_label("证明编号").fill(certificate.number)
    stranger.get_by_role("button", name="查验").click()
    expect(stranger.get_by_test_id("verify-holder")).to_have_text("李*华")
    assert "李建华" not in stranger.content()
    stranger.get_by_label("证明编号").fill("XC-2000-000001")
    stranger.get_by_role("button", name="查验").click()
    expect(stranger.get_by_test_id("verify-unknown")).to_be_visible()
    assert_no_horizontal_scroll(stranger)
    stranger.context.close()
