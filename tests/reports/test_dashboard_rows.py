"""The community dashboard's three long lists (this week's activities, members reported in by
agency, agreements in force) are written in Python (xiachen/templatetags/dashboard_rows.py):
names and texts that look like markup are shown as written, never as markup."""

from activities.models import Activity
from communities.models import Agency, Agreement

MARKUP = '<b>&"x"'
ESCAPED = "&lt;b&gt;&amp;&quot;x&quot;"


def test_the_dashboards_rows_show_names_that_look_like_markup_as_written(
    client, world, community_staff
):
    Activity.objects.filter(pk=world.shengli_activity.pk).update(
        title=f"巡逻{MARKUP}", place=f"江边{MARKUP}"
    )
    Agency.objects.filter(pk=world.sanxia.pk).update(name=f"三峡{MARKUP}")
    Agreement.objects.filter(pk=world.agreement.pk).update(number=f"GJ{MARKUP}")
    client.force_login(community_staff)
    html = client.get("/").content.decode()

    def section(testid):
        return html.split(f'data-testid="{testid}"', 1)[1].split("</ul>", 1)[0]

    week = section("week-activities")
    assert f'<span class="fw-semibold text-break">巡逻{ESCAPED}</span>' in week
    assert f"江边{ESCAPED}" in week
    assert f'<span class="visually-hidden">巡逻{ESCAPED}</span>' in week
    agencies = section("reported-in-by-agency")
    assert f">三峡{ESCAPED}</a>" in agencies
    agreements = section("agreements-in-force")
    assert f'data-agreement="GJ{ESCAPED}"' in agreements
    assert f">三峡{ESCAPED}</a>" in agreements
    assert "<b>" not in week + agencies + agreements
