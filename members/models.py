"""Members dispatched by agencies and their report-ins (报到) to communities."""

from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Case, CharField, Exists, OuterRef, Q, Value, When
from django.db.models.functions import Cast, Concat
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from simple_history.models import HistoricalRecords

from communities.links import id_url
from communities.models import Agency, Community, Grid
from communities.permissions import (
    any_of,
    own,
    roster_agency_ids,
    scope_of,
    scope_read,
    union_of,
    via,
    via_ids,
)
from communities.validators import mask_mobile, mobile_validator
from notifications.recipients import Recipient

from .sessions import SignedInSession  # noqa: F401  (a model of this app, kept with its store)


class MemberQuerySet(models.QuerySet):
    def visible_to(self, user):
        scope = scope_of(user)
        if scope.city:
            return self.all()
        # Those who reported in to the viewer's communities or those of their streets. A
        # community's (4,203 at city size) are read first and looked up by the primary key:
        # counted, 5 ms where the subquery hashed all 60,000 members (19 ms). A street's
        # (13,000–18,000) stay a subquery: the count gains little, and a page asking for a few
        # members (one, a picker's) would read the street's every report-in first (10 ms, where
        # the subquery looks up those few's report-ins, 0.1 ms); a community's costs it 2 ms.
        reported_in = via_ids if not scope.street_ids else partial(via, "pk__in")
        return self.filter(
            union_of(
                self.model.objects,
                reported_in(
                    Registration.objects.values("member"),
                    community__in=scope.place_community_ids,
                ),
                agency__in=scope.agency_ids,
                # Themselves; for staff who are not members, nothing to OR with the report-ins.
                **own(scope, member=""),
            )
        )

    def on_roster_of(self, user):
        """The members on the rosters the viewer keeps (permissions.roster_agency_ids): their
        agency office's. Nothing for anyone else — also for a city administrator, who works in
        the admin. A filter on the member's own agency column, so a roster is counted and paged
        on the member table alone (index member_agency_name)."""
        return self.filter(any_of(agency__in=roster_agency_ids(user)))

    def active(self):
        return self.filter(status=Member.Status.ACTIVE)

    def reported_in_to(self, community):
        """The members reported in to `community`: RegistrationQuerySet.reported_in() seen from
        the member — an approved report-in there, the member not one who left. Written on the
        member's own row and probed per member (Exists) so that a list of them by name walks
        the name index (member_name) and stops at its page: the evaluation list's first page
        hashed all 60,000 members to sort a community's 3,800 (16 ms), where the walk meets 20
        of them among the first 400 names (2 ms)."""
        return self.exclude(status=Member.Status.LEFT).filter(
            Exists(
                Registration.objects.filter(
                    member=OuterRef("pk"), community=community, status=Registration.Status.ACTIVE
                )
            )
        )

    def matching(self, query: str):
        """Members whose name contains `query`, or whose mobile ends with it when it is all
        digits (the last 4 digits are what people remember and say aloud): the roll call's
        walk-in search and the door-to-door picker."""
        query = query.strip()
        if query.isdigit():
            return self.filter(mobile__endswith=query)
        return self.filter(name__icontains=query)


