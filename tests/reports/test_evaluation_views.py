"""The annual evaluation's pages (年度评价): who opens which, scope on content (another agency's
or community's ids in the URL or the POST change nothing), the cap message, hostile input, and
query counts that hold with the number of members."""

import pytest
from django.test import Client
from django.utils import timezone

from activities.models import Participation
from members.models import Registration
from reports.models import Evaluation, EvaluationObjection
from reports.services import evaluations_save, objection_raise

from .test_evaluation_services import reported_in

Rating = Evaluation.Rating
YEAR = timezone.localdate().year


@pytest.fixture
def ratings(world, community_staff, other_community_staff):
    """李建华 (三峡) rated 合格 by 胜利一路社区, 陈思远 (园林局) 基本合格 by 深圳路社区."""
    evaluations_save(
        by=community_staff,
        community=world.shengli,
        year=YEAR,
        ratings={world.sanxia_member.pk: (Rating.QUALIFIED, "积极")},
    )
    evaluations_save(
        by=other_community_staff,
        community=world.shenzhen,
        year=YEAR,
        ratings={world.yuanlin_member.pk: (Rating.BASIC, "参加较少")},
    )
    return (
        Evaluation.objects.get(member=world.sanxia_member),
        Evaluation.objects.get(member=world.yuanlin_member),
    )


@pytest.fixture
def objection(ratings, member_user):
    return objection_raise(by=member_user, evaluation=ratings[0], reason="我多次参加巡逻")


def pages(world, ratings, objection):
    return {
        "list": "/evaluations/",
        "member": f"/evaluations/member/{world.sanxia_member.pk}/",
        "agency": "/evaluations/agency/",
        "mine": "/evaluations/mine/",
        "answer": f"/objections/{objection.pk}/",
        "summary_member": f"/summary/member/{world.sanxia_member.pk}/",
        "summary_agency": "/summary/agency/",
    }


# --- Who may open them ---------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_log_in(client, world, ratings, objection):
    for url in pages(world, ratings, objection).values():
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response.url, url
    response = client.post(f"/evaluations/{ratings[0].pk}/object/", {"reason": "x"})
    assert response.status_code == 302


ROLE_STATUS = {
    # page: {persona: status}
    "list": {
        "community_staff": 200,
        "grid_worker": 200,
        "agency_office": 403,
        "member_user": 403,
        "street_officer": 403,
    },
    "member": {
        "community_staff": 200,
        "other_community_staff": 404,
        "agency_office": 403,
        "member_user": 403,
    },
    "agency": {"agency_office": 200, "community_staff": 403, "member_user": 403},
    "mine": {"member_user": 200, "community_staff": 403, "agency_office": 403},
    "answer": {
        "community_staff": 200,
        "other_community_staff": 404,
        "agency_office": 403,
        "member_user": 403,
    },
    "summary_member": {
        "agency_office": 200,
        "member_user": 200,
        "other_agency_office": 404,
        "other_member_user": 404,
        "community_staff": 404,
    },
    "summary_agency": {"agency_office": 200, "community_staff": 403, "member_user": 403},
}


@pytest.mark.parametrize(
    "page,persona,status",
    [(page, persona, status) for page, by in ROLE_STATUS.items() for persona, status in by.items()],
)
def test_each_page_answers_by_role_and_scope(
    client, request, world, ratings, objection, page, persona, status
):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(pages(world, ratings, objection)[page]).status_code == status


def test_posting_without_csrf_token_is_forbidden(world, community_staff):
    client = Client(enforce_csrf_checks=True)
    client.force_login(community_staff)
    pk = world.sanxia_member.pk
    response = client.post(
        "/evaluations/", {"member": [pk], f"rating-{pk}": "qualified", "year": YEAR}
    )
    assert response.status_code == 403
    assert not Evaluation.objects.exists()


# --- The community rates -------------------------------------------------------------------


def test_the_list_shows_members_reported_in_with_their_evidence(client, world, community_staff):
    client.force_login(community_staff)
    response = client.get("/evaluations/")
    body = response.content.decode()
    assert world.sanxia_member.name in body
    # Pending (王海燕) and another community's (陈思远) are not listed.
    assert world.sanxia_member_2.name not in body and world.yuanlin_member.name not in body
    present = Participation.objects.filter(
        member=world.sanxia_member,
        activity__community=world.shengli,
        status=Participation.Status.PRESENT,
    ).count()
    assert f'data-figure="participations">{present}<' in body
    assert "年度评价" in body and "保存本页评价" in body


