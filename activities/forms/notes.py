"""Forms of work updates and residents' concerns."""

import datetime as dt

from django import forms
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Q
from django.utils import formats, timezone
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from ..models import Activity, Concern, WorkUpdate

# The activities offered in the "about which activity" menu: those of the last weeks.
RECENT_ACTIVITY_DAYS = 60


class ActivityChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        start = formats.date_format(timezone.localtime(obj.starts_at), "SHORT_DATE_FORMAT")
        return f"{start} {obj.title}"


def recent_activities(community, *, including=None):
    """The community's activities of the last weeks (and up to a day ahead) that take place
    (neither drafts nor cancelled), newest first, plus `including`, an activity asked for by
    the link the person followed."""
    now = timezone.now()
    recent = Q(
        starts_at__gte=now - dt.timedelta(days=RECENT_ACTIVITY_DAYS),
        starts_at__lte=now + dt.timedelta(days=1),
    ) & ~Q(status__in=Activity.NOT_TAKING_PLACE)
    if including is not None:
        recent |= Q(pk=including.pk)
    return Activity.objects.filter(recent, community=community).order_by("-starts_at", "-pk")


class _ActivityMixin:
    def _set_activities(self, community, activity):
        field = self.fields["activity"]
        field.queryset = recent_activities(community, including=activity)
        field.empty_label = _("— none —")
        field.required = False
        if activity is not None and not self.is_bound:
            self.initial["activity"] = activity.pk


class WorkUpdateForm(_ActivityMixin, forms.ModelForm):
    activity = ActivityChoiceField(queryset=Activity.objects.none(), label=capfirst(_("activity")))

    class Meta:
        model = WorkUpdate
        fields = ["activity", "body"]
        labels = {"body": _("What was done")}
        widgets = {
            "body": forms.Textarea(
                attrs={"rows": 5, "placeholder": _("E.g. 12 people cleaned the stairwells of …")}
            )
        }

    def __init__(self, *args, community, activity=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._set_activities(community, activity)


class ConcernForm(_ActivityMixin, forms.ModelForm):
    activity = ActivityChoiceField(queryset=Activity.objects.none(), label=capfirst(_("activity")))

    class Meta:
        model = Concern
        fields = ["title", "description", "location", "grid", "activity"]
        widgets = {
            "title": forms.TextInput(
                attrs={"placeholder": _("E.g. Streetlight out by building 3")}
            ),
            "description": forms.Textarea(attrs={"rows": 4}),
            "location": forms.TextInput(attrs={"placeholder": _("E.g. 紫林苑 3栋")}),
        }

    def __init__(self, *args, community, activity=None, grid=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["grid"].queryset = community.grids.order_by("name")
        self.fields["grid"].label_from_instance = lambda g: g.name
        self.fields["grid"].empty_label = _("— not known —")
        self._set_activities(community, activity)
        if not self.is_bound and grid is not None:
            self.initial["grid"] = grid.pk


class HandlerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        try:
            name = obj.member.name  # select_related: no query
        except ObjectDoesNotExist:
            name = ""
        return name or obj.get_full_name() or obj.get_username()


class _HandlerForm(forms.Form):
    def __init__(self, *args, handlers, by, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["handler"]
        field.queryset = handlers
        field.initial = by.pk
        # The options from `handlers` itself, read once and cached on it: forms given the same
        # QuerySet share that read (a concern's page has two), where each select read the
        # handlers twice (its options, then its `required` attribute). Choosing still checks
        # the queryset.
        field.choices = [(user.pk, field.label_from_instance(user)) for user in handlers]


class ConcernForwardForm(_HandlerForm):
    forwarded_to = forms.CharField(
        label=capfirst(_("forwarded to")),
        max_length=100,
        widget=forms.TextInput(
            attrs={"placeholder": _("E.g. the street's urban management office")}
        ),
        error_messages={"required": _("Say where the concern was forwarded to.")},
    )
    handler = HandlerChoiceField(
        queryset=None, label=capfirst(_("handler")), empty_label=None, required=False
    )


class ConcernResolveForm(_HandlerForm):
    resolution = forms.CharField(
        label=capfirst(_("resolution note")),
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={
            "required": _("Write how it was resolved: a resolved concern needs a note.")
        },
    )
    handler = HandlerChoiceField(
        queryset=None, label=capfirst(_("handler")), empty_label=None, required=False
    )