class Member(models.Model):
    """A cadre or party member an agency dispatches to communities (下沉党员 / 干部职工)."""

    class Status(models.TextChoices):
        # "Active" alone reads 生效中 (an agreement's word); a member is 在册.
        ACTIVE = "active", pgettext_lazy("member", "Active")
        LEFT = "left", _("Left the agency")

    agency = models.ForeignKey(
        Agency, on_delete=models.PROTECT, related_name="members", verbose_name=_("agency")
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="member",
        verbose_name=_("login"),
    )
    name = models.CharField(_("name"), max_length=50)
    mobile = models.CharField(_("mobile"), max_length=11, validators=[mobile_validator])
    is_party_member = models.BooleanField(_("party member"), default=True)
    position = models.CharField(_("position"), max_length=50, blank=True)
    party_branch = models.CharField(_("party branch"), max_length=100, blank=True)
    residence_community = models.ForeignKey(
        Community,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="residents",
        verbose_name=_("residence community"),
    )
    skills = models.CharField(_("skills"), max_length=200, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.ACTIVE)
    left_on = models.DateField(_("left on"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # When the member deleted their account (members.privacy.account_delete): the login is
    # off and the contact fields are empty; the service records stay.
    deleted_at = models.DateTimeField(_("account deleted at"), null=True, blank=True)

    # The roster's changes (added, edited, imported, left, back), shown on the member's page.
    history = HistoricalRecords(
        verbose_name=_("historical member"), verbose_name_plural=_("historical members")
    )
    objects = MemberQuerySet.as_manager()

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        ordering = ["agency", "name"]
        constraints = [
            # A deleted account's mobile is empty: several of an agency's may be.
            models.UniqueConstraint(
                fields=["agency", "mobile"],
                condition=~Q(mobile=""),
                name="members_member_unique_mobile_per_agency",
                violation_error_message=_("This agency already has a member with this mobile."),
            ),
            models.CheckConstraint(
                condition=Q(status="active", left_on__isnull=True)
                | Q(status="left", left_on__isnull=False),
                name="members_member_left_has_date",
                violation_error_message=_("A member who left needs the date they left."),
            ),
        ]
        indexes = [
            # "members in Meta.ordering (agency, name)": the admin changelist's default sort
            # and an agency's member list.
            models.Index(fields=["agency", "name"], name="member_agency_name"),
            # "members who left": RegistrationQuerySet.reported_in()'s NOT IN, read from the
            # index alone and hashed once per query.
            models.Index(fields=["id"], condition=Q(status="left"), name="member_left"),
            # "a community's members by name, a page" (the evaluation list, reported_in_to):
            # walked in order, the status read from the index to leave out those who left.
            models.Index(fields=["name", "id"], include=["status"], name="member_name"),
            # "the agency and name of each member reported in to a community": the member list's
            # agencies and its order, and the staff dashboard's members reported in by agency,
            # join a community's report-ins (3,800 in a busy one) to their members, read here
            # from the index alone instead of hashing all 60,000 rows (the dashboard's count
            # 13 → 9.5 ms at city size).
            models.Index(fields=["id"], include=["agency", "name"], name="member_agency_by_id"),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return id_url("reports:roster_member", self.pk)

    def as_recipient(self) -> Recipient:
        """Who `notify` reaches for this member: their login if they have one, otherwise the
        group robot can still @-mention their mobile."""
        return Recipient(
            key=f"u{self.user_id}" if self.user_id else f"m{self.pk}",
            user=self.user if self.user_id else None,
            name=self.name,
            mobile=self.mobile,
            agency_id=self.agency_id,
        )

    @staticmethod
    def recipient_key_sql(path: str = "") -> Case:
        """The key of `as_recipient()` in SQL, for the member at `path` ("" or "member__"): what
        a reminder rule compares with the outbox to leave out those already told."""
        return Case(
            When(
                **{f"{path}user__isnull": True},
                then=Concat(Value("m"), Cast(f"{path}pk", CharField())),
            ),
            default=Concat(Value("u"), Cast(f"{path}user", CharField())),
            output_field=CharField(),
        )

    @property
    def masked_mobile(self):
        return mask_mobile(self.mobile)


def has_liaison_report_in(member: str = "pk") -> Exists:
    """Whether the member (the outer row; or the one its `member` column names) counts as
    reported in for DESIGN.md's report-in rate: "an active liaison registration". The roster's
    state and filter, figures.report_in and the attendance report."""
    return Exists(
        Registration.objects.filter(
            status=Registration.Status.ACTIVE,
            kind=Registration.Kind.LIAISON,
            member=OuterRef(member),
        )
    )


def member_of(user) -> "Member | None":
    """The login's own member record, or None (no login, or a login that is not a member).

    Every page asks (the navbar): when the login's scope is read already, staff without a
    member record (most of them) are answered without a query, since their roles were read with
    the member id (communities.permissions.scope_of)."""
    scope = scope_read(user)
    if scope is not None and scope.member_ids == frozenset():
        return None
    try:
        return user.member
    except (Member.DoesNotExist, AttributeError):
        return None


class RegistrationQuerySet(models.QuerySet):
    def visible_to(self, user):
        scope = scope_of(user)
        if scope.city:
            return self.all()
        return self.filter(
            any_of(
                # The agency office's members, as a subquery on the row's member column (not a
                # join to all members ORed with the rest).
                via("member__in", Member.objects.values("pk"), agency__in=scope.agency_ids),
                community__in=scope.place_community_ids,
                **own(scope),
            )
        )

    def live(self):
        return self.filter(status__in=Registration.LIVE_STATUSES)

    def reported_in(self):
        """Report-ins that make a member "reported in" (已报到) to the community: approved, of a
        member still with their agency. Figures, lists, the walk-in search, door-to-door and
        posting rights all count this."""
        # "Of a member still with their agency" as "not of a member who left": PostgreSQL hashes
        # the few who left once per query (index member_left) and checks each report-in against
        # it, where a join to the member read each one's row — a busy community's count and a
        # street's 37 communities' counts joined or probed thousands of members.
        return self.filter(status=Registration.Status.ACTIVE).exclude(
            member__in=Member.objects.filter(status=Member.Status.LEFT).values("pk")
        )


class Registration(models.Model):
    """A member reporting in (报到) to a community: the liaison community of their agency or
    the community they live in (双报到)."""

    class Kind(models.TextChoices):
        LIAISON = "liaison", _("Liaison community")
        RESIDENCE = "residence", _("Residence community")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending review")
        ACTIVE = "active", _("Reported in")
        RETURNED = "returned", _("Returned")
        REVOKED = "revoked", _("Revoked")

    LIVE_STATUSES = (Status.PENDING, Status.ACTIVE)

    member = models.ForeignKey(
        Member, on_delete=models.CASCADE, related_name="registrations", verbose_name=_("member")
    )
    community = models.ForeignKey(
        Community,
        on_delete=models.PROTECT,
        related_name="registrations",
        verbose_name=_("community"),
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind, default=Kind.LIAISON)
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.PENDING)
    grid = models.ForeignKey(
        Grid,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="registrations",
        verbose_name=_("grid"),
    )
    applied_on = models.DateField(_("applied on"))
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reviewer"),
    )
    return_reason = models.CharField(_("reason for returning"), max_length=200, blank=True)
    ended_on = models.DateField(_("ended on"), null=True, blank=True)
    # The member's agency, kept with each report-in by the database alone (triggers of migration
    # 0011_registration_member_agency, named in AGENCY_TRIGGERS below): written on every insert
    # and update of a report-in from its member, and on every report-in of a member who moves
    # agency. Nothing in Python writes it; a new instance holds None until it is read again.
    # Read by "members reported in, by agency" (the community dashboard), which looked up each
    # report-in's member by id: shengli's 3,789 report-ins, 3,789 probes of member_agency_by_id.
    agency = models.ForeignKey(
        Agency,
        on_delete=models.DO_NOTHING,  # an agency with report-ins has members, which protect it
        null=True,
        editable=False,
        db_index=False,  # registration_community_agency serves the query that reads it
        related_name="+",
        verbose_name=_("agency"),
    )

    # Translated names for the admin; the English is what the migrations already hold. The
    # agency is the member's, kept by the database, not a change of the report-in.
    history = HistoricalRecords(
        verbose_name=_("historical report-in"),
        verbose_name_plural=_("historical report-ins"),
        excluded_fields=["agency"],
    )
    objects = RegistrationQuerySet.as_manager()

    class Meta:
        verbose_name = _("report-in")
        verbose_name_plural = _("report-ins")
        ordering = ["-applied_on"]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "community", "kind"],
                condition=Q(status__in=["pending", "active"]),
                name="members_registration_one_live_per_kind",
                violation_error_message=_(
                    "This member already has a pending or active report-in of this kind "
                    "to this community."
                ),
            ),
            models.CheckConstraint(
                condition=~Q(status="returned") | ~Q(return_reason=""),
                name="members_registration_returned_has_reason",
                violation_error_message=_("A returned report-in needs a reason."),
            ),
        ]
        indexes = [
            # "pending / active report-ins of this community": the review list and counts; with
            # the member, the community's reported-in members are read from the index alone (the
            # member list's count and agencies, the evaluation list's count).
            models.Index(
                fields=["community", "status", "member"], name="registration_community_member"
            ),
            # "the communities this member reported in to": the scopes' report-in subqueries
            # (Activity, WorkUpdate, Community, Street), read from the index alone.
            models.Index(fields=["member", "community"], name="registration_member_community"),
            # "has this member an active liaison report-in?" (has_liaison_report_in): an agency
            # office's dashboard report-in rate probes it for each of its members, from the
            # index alone (sanxia's 7,600 active members: 11 → 8 ms at city size).
            models.Index(
                fields=["member"],
                condition=Q(status="active", kind="liaison"),
                name="registration_liaison_active",
            ),
            # "members reported in to a community, by agency" (the community dashboard's
            # reports.views._members_by_agency): the community's active report-ins in the order
            # of their agency, each with its member, counted from the index alone.
            models.Index(
                fields=["community", "status", "agency"],
                include=["member"],
                name="registration_community_agency",
            ),
        ]

    def __str__(self):
        return f"{self.member} → {self.community} ({self.get_kind_display()})"

    def get_absolute_url(self):
        return id_url("admin:members_registration_change", self.pk)

    def clean(self):
        super().clean()
        if self.grid_id and self.community_id and self.grid.community_id != self.community_id:
            raise ValidationError({"grid": _("The grid must belong to the same community.")})


