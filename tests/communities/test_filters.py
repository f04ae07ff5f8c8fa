"""What the lists' filters share (communities/filters.py): local days as bounds on a datetime
column, years a person could mean, the grid filter, a filter's start value, counts without
one filter."""

import datetime as dt

import pytest
from django.http import QueryDict
from django.utils import timezone, translation

from activities.models import Activity
from communities.filters import FilterSet, GridFilter, LocalDayFilter

DAY = dt.date(2024, 7, 1)


class Sample(FilterSet):
    """A list of activities with the shared filters, as an app declares them."""

    date_from = LocalDayFilter("starts_at", label="From")
    date_to = LocalDayFilter("starts_at", through=True, label="To")
    grid = GridFilter()

    def __init__(self, query, queryset, *, own_grid_ids=frozenset(), start=None, grids=()):
        super().__init__(QueryDict(query), queryset, start=start)
        self.filters["grid"].offer(
            grids,
            first=[
                ("", "Everywhere"),
                (GridFilter.MINE, "Mine"),
                (GridFilter.NONE, "None"),
                (GridFilter.ALL, "All"),
            ],
            own_grid_ids=own_grid_ids,
        )


def at(day, hour, minute=0):
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)))


def activity(world, title, starts_at, grid=None):
    return Activity.objects.create(
        community=world.shengli,
        type=world.cleanup,
        title=title,
        grid=grid,
        starts_at=starts_at,
        ends_at=starts_at + dt.timedelta(minutes=30),
    )


@pytest.fixture
def around_a_day(world):
    """Activities just before, at the start, at the end and just after DAY, local time."""
    for title, moment in [
        ("eve", at(DAY - dt.timedelta(days=1), 23, 59)),
        ("first", at(DAY, 0, 0)),
        ("last", at(DAY, 23, 59)),
        ("next", at(DAY + dt.timedelta(days=1), 0, 0)),
    ]:
        activity(world, title, moment)
    return Activity.objects.filter(title__in=["eve", "first", "last", "next"])


def titles(filterset):
    return {a.title for a in filterset.qs}


def test_a_local_day_runs_from_its_first_moment_to_its_last(around_a_day):
    assert titles(Sample(f"date_from={DAY}", around_a_day)) == {"first", "last", "next"}
    assert titles(Sample(f"date_to={DAY}", around_a_day)) == {"eve", "first", "last"}
    assert titles(Sample(f"date_from={DAY}&date_to={DAY}", around_a_day)) == {"first", "last"}


def test_days_are_bounds_on_the_column_so_its_index_serves_them(around_a_day):
    sql = str(Sample(f"date_from={DAY}&date_to={DAY}", around_a_day).qs.query)
    assert '"starts_at" >=' in sql and '"starts_at" <' in sql
    assert "django_datetime_cast_date" not in sql and "AT TIME ZONE" not in sql


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "1999-12-31", "2100-01-01"])
def test_a_day_outside_the_years_is_reported_not_an_overflow(around_a_day, day):
    sample = Sample(f"date_from={day}&date_to={day}", around_a_day)
    with translation.override("en"):
        assert sample.errors["date_from"] == ["Choose a date between 2000 and 2099."]
        assert sample.errors["date_to"] == ["Choose a date between 2000 and 2099."]
    assert titles(sample) == {"eve", "first", "last", "next"}


def test_a_range_that_ends_before_it_begins_is_reported_and_its_start_still_applies(
    around_a_day,
):
    sample = Sample(f"date_from={DAY}&date_to={DAY - dt.timedelta(days=1)}", around_a_day)
    with translation.override("en"):
        assert sample.errors["date_to"] == ["The end date is before the start date."]
    assert titles(sample) == {"first", "last", "next"}


def test_errors_are_in_chinese_in_the_chinese_ui(around_a_day):
    with translation.override("zh-hans"):
        sample = Sample("date_from=9999-01-01&date_to=昨天", around_a_day)
        assert sample.errors["date_from"] == ["请选择 2000 至 2099 之间的日期。"]
        assert sample.errors["date_to"] == ["输入一个有效的日期。"]


@pytest.fixture
def in_grids(world):
    for title, grid in [("z", world.zilinyuan), ("w", world.wanshou), ("n", None)]:
        activity(world, title, at(DAY, 9), grid)
    return Activity.objects.filter(title__in=["z", "w", "n"])


@pytest.mark.parametrize(
    "query, expected",
    [
        ("grid=mine", {"z"}),
        ("grid=none", {"n"}),
        ("grid=all", {"z", "w", "n"}),
        ("grid=", {"z", "w", "n"}),
        ("", {"z", "w", "n"}),
        ("grid=wanshou", {"w"}),
    ],
)
def test_the_grid_filter_takes_one_grid_mine_none_or_all(world, in_grids, query, expected):
    query = query.replace("wanshou", str(world.wanshou.pk))
    sample = Sample(
        query, in_grids, grids=[world.zilinyuan, world.wanshou], own_grid_ids={world.zilinyuan.pk}
    )
    assert not sample.errors
    assert titles(sample) == expected


def test_the_grid_filter_offers_its_lists_choices_then_the_grids_by_name(world, in_grids):
    sample = Sample("", in_grids, grids=[world.wanshou, world.zilinyuan])
    assert list(sample.form.fields["grid"].choices) == [
        ("", "Everywhere"),
        ("mine", "Mine"),
        ("none", "None"),
        ("all", "All"),
        (str(world.wanshou.pk), "万寿小区网格"),
        (str(world.zilinyuan.pk), "紫林苑网格"),
    ]


def test_a_grid_that_is_not_offered_is_reported_and_left_out(world, in_grids):
    sample = Sample(f"grid={world.hanlinyuan.pk}", in_grids, grids=[world.zilinyuan])
    assert sample.errors["grid"]
    assert titles(sample) == {"z", "w", "n"}


def test_a_start_value_applies_only_while_the_query_does_not_name_the_filter(world, in_grids):
    options = {"grids": [world.zilinyuan], "own_grid_ids": {world.zilinyuan.pk}}
    options["start"] = {"grid": GridFilter.MINE}
    assert titles(Sample("", in_grids, **options)) == {"z"}
    assert titles(Sample("grid=", in_grids, **options)) == {"z", "w", "n"}
    assert titles(Sample("grid=none", in_grids, **options)) == {"n"}
    assert Sample("", in_grids, **options).form.fields["grid"].initial == GridFilter.MINE


def test_counts_can_follow_every_filter_but_one(world, in_grids):
    sample = Sample(f"grid=none&date_from={DAY + dt.timedelta(days=1)}", in_grids)
    assert titles(sample) == set()
    assert {a.title for a in sample.qs_without("date_from")} == {"n"}
    assert {a.title for a in sample.qs_without("grid")} == set()


def test_in_use_names_the_valid_filters_that_narrow_the_list(world, in_grids):
    sample = Sample(f"grid=none&date_from=abc&date_to={DAY}", in_grids)
    assert sample.in_use == {"grid": "none", "date_to": DAY}
    assert Sample("grid=", in_grids).in_use == {}
