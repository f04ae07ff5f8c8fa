"""Admin list filters that search instead of listing every agency or community
(communities.admin.AutocompleteFilter)."""

import re

import pytest
from django.urls import reverse

from communities.models import Agency, Agreement, Community


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def many(world):
    agencies = Agency.objects.bulk_create(
        Agency(name=f"第{i}单位", short_name=f"单位{i}") for i in range(40)
    )
    Community.objects.bulk_create(
        Community(street=world.wanshouqiao, name=f"第{i}社区") for i in range(40)
    )
    return agencies


def filter_box(html, param):
    match = re.search(rf'<select[^>]*data-filter-param="{param}"[^>]*>(.*?)</select>', html, re.S)
    assert match, f"no search box for {param}"
    return match.group(0), re.findall(r"<option[^>]*>([^<]*)</option>", match.group(1))


def test_the_agency_filter_of_agreements_is_a_search_box_with_nothing_listed(staff_client, many):
    html = staff_client.get(reverse("admin:communities_agreement_changelist")).content.decode()
    box, options = filter_box(html, "agency__id__exact")
    assert [o for o in options if o.strip()] == []
    assert 'data-app-label="communities"' in box
    assert 'data-model-name="agreement"' in box
    assert 'data-field-name="agency"' in box
    assert 'data-all-url="?"' in box
    assert "第7单位" not in html


def test_the_chosen_agency_is_the_only_option_and_all_clears_it(staff_client, world, many):
    agency = many[7]
    url = reverse("admin:communities_agreement_changelist")
    response = staff_client.get(url, {"agency__id__exact": agency.pk, "term": "current"})
    html = response.content.decode()
    _box, options = filter_box(html, "agency__id__exact")
    assert [o for o in options if o.strip()] == ["第7单位"]
    # "All" and the box both lead back to the list without it, keeping the other filters.
    assert 'data-all-url="?term=current"' in html
    assert re.search(r'<a href="\?term=current">All</a>', html)


def test_the_agreements_of_the_chosen_agency_only(staff_client, world, many):
    response = staff_client.get(
        reverse("admin:communities_agreement_changelist"),
        {"agency__id__exact": world.agreement.agency_id},
    )
    assert list(response.context["cl"].result_list) == [world.agreement]
    response = staff_client.get(
        reverse("admin:communities_agreement_changelist"), {"agency__id__exact": many[3].pk}
    )
    assert list(response.context["cl"].result_list) == []
    assert Agreement.objects.count() >= 1


def test_a_value_that_is_no_id_sends_back_to_the_list(staff_client, many):
    response = staff_client.get(
        reverse("admin:communities_agreement_changelist"), {"agency__id__exact": "七"}
    )
    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


def test_pages_with_a_search_filter_load_select2_and_the_filter_script(staff_client, many):
    html = staff_client.get(reverse("admin:communities_grid_changelist")).content.decode()
    assert "admin/js/vendor/select2/select2.full" in html
    assert "js/admin_autocomplete_filter.js" in html
    # A list without one does not.
    html = staff_client.get(reverse("admin:communities_street_changelist")).content.decode()
    assert "js/admin_autocomplete_filter.js" not in html


def test_the_autocomplete_finds_communities_for_the_grid_filter(staff_client, many):
    response = staff_client.get(
        reverse("admin:autocomplete"),
        {
            "app_label": "communities",
            "model_name": "grid",
            "field_name": "community",
            "term": "第12",
        },
    )
    assert [r["text"] for r in response.json()["results"]] == ["第12社区"]