# The triggers that keep a report-in's agency (PostgreSQL's names), by table: a bulk load that
# turns them off (seed_scale's COPY) fills the column again with AGENCY_FILL before it turns
# them back on.
AGENCY_TRIGGERS = {
    "members_registration": ["members_registration_agency"],
    "members_member": ["members_registration_agency_moved"],
}
AGENCY_FILL = """
    UPDATE members_registration SET agency_id = (
        SELECT m.agency_id FROM members_member m WHERE m.id = members_registration.member_id
    )
"""


def robot_reaches_member(user):
    """The member whose login is `user` if a group robot can mention them: their agency's, or
    that of a community they reported in to (pending or active). Registered with notifications
    (MembersConfig.ready) for the notification settings page, which asks whether it exists."""
    with_robot = ~Q(robot_webhook_url="")
    return Member.objects.filter(user=user).filter(
        Q(agency__in=Agency.objects.filter(with_robot))
        | Q(
            pk__in=Registration.objects.live()
            .filter(community__in=Community.objects.filter(with_robot))
            .values("member")
        )
    )


def recipients_of_logins(users) -> dict:
    """The members among `users` (logins) as notify's Recipients, by user id: a message to a
    member's login carries the member's name, mobile and agency, whose office then sees it.
    Registered with notifications (MembersConfig.ready)."""
    members = Member.objects.filter(user__in=[user.pk for user in users]).select_related("user")
    return {member.user_id: member.as_recipient() for member in members}