def test_staff_rate_a_page_at_once(client, world, community_staff):
    members = reported_in(world, 3)
    client.force_login(community_staff)
    data = {"member": [m.pk for m in members] + [world.sanxia_member.pk], "year": YEAR}
    data |= {f"rating-{m.pk}": "qualified" for m in members}
    data[f"rating-{members[0].pk}"] = "excellent"
    data[f"comment-{members[0].pk}"] = "带头参加防汛"
    response = client.post("/evaluations/", data)
    assert response.status_code == 302
    # 李建华 left blank: not rated.
    assert Evaluation.objects.count() == 3
    assert Evaluation.objects.get(member=members[0]).comment == "带头参加防汛"
    assert not Evaluation.objects.filter(member=world.sanxia_member).exists()


def test_the_cap_is_refused_with_a_chinese_message_and_nothing_saved(
    client, world, community_staff
):
    members = reported_in(world, 2)
    client.force_login(community_staff)
    data = {"member": [m.pk for m in members], "year": YEAR}
    data |= {f"rating-{m.pk}": "excellent" for m in members}
    data[f"comment-{members[0].pk}"] = "保留我的评语"
    response = client.post("/evaluations/", data)
    body = response.content.decode()
    assert response.status_code == 400
    assert "优秀" in body and "未保存任何评价" in body
    assert "保留我的评语" in body  # what was typed is shown again
    assert not Evaluation.objects.exists()


def test_a_row_shows_the_member_the_saved_rating_and_comment_escaped(
    client, world, community_staff
):
    """The rows are written by the view (evaluation._rows_html): a rated member's row links to
    their page with the community and year, checks the saved rating and shows the comment and
    the name as typed, escaped."""
    member = world.sanxia_member
    member.name = '李<b>"建华"'
    member.save()
    evaluations_save(
        by=community_staff,
        community=world.shengli,
        year=YEAR,
        ratings={member.pk: (Rating.QUALIFIED, '积极 <i>&"参加"</i>')},
    )
    client.force_login(community_staff)
    body = client.get("/evaluations/").content.decode()
    row = body.split(f'data-pk="{member.pk}" data-rating="qualified">', 1)[1].split("</li>", 1)[0]
    pk, community = member.pk, world.shengli.pk
    assert (
        f'<a class="fw-semibold" href="/evaluations/member/{pk}/?community={community}'
        f'&year={YEAR}">李&lt;b&gt;&quot;建华&quot;</a>'
    ) in row
    assert (
        f'<input type="radio" class="btn-check" name="rating-{pk}" id="r{pk}-qualified"'
        ' value="qualified" autocomplete="off" checked>'
    ) in row
    assert row.count(" checked") == 1
    assert f'name="comment-{pk}" value="积极 &lt;i&gt;&amp;&quot;参加&quot;&lt;/i&gt;"' in row
    assert 'aria-label="李&lt;b&gt;&quot;建华&quot;' in row
    assert "<b>" not in row.replace('<b class="text-body"', "")


@pytest.mark.parametrize("swapped", ["yuanlin_member", "sanxia_member_2"])
def test_a_member_id_swapped_in_the_post_is_refused_with_no_row_changed(
    client, world, community_staff, ratings, swapped
):
    client.force_login(community_staff)
    other = getattr(world, swapped)
    before = list(Evaluation.objects.values_list("pk", "rating", "comment"))
    data = {
        "member": [world.sanxia_member.pk, other.pk],
        f"rating-{world.sanxia_member.pk}": "basic",
        f"rating-{other.pk}": "excellent",
        "year": YEAR,
    }
    response = client.post("/evaluations/", data)
    assert response.status_code == 400
    assert list(Evaluation.objects.values_list("pk", "rating", "comment")) == before


def test_another_communitys_id_in_the_post_is_not_found(client, world, community_staff, ratings):
    client.force_login(community_staff)
    pk = world.yuanlin_member.pk
    data = {"community": world.shenzhen.pk, "member": [pk], f"rating-{pk}": "excellent"}
    assert client.post("/evaluations/", data).status_code == 404
    assert client.get(f"/evaluations/?community={world.shenzhen.pk}").status_code == 404
    assert Evaluation.objects.get(member=world.yuanlin_member).rating == Rating.BASIC


