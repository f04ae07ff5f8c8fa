"""Forms of the activity pages: planning an activity, cancelling one, and the list's filters."""

import datetime as dt

from django import forms
from django.db.models import Q
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from communities.models import Agreement, Community, Grid

from ..models import Activity, ActivityType
from . import with_all_choice

# What <input type="datetime-local"> sends and expects: no seconds, no zone (local time).
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"

# Anything outside these years is a typo (and would overflow when moved by a week).
FIRST_YEAR, LAST_YEAR = 2000, 2099


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs, format=DATETIME_LOCAL)


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


def _in_years(value):
    if value is not None and not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise forms.ValidationError(
            _("Choose a date between %(first)s and %(last)s."),
            params={"first": FIRST_YEAR, "last": LAST_YEAR},
        )
    return value


def agreement_label(agreement: Agreement) -> str:
    return f"{agreement.agency.short_name or agreement.agency.name} · {agreement.number}"


class ActivityForm(forms.ModelForm):
    """Plan or change an activity of one community. The rules that depend on stored data (an
    agreement in force, the capacity against those signed up, whether it may still change) are
    the services' (activities.services.activity); their errors come back onto these fields."""

    nature = forms.ChoiceField(
        label=capfirst(_("nature")),
        required=False,
        choices=[("", _("As usual for the type")), *Activity.Nature.choices],
        help_text=_("Duty counts toward the agency's assigned work; volunteer service is extra."),
    )
    status = forms.ChoiceField(
        label=capfirst(_("status")),
        choices=[
            (Activity.Status.DRAFT, Activity.Status.DRAFT.label),
            (Activity.Status.RECRUITING, Activity.Status.RECRUITING.label),
        ],
        initial=Activity.Status.RECRUITING,
        help_text=_("Members can sign up while it is recruiting; a draft is only a plan."),
    )

    class Meta:
        model = Activity
        fields = [
            "type",
            "title",
            "starts_at",
            "ends_at",
            "place",
            "grid",
            "capacity",
            "nature",
            "agreement",
            "status",
            "description",
        ]
        widgets = {
            "starts_at": DateTimeLocalInput(),
            "ends_at": DateTimeLocalInput(),
            "description": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, community: Community, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            self.instance.community = community
        fields = self.fields
        fields["type"].queryset = ActivityType.objects.filter(
            Q(is_active=True) | Q(pk=self.instance.type_id)
        )
        fields["type"].empty_label = _("Choose a type")
        fields["title"].widget.attrs["placeholder"] = _("e.g. Flood patrol along the river")
        fields["grid"].queryset = Grid.objects.filter(community=community)
        fields["grid"].empty_label = _("Whole community")
        fields["grid"].label_from_instance = lambda grid: grid.name  # the community is known
        fields["grid"].error_messages["invalid_choice"] = _("Choose one of this community's grids.")
        fields["capacity"].widget.attrs.update(min=1, inputmode="numeric")
        fields["capacity"].validators.append(_positive)
        for name in ("starts_at", "ends_at"):
            fields[name].validators.append(_in_years)
        # Any of the community's agreements is accepted here so that the service can say why
        # one is not in force; the list offers those in force and the one already chosen.
        agreements = Agreement.objects.filter(community=community).select_related("agency")
        fields["agreement"].queryset = agreements
        fields["agreement"].error_messages["invalid_choice"] = _(
            "Choose one of this community's agreements in force."
        )
        kept = {self.instance.agreement_id, self.initial.get("agreement")} - {None, ""}
        offered = agreements.filter(
            Q(pk__in=agreements.in_force().values("pk")) | Q(pk__in=kept)
        ).order_by("agency__name", "number")
        fields["agreement"].choices = [
            ("", _("None")),
            *((a.pk, agreement_label(a)) for a in offered),
        ]
        fields["agreement"].help_text = _(
            "Activities under an agreement count toward the agency's commitments."
        )
        if self.instance.status not in dict(fields["status"].choices):
            self.initial["status"] = Activity.Status.RECRUITING
        # For the small script that sets the nature when the type changes.
        self.type_natures = {
            str(t.pk): t.default_nature for t in fields["type"].queryset.only("default_nature")
        }

    def clean(self):
        cleaned = super().clean()
        activity_type = cleaned.get("type")
        if not cleaned.get("nature") and activity_type is not None:
            cleaned["nature"] = activity_type.default_nature
        return cleaned


def _positive(value):
    if value is not None and value < 1:
        raise forms.ValidationError(_("The capacity is at least 1; leave it empty for no limit."))


class ActivityCancelForm(forms.Form):
    """The reason for cancelling, told to those signed up (the cancel page and the admin's
    "cancel selected activities")."""

    reason = forms.CharField(
        label=capfirst(_("reason for cancelling")),
        max_length=200,
        help_text=_("Everyone signed up is told this reason."),
    )


def local_midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


class ActivityFilterForm(forms.Form):
    """The activity list's filters. Invalid values are reported and left out; the rest apply."""

    MY_GRIDS = "mine"

    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": _("Title or place")}),
    )
    date_from = forms.DateField(
        label=_("From"), required=False, widget=DateInput(), validators=[_in_years]
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=DateInput(), validators=[_in_years]
    )
    type = forms.ModelChoiceField(
        label=capfirst(_("type")),
        queryset=ActivityType.objects.none(),
        required=False,
        empty_label=_("All types"),
        error_messages={"invalid_choice": _("Choose one of the listed types.")},
    )
    grid = forms.ChoiceField(label=capfirst(_("grid")), required=False)
    status = forms.ChoiceField(
        label=capfirst(_("status")),
        required=False,
        choices=with_all_choice(_("All statuses"), Activity.Status.choices),
    )
    nature = forms.ChoiceField(
        label=capfirst(_("nature")),
        required=False,
        choices=with_all_choice(_("Duty and volunteer"), Activity.Nature.choices),
    )

    def __init__(self, *args, grids, my_grid_ids=frozenset(), **kwargs):
        super().__init__(*args, **kwargs)
        self.my_grid_ids = my_grid_ids
        self.fields["type"].queryset = ActivityType.objects.all()
        self.fields["grid"].choices = [
            ("", _("Whole community")),
            *([(self.MY_GRIDS, _("My grids"))] if my_grid_ids else []),
            *((str(grid.pk), grid.name) for grid in grids),
        ]

    def clean(self):
        cleaned = super().clean()
        date_from, date_to = cleaned.get("date_from"), cleaned.get("date_to")
        if date_from and date_to and date_to < date_from:
            self.add_error("date_to", _("The end date is before the start date."))
            cleaned.pop("date_to", None)
        return cleaned

    @property
    def data_filters(self):
        """The valid filters in use (call after is_valid())."""
        return {k: v for k, v in getattr(self, "cleaned_data", {}).items() if v not in ("", None)}

    def apply_to(self, activities):
        """`activities` narrowed by every valid filter. The status filter needs the
        `live_status` annotation of the list's queryset."""
        data = self.data_filters
        if data.get("q"):
            activities = activities.filter(
                Q(title__icontains=data["q"]) | Q(place__icontains=data["q"])
            )
        # Local days, as bounds on the column so that the index on it serves the query.
        if data.get("date_from"):
            activities = activities.filter(starts_at__gte=local_midnight(data["date_from"]))
        if data.get("date_to"):
            activities = activities.filter(
                starts_at__lt=local_midnight(data["date_to"] + dt.timedelta(days=1))
            )
        if data.get("type"):
            activities = activities.filter(type=data["type"])
        if data.get("grid") == self.MY_GRIDS:
            activities = activities.filter(grid__in=self.my_grid_ids)
        elif data.get("grid"):
            activities = activities.filter(grid=int(data["grid"]))
        if data.get("status"):
            activities = activities.filter(live_status=data["status"])
        if data.get("nature"):
            activities = activities.filter(nature=data["nature"])
        return activities