class ActivationLinkQuerySet(models.QuerySet):
    def live(self):
        """Links neither used nor revoked (expired or not): at most one per member."""
        return self.filter(used_at__isnull=True, revoked_at__isnull=True)

    def usable(self, now):
        """Live links that have not expired at `now`: the only ones that set a password."""
        return self.live().filter(expires_at__gt=now)


class ActivationLink(models.Model):
    """A one-time link (激活链接) that lets a member set the password of the login the office
    created for them. Only a hash of its token is kept: the link itself exists only in the
    message that carried it or on the printed slip."""

    class State(models.TextChoices):
        ACTIVE = "active", _("Valid")
        EXPIRED = "expired", _("Expired")
        USED = "used", _("Used")
        REVOKED = "revoked", _("Revoked")

    member = models.ForeignKey(
        Member,
        on_delete=models.CASCADE,
        related_name="activation_links",
        verbose_name=_("member"),
    )
    token_hash = models.CharField(_("token hash"), max_length=64, unique=True, editable=False)
    issued_at = models.DateTimeField(_("issued at"))
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("issued by"),
    )
    expires_at = models.DateTimeField(_("expires at"))
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    objects = ActivationLinkQuerySet.as_manager()

    class Meta:
        verbose_name = _("activation link")
        verbose_name_plural = _("activation links")
        ordering = ["-issued_at", "-pk"]
        constraints = [
            # Issuing a new link revokes the old one: a member never holds two that work.
            models.UniqueConstraint(
                fields=["member"],
                condition=Q(used_at__isnull=True, revoked_at__isnull=True),
                name="members_activationlink_one_live_per_member",
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("issued_at")),
                name="members_activationlink_expires_after_issue",
            ),
        ]
        indexes = [
            # "the member's latest link": the roster member page's link state.
            models.Index(fields=["member", "-issued_at"], name="activationlink_member_issued"),
        ]

    def __str__(self):
        return f"{self.member} · {self.issued_at:%Y-%m-%d}"

    def state(self, now) -> str:
        """The link's state at `now`: the one definition the pages and the services use."""
        if self.used_at is not None:
            return self.State.USED
        if self.revoked_at is not None:
            return self.State.REVOKED
        if self.expires_at <= now:
            return self.State.EXPIRED
        return self.State.ACTIVE