def test_the_member_form_saves_one_rating_and_shows_its_history(client, world, community_staff):
    client.force_login(community_staff)
    url = f"/evaluations/member/{world.sanxia_member.pk}/"
    response = client.post(url, {"rating": "basic", "comment": "请假较多", "year": YEAR})
    assert response.status_code == 302
    response = client.get(url)
    body = response.content.decode()
    assert "基本合格" in body and "请假较多" in body and community_staff.username in body


@pytest.mark.parametrize(
    "query",
    [
        "?year=abc",
        "?year=99999999999999999999",
        "?page=-1",
        "?page=abc",
        "?community=abc",
        "?community=99999999999999999999999",
        "?q=%00",
        "?year=1900",
    ],
)
def test_hostile_queries_never_fail(client, world, community_staff, agency_office, query):
    for user, urls in [
        (community_staff, ["/evaluations/", f"/evaluations/member/{world.sanxia_member.pk}/"]),
        (agency_office, ["/evaluations/agency/", "/summary/agency/"]),
    ]:
        client.force_login(user)
        for url in urls:
            assert client.get(url + query).status_code in (200, 400, 404), url + query


@pytest.mark.parametrize(
    "data",
    [
        {"member": ["abc", "-3", "99999999999999999999999"], "rating-abc": "excellent"},
        {"member": ["1"], "rating-1": "best"},
        {"year": "abc", "member": ["1"], "rating-1": "qualified"},
        {"member": [], "page": "abc"},
        {"member": ["1"], "rating-1": "qualified\x00"},
    ],
)
def test_hostile_posts_never_fail(client, world, community_staff, data):
    client.force_login(community_staff)
    assert client.post("/evaluations/", data).status_code in (302, 400)
    assert not Evaluation.objects.exists()


def test_a_nul_in_a_comment_is_dropped(client, world, community_staff):
    client.force_login(community_staff)
    pk = world.sanxia_member.pk
    data = {"member": [pk], f"rating-{pk}": "qualified", f"comment-{pk}": "积\x00极", "year": YEAR}
    assert client.post("/evaluations/", data).status_code == 302
    assert Evaluation.objects.get().comment == "积极"


def test_the_list_costs_the_same_queries_for_5_and_50_members(
    client, world, community_staff, django_assert_max_num_queries
):
    client.force_login(community_staff)
    counts = []
    for n in (5, 45):
        members = reported_in(world, n)
        Participation.objects.bulk_create(
            Participation(activity=world.shengli_activity, member=m, status="present", hours=2)
            for m in members
        )
        evaluations_save(
            by=community_staff,
            community=world.shengli,
            year=YEAR,
            ratings={m.pk: (Rating.QUALIFIED, "") for m in members[:3]},
        )
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            assert client.get("/evaluations/").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 15


