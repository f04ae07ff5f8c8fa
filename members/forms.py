"""Forms of the community's report-in desk (reviewing report-ins, placing members in grids)
and of the agency's roster (adding, editing, importing members)."""

from django import forms
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from communities.filters import DateInput
from communities.models import Agency, Community, Grid
from communities.validators import validate_year

from .models import Member, Registration

UNKNOWN_GRID = _("Choose one of this community's grids.")


class GridChoiceForm(forms.Form):
    """A grid of one community, or none. Used to approve (place at once) and to move a member."""

    grid = forms.ModelChoiceField(
        label=capfirst(_("grid")),
        queryset=Grid.objects.none(),
        required=False,
        empty_label=_("No grid yet"),
        error_messages={"invalid_choice": UNKNOWN_GRID},
    )

    def __init__(self, *args, community, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["grid"].queryset = Grid.objects.filter(community=community)


class RegistrationReturnForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for returning"),
        max_length=Registration._meta.get_field("return_reason").max_length,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("The member reads this, so say what to correct before reporting in again."),
        error_messages={"required": _("Say why the report-in is returned: the member reads this.")},
    )


class MemberSearchField(forms.CharField):
    """A search for a member as the pages offer it — a name, or the last 4 digits of a mobile
    (`MemberQuerySet.matching`) — in a search box fit for a phone's keyboard."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 50)
        kwargs.setdefault(
            "widget",
            forms.TextInput(
                attrs={
                    "type": "search",
                    "class": "form-control",
                    "autocomplete": "off",
                    "enterkeyhint": "search",
                }
            ),
        )
        super().__init__(**kwargs)

    def clean(self, value):
        query = super().clean(value)
        if query.isdigit() and len(query) < 4:
            raise forms.ValidationError(_("Type at least the last 4 digits of the mobile."))
        return query


# --- The agency's roster (党员名册) --------------------------------------------------------


class MemberForm(forms.ModelForm):
    """A member of one agency's roster, added or edited by its party office. The mobile is
    unique within the agency (Member's constraint, checked here because the agency is not one
    of the form's fields)."""

    class Meta:
        model = Member
        fields = [
            "name",
            "mobile",
            "is_party_member",
            "position",
            "party_branch",
            "residence_community",
            "skills",
        ]
        widgets = {"mobile": forms.TextInput(attrs={"inputmode": "numeric", "maxlength": 11})}

    def __init__(self, *args, agency, **kwargs):
        super().__init__(*args, **kwargs)
        self.agency = agency
        self.instance.agency = agency
        field = self.fields.get("residence_community")
        if isinstance(field, forms.ModelChoiceField):
            field.queryset = Community.objects.order_by("name")

    def mobile_taken(self, mobile: str) -> bool:
        return (
            Member.objects.filter(agency=self.agency, mobile=mobile)
            .exclude(pk=self.instance.pk)
            .exists()
        )

    def clean_name(self):
        return self.cleaned_data["name"].strip()

    def clean_mobile(self):
        mobile = self.cleaned_data["mobile"].strip()
        if self.mobile_taken(mobile):
            raise forms.ValidationError(DUPLICATE_ON_ROSTER, code="duplicate_on_roster")
        return mobile


DUPLICATE_ON_ROSTER = _("This agency already has a member with this mobile.")
DUPLICATE_IN_FILE = _("The same mobile is on row %(row)s of the file.")


class MemberLeaveForm(forms.Form):
    left_on = forms.DateField(
        label=_("Left the agency on"),
        widget=DateInput(),
        validators=[validate_year],
    )

    def clean_left_on(self):
        left_on = self.cleaned_data["left_on"]
        if left_on > timezone.localdate():
            raise forms.ValidationError(_("The date cannot be in the future."), code="future")
        return left_on


class MemberRowForm(MemberForm):
    """One row of an imported roster: the same fields and rules as adding one member, with
    the values as a spreadsheet holds them — 是/否 for party membership, a community by its name.
    `taken` are the agency's mobiles already on the roster (read once for the whole file);
    `communities` maps community names to ids (read once)."""

    is_party_member = forms.TypedChoiceField(
        label=capfirst(_("party member")),
        choices=[],
        coerce=lambda value: value in PARTY_YES,
        empty_value=True,
        required=False,
        error_messages={"invalid_choice": _("Write 是 or 否 (yes or no).")},
    )
    residence_community = forms.CharField(
        label=capfirst(_("residence community")), required=False, max_length=100
    )

    def __init__(self, *args, taken: set, communities: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.taken, self.communities = taken, communities
        self.fields["is_party_member"].choices = [(word, word) for word in (*PARTY_YES, *PARTY_NO)]

    def mobile_taken(self, mobile: str) -> bool:
        return mobile in self.taken

    def clean_residence_community(self):
        name = self.cleaned_data["residence_community"].strip()
        if not name:
            return None
        if name not in self.communities:
            raise forms.ValidationError(
                _("There is no community named “%(name)s”."),
                code="unknown_community",
                params={"name": name},
            )
        return self.communities[name]

    def _post_clean(self):
        # The community is an id here, not an instance: set it as such.
        community_id = self.cleaned_data.pop("residence_community", None)
        super()._post_clean()
        self.cleaned_data["residence_community"] = community_id
        self.instance.residence_community_id = community_id


PARTY_YES = ("是", "yes", "Yes", "YES", "y", "Y", "1", "TRUE", "True", "true")
PARTY_NO = ("否", "no", "No", "NO", "n", "N", "0", "FALSE", "False", "false")


class RosterImportForm(forms.Form):
    """The file to import and, for an office of several agencies, whose roster it fills."""

    agency = forms.ModelChoiceField(
        label=capfirst(_("agency")), queryset=Agency.objects.none(), empty_label=None
    )
    file = forms.FileField(
        label=_("Spreadsheet (.xlsx)"),
        widget=forms.ClearableFileInput(
            attrs={
                "accept": ".xlsx,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
        ),
    )

    def __init__(self, *args, agencies, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agency"].queryset = agencies
        # An office of one agency is not asked: its agency is the one (a value sent anyway
        # must still be that one).
        self.only = agencies[0] if len(agencies) == 1 else None
        if self.only is not None:
            self.fields["agency"].required = False
            self.fields["agency"].widget = forms.HiddenInput()

    def clean_agency(self):
        return self.cleaned_data["agency"] or self.only


class ActivationChoiceForm(forms.Form):
    """Whether adding (or importing) members also creates their logins, and how the activation
    links reach them (members.activation)."""

    NONE, SEND, SLIP = "", "send", "slip"

    activation = forms.ChoiceField(
        label=_("Login"),
        choices=[
            (NONE, _("No login for now")),
            (SEND, _("Create the login and send an activation link (group robot or e-mail)")),
            (SLIP, _("Create the login and print an activation slip with a QR code")),
        ],
        widget=forms.RadioSelect,
        required=False,
        initial=NONE,
        help_text=_(
            "The username is the mobile; the member sets their own password through the link, "
            "valid for 14 days."
        ),
    )