class CalendarFeed(models.Model):
    """A member's private calendar address (iCal): what they signed up for shows in their
    phone's calendar. The token in the address is the key; renewing it makes a new one and the
    old address stops working, as does revoking it."""

    member = models.OneToOneField(
        Member,
        on_delete=models.CASCADE,
        related_name="calendar_feed",
        verbose_name=_("member"),
    )
    token = models.CharField(_("token"), max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created at"))
    last_read_at = models.DateTimeField(_("last read at"), null=True, blank=True)

    class Meta:
        verbose_name = _("calendar feed")
        verbose_name_plural = _("calendar feeds")

    def __str__(self):
        return str(self.member)


class PrivacyAcceptance(models.Model):
    """A person's acceptance of a version of the privacy notice (隐私政策), at first sign-in and
    again whenever settings.PRIVACY_NOTICE_VERSION changes (members.privacy)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="privacy_acceptances",
        verbose_name=_("login"),
    )
    version = models.CharField(_("notice version"), max_length=20)
    accepted_at = models.DateTimeField(_("accepted at"))

    class Meta:
        verbose_name = _("privacy notice acceptance")
        verbose_name_plural = _("privacy notice acceptances")
        ordering = ["-accepted_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "version"], name="members_privacyacceptance_once_per_version"
            ),
        ]

    def __str__(self):
        return f"{self.user} · {self.version}"


class PersonalDataView(models.Model):
    """Who looked at a page listing people's personal data: one row per login, page and day,
    counting the views (members.privacy.personal_data_page writes it with one upsert per view).
    The city administrator reads it (members.privacy.view_log, and the admin)."""

    class Page(models.TextChoices):
        MEMBER_LIST = "member_list", _("Members reported in")
        REPORT_INS = "report_ins", _("Report-ins to review")
        ROSTER = "roster", _("Roster")
        ROSTER_MEMBER = "roster_member", _("A member on the roster")
        ROLL_CALL = "roll_call", _("Roll call")
        BOARD = "board", _("Attendance board")
        REVIEW = "review", _("Attendance review")
        ATTENDANCE = "attendance", _("Attendance report")
        EVALUATIONS = "evaluations", _("Annual evaluation")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="personal_data_views",
        verbose_name=_("viewed by"),
    )
    page = models.CharField(_("page"), max_length=20, choices=Page.choices)
    day = models.DateField(_("day"))
    views = models.PositiveIntegerField(_("views"), default=1)
    first_at = models.DateTimeField(_("first view"))
    last_at = models.DateTimeField(_("last view"))

    class Meta:
        verbose_name = _("view of personal data")
        verbose_name_plural = _("views of personal data")
        ordering = ["-day", "-last_at"]
        constraints = [
            # The upsert's conflict target: one row per login, page and day.
            models.UniqueConstraint(
                fields=["user", "page", "day"], name="members_personaldataview_one_per_day"
            ),
        ]
        indexes = [
            # "views on these days, newest first": the view log page and its date filters.
            models.Index(fields=["-day", "-last_at"], name="personaldataview_newest"),
        ]

    def __str__(self):
        return f"{self.user} · {self.get_page_display()} · {self.day}"