def test_the_offices_list_costs_the_same_queries_for_5_and_50_ratings(
    client, world, community_staff, agency_office
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(agency_office)
    counts = []
    for year, n in ((YEAR - 1, 5), (YEAR, 50)):
        members = reported_in(world, n)
        evaluations_save(
            by=community_staff,
            community=world.shengli,
            year=year,
            ratings={m.pk: (Rating.QUALIFIED, "") for m in members},
        )
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/evaluations/agency/?year={year}")
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 15


# --- The office, the member, the answer -----------------------------------------------------


def test_an_office_sees_its_members_ratings_only(client, world, ratings, agency_office):
    client.force_login(agency_office)
    body = client.get("/evaluations/agency/").content.decode()
    assert world.sanxia_member.name in body and "积极" in body
    assert world.yuanlin_member.name not in body and "参加较少" not in body


def test_an_office_sees_its_member_rated_by_another_agencys_liaison_community(
    client, world, ratings, community_staff, other_community_staff, other_agency_office
):
    # 三峡's member also reported in where they live, 深圳路社区, which rates them too.
    Registration.objects.create(
        member=world.sanxia_member,
        community=world.shenzhen,
        kind=Registration.Kind.RESIDENCE,
        status=Registration.Status.ACTIVE,
        applied_on=timezone.localdate(),
    )
    evaluations_save(
        by=other_community_staff,
        community=world.shenzhen,
        year=YEAR,
        ratings={world.sanxia_member.pk: (Rating.QUALIFIED, "居住地表现好")},
    )
    client.force_login(other_agency_office)
    body = client.get("/evaluations/agency/").content.decode()
    assert "居住地表现好" not in body and world.sanxia_member.name not in body


def test_a_member_sees_their_own_ratings_and_objects(client, world, ratings, member_user):
    client.force_login(member_user)
    body = client.get("/evaluations/mine/").content.decode()
    assert "积极" in body and "参加较少" not in body
    response = client.post(f"/evaluations/{ratings[0].pk}/object/", {"reason": "我多次参加巡逻"})
    assert response.status_code == 302
    objection = EvaluationObjection.objects.get()
    assert objection.evaluation == ratings[0] and objection.raised_by == member_user


def test_a_member_cannot_object_to_someone_elses_rating(client, world, ratings, member_user):
    client.force_login(member_user)
    response = client.post(f"/evaluations/{ratings[1].pk}/object/", {"reason": "不服"})
    assert response.status_code == 404
    assert not EvaluationObjection.objects.exists()


def test_staff_answer_an_objection_changing_the_rating(
    client, world, ratings, objection, community_staff
):
    client.force_login(community_staff)
    body = client.get("/evaluations/").content.decode()
    assert f"/objections/{objection.pk}/" in body and "我多次参加巡逻" in body
    response = client.post(
        f"/objections/{objection.pk}/", {"answer": "已核实，维持合格", "rating": "qualified"}
    )
    assert response.status_code == 302
    objection.refresh_from_db()
    assert objection.answer == "已核实，维持合格" and objection.answered_by == community_staff


def test_another_communitys_staff_cannot_answer(
    client, world, ratings, objection, other_community_staff
):
    client.force_login(other_community_staff)
    response = client.post(f"/objections/{objection.pk}/", {"answer": "x", "rating": "excellent"})
    assert response.status_code == 404
    objection.refresh_from_db()
    assert objection.answered_at is None


# --- Summaries -----------------------------------------------------------------------------


def test_the_half_year_summary_is_printable_and_in_chinese(client, world, ratings, agency_office):
    client.force_login(agency_office)
    half = 1 if timezone.localdate().month <= 6 else 2
    response = client.get(f"/summary/member/{world.sanxia_member.pk}/?year={YEAR}&half={half}")
    body = response.content.decode()
    assert "css/print.css" in body
    from django.conf import settings

    css = (settings.BASE_DIR / "static" / "css" / "print.css").read_text()
    assert "size: A4" in css and "@media print" in css
    assert world.sanxia_member.name in body and "合格" in body
    assert "半年下沉社区工作情况" in body


def test_the_agency_summary_counts_its_members_ratings_only(client, world, ratings, agency_office):
    client.force_login(agency_office)
    body = client.get(f"/summary/agency/?year={YEAR}").content.decode()
    assert world.sanxia.name in body and world.shengli.name in body
    assert world.shenzhen.name not in body
    assert 'data-figure="rated">1<' in body
    # Another agency's id asks for nothing: the office's own agency is shown.
    body = client.get(f"/summary/agency/?agency={world.yuanlin.pk}").content.decode()
    assert world.yuanlin.name not in body


@pytest.mark.parametrize(
    "persona",
    [
        "community_staff",
        "other_community_staff",
        "grid_worker",
        "street_officer",
        "agency_office",
        "other_agency_office",
        "member_user",
        "other_member_user",
    ],
)
def test_the_scopes_count_what_their_sql_reference_counts(
    request, world, ratings, objection, persona
):
    from django.db import connection

    from xiachen.bench.scopes import reference_sql

    user = request.getfixturevalue(persona)
    for model in (Evaluation, EvaluationObjection):
        sql, params = reference_sql(model, user)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            expected = cursor.fetchone()[0]
        assert model.objects.visible_to(user).count() == expected, model


@pytest.mark.parametrize(
    "persona,shown,hidden",
    [
        ("community_staff", "年度评价", "党员年度评价"),
        ("agency_office", "党员年度评价", "我的年度评价"),
        ("member_user", "我的年度评价", "党员年度评价"),
    ],
)
def test_the_menu_offers_each_role_its_evaluation_page(
    client, request, world, persona, shown, hidden
):
    client.force_login(request.getfixturevalue(persona))
    body = client.get("/").content.decode()
    nav = body[body.index('id="main-nav"') : body.index("</nav>")]
    assert f">{shown}</a>" in nav and f">{hidden}</a>" not in nav
