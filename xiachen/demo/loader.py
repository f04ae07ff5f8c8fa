"""Loads the demo (`manage.py load_demo`) from demo.yaml, through the services the pages use.

The data file says what the demo holds; this module only knows how to put it in. Agreements are
signed at the signing desk (`agreement_sign`), report-ins approved or returned at the review
desk (`registration_approve`, `registration_return`), activities planned (`activity_create`,
`activity_cancel`) and recorded at the roll call (`participation_roll_call`), doors listed,
assigned and recorded (`door_units_add`, `door_unit_assign`, `door_unit_record`), notes posted
and concerns handled (`work_update_create`, `concern_create`, `concern_forward`,
`concern_resolve`): the demo's rows obey the rules the pages obey. What no page writes yet —
places, agencies, accounts and roles, members and their report-in requests, sign-ups (seats and
waitlist places, kept within the capacity as the sign-up page keeps them) and leave requests,
the agency office's confirmation, the duty roster, which the admin or the member and agency
pages write — is written here as plain rows, validated and with history.

Each service is told when the act happened (`now`, the story's moment), so the demo's past is
dated as it happened and the rules are checked at that moment, whatever the clock says. Services
that tell people are told not to (`tell=False`): a demo loaded today would otherwise queue a
message for every report-in approved and concern handled in June, news that is months old. What
the demo should tell people now — tomorrow's duty, the upcoming activities, yesterday's roll call
— the reminder sweep finds in its data, as it would in a real installation.

Loading is idempotent: every record is looked up by a natural key and created only when missing;
existing rows are never changed, so a second run, even on a later day, creates nothing. An
activity that exists is left as it is with its people; a missing one is planned and recorded
again. The story keeps the first load's dates (its 30 June agreement is the marker); the
activities around "today" are dated from the day of the load that creates them.
"""

import datetime as dt
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from activities.models import (
    Activity,
    ActivityType,
    Concern,
    DoorToDoorUnit,
    DutyAssignment,
    Need,
    NeedClaim,
    Participation,
    WorkUpdate,
)
from activities.services.activity import activity_cancel, activity_create
from activities.services.doors import door_unit_assign, door_unit_record, door_units_add
from activities.services.leave import participation_leave_request
from activities.services.needs import need_claim, need_done, need_publish, need_verify
from activities.services.notes import (
    concern_create,
    concern_forward,
    concern_resolve,
    work_update_create,
)
from activities.services.review import participation_dispute, participation_dispute_answer
from activities.services.rollcall import RollCallRow, participation_roll_call
from communities.models import Agency, Agreement, Community, Compound, Grid, StaffRole, Street
from communities.services import agreement_sign
from members.models import Member, Registration
from members.privacy import privacy_accept_for
from members.services import registration_approve, registration_return
from members.two_factor import authenticator_enrol, authenticators, hex_key
from reports.certificates import issue as certificate_issue
from reports.models import Certificate, Evaluation, EvaluationObjection
from reports.services import evaluations_save, objection_raise

DATA_FILE = Path(__file__).with_name("demo.yaml")


@cache
def data() -> dict:
    with DATA_FILE.open(encoding="utf-8") as file:
        return yaml.safe_load(file)


DEMO_PASSWORD = data()["password"]
# Real people named in the source article. Demo names are invented and never one of these.
ARTICLE_NAMES = frozenset(data()["article_names"])
# (username, role, scope) for the README and `runlocal`; the password is DEMO_PASSWORD.
DEMO_ACCOUNTS = tuple((a["username"], a["role"], a["scope"]) for a in data()["accounts"])
# username → the fixed base32 secret of its authenticator, for the logins that need a second
# factor (README's `totp` column).
DEMO_TOTP = {a["username"]: a["totp"] for a in data()["accounts"] if a.get("totp")}

# "story+3", "today-1", optionally with a time: "story+6 21:40".
WHEN = re.compile(r"^(story|today)([+-]\d+)(?: (\d{1,2}):(\d\d))?$")
# "sanxia 0-12 15": members 0 to 12 and 15 of the agency whose key is sanxia.
MEMBER_NUMBER = re.compile(r"^(\d+)(?:-(\d+))?$")


def anchor_for(today: dt.date) -> dt.date:
    """30 June of the agreement year: the most recent 30 June on or before `today`, or the one
    a year earlier while the July story after it would not yet be over by yesterday."""
    anchor = dt.date(today.year, 6, 30)
    if anchor > today - dt.timedelta(days=data()["story_days"]):
        anchor = dt.date(today.year - 1, 6, 30)
    return anchor


def member_keys(refs) -> list[tuple[str, int]]:
    """["sanxia 0-2", "yuanlin 8"] as [("sanxia", 0), ("sanxia", 1), ("sanxia", 2),
    ("yuanlin", 8)]."""
    keys = []
    for ref in [refs] if isinstance(refs, str) else refs:
        agency, *numbers = str(ref).split()
        if not numbers:
            raise ValueError(f"demo.yaml: {ref!r} names no member; write e.g. 'sanxia 0-3'")
        for number in numbers:
            match = MEMBER_NUMBER.match(number)
            if match is None:
                raise ValueError(f"demo.yaml: {number!r} in {ref!r} is not a number or a range")
            first, last = int(match[1]), int(match[2] or match[1])
            keys += [(agency, i) for i in range(first, last + 1)]
    return keys


def _check_fields(obj) -> None:
    """Field validators and the model's clean() for rows written in bulk; the database holds
    their constraints itself, so they are not asked one query per row."""
    obj.full_clean(validate_unique=False, validate_constraints=False)


def _three_years(start: dt.date) -> dt.date:
    return dt.date(start.year + 3, start.month, start.day) - dt.timedelta(days=1)


def _names(count: int, taken: set) -> list[str]:
    pool = data()["names"]
    rng = random.Random(data()["seed"])
    names = []
    while len(names) < count:
        name = (
            rng.choice(pool["surnames"])
            + rng.choice(pool["given_first"])
            + rng.choice(pool["given_second"])
        )
        if name not in taken:
            taken.add(name)
            names.append(name)
    return names


@dataclass
class RegistrationPlan:
    community: str
    kind: str
    status: str
    applied_on: dt.date
    reviewed_on: dt.date | None = None
    grid: str | None = None
    reason: str = ""
    ended_on: dt.date | None = None


@dataclass
class MemberPlan:
    key: tuple[str, int]
    agency: str
    name: str
    mobile: str
    position: str
    party_branch: str
    is_party_member: bool
    residence: str | None
    skills: str
    left_on: dt.date | None
    registrations: list = field(default_factory=list)


@dataclass(frozen=True)
class Loaded:
    anchor: dt.date  # 30 June the agreement was signed
    created: Counter  # rows created, by model label ("members.Member")


@transaction.atomic
def load(*, today: dt.date) -> Loaded:
    """Creates whatever demo rows are missing, in one transaction; changes no existing row."""
    loader = _Loader(today)
    created = loader.run()
    return Loaded(anchor=loader.anchor, created=created)


class _Loader:
    def __init__(self, today: dt.date):
        self.data = data()
        self.today = today
        self.tz = ZoneInfo(settings.TIME_ZONE)
        self.created = Counter()
        self._password = None

    # Dates and people, as demo.yaml writes them.

    def day(self, when: str) -> dt.date:
        return self.moment(when).date()

    def moment(self, when: str, default_time: str = "00:00") -> dt.datetime:
        match = WHEN.match(str(when).strip())
        if match is None:
            raise ValueError(f"demo.yaml: {when!r} is not a date like 'story+3' or 'today-1'")
        base = self.anchor if match[1] == "story" else self.today
        day = base + dt.timedelta(days=int(match[2]))
        hhmm = f"{match[3]}:{match[4]}" if match[3] else default_time
        return self.at(day, hhmm)

    def at(self, day: dt.date, hhmm: str) -> dt.datetime:
        hour, minute = map(int, hhmm.split(":"))
        return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=self.tz)

    def members_of(self, refs) -> list[Member]:
        return [self.member[key] for key in member_keys(refs or [])]

    def count(self, model, n=1):
        if n:
            self.created[model._meta.label] += n

    def get_or_create(self, model, defaults=None, **lookup):
        obj, created = model.objects.get_or_create(defaults=defaults or {}, **lookup)
        self.count(model, created)
        return obj, created

    def run(self) -> Counter:
        self.places()
        self.agencies()
        self.anchor = self.find_anchor()
        self.plans = self.member_plans()
        self.accounts()
        self.agreements()
        self.members()
        self.registrations()
        self.activities()
        self.duty_roster()
        self.work_updates()
        self.concerns()
        self.needs()
        self.evaluations()
        self.certificates()
        return self.created

    # Places, agencies and accounts: written in the admin, no service of their own.

    def places(self):
        self.streets, self.communities, self.grids, self.place_of = {}, {}, {}, {}
        for street_name, communities in self.data["streets"].items():
            street, _ = self.get_or_create(Street, name=street_name)
            self.streets[street_name] = street
            for name, place in communities.items():
                community, _ = self.get_or_create(Community, name=name, defaults={"street": street})
                self.communities[name] = community
                self.place_of[name] = place
                for compound in place["compounds"]:
                    self.get_or_create(Compound, community=community, name=compound)
                for grid_name, area in place["grids"].items():
                    grid, _ = self.get_or_create(
                        Grid, community=community, name=grid_name, defaults={"area": area}
                    )
                    self.grids[grid_name] = grid

    def grid_in_turn(self, community: str, i: int) -> str:
        grids = list(self.place_of[community]["grids"])
        return grids[i % len(grids)]

    def reviewer(self, community: str):
        """Who reviews the community's report-ins: its staff, else the city administrator."""
        return self.users[self.place_of[community].get("reviewer", "admin")]

    def agencies(self):
        self.agency = {}
        for spec in self.data["agencies"]:
            self.agency[spec["name"]], _ = self.get_or_create(
                Agency,
                name=spec["name"],
                defaults={"short_name": spec["short_name"], "kind": Agency.Kind.GOVERNMENT},
            )

    def find_anchor(self) -> dt.date:
        first = self.data["agreements"][0]
        marker = Agreement.objects.filter(
            agency=self.agency[first["agency"]], community=self.communities[first["community"]]
        ).first()
        # Completing an earlier load keeps that load's dates, whatever day it is now.
        if marker and (marker.starts_on.month, marker.starts_on.day) == (6, 30):
            return marker.starts_on
        return anchor_for(self.today)

    def member_plans(self) -> list[MemberPlan]:
        groups = [(spec, group) for spec in self.data["agencies"] for group in spec["members"]]
        taken = set(ARTICLE_NAMES) | {a["name"] for a in self.data["accounts"] if "name" in a}
        names = iter(_names(sum(group["count"] for _, group in groups), taken))
        rng = random.Random(self.data["seed"] + 1)
        plans = []
        for spec in self.data["agencies"]:
            branches = spec["branches"]
            i = 0
            for group in spec["members"]:
                for _ in range(group["count"]):
                    party = i % 7 != 6  # every seventh is a cadre who is not a party member
                    plan = MemberPlan(
                        key=(spec["key"], i),
                        agency=spec["name"],
                        name=next(names),
                        mobile=f"13900{spec['digit']}{i:05d}",
                        position=rng.choice(self.data["positions"]),
                        party_branch=(
                            f"{spec['short_name']}{branches[i % len(branches)]}" if party else ""
                        ),
                        is_party_member=party,
                        residence=group.get("lives_in"),
                        skills=rng.choice(self.data["skills"]),
                        left_on=self.day(group["left"]) if "left" in group else None,
                    )
                    plan.registrations = self.registration_plans(spec, group, plan, i)
                    plans.append(plan)
                    i += 1
        return plans

    def registration_plans(self, spec, group, plan: MemberPlan, i: int) -> list:
        """The member's report-ins: to the liaison community, and where they live if they do
        report in there. Reported in during June, reviewed the next day."""
        liaison_applied = self.anchor - dt.timedelta(days=25 - i % 20)
        wanted = [
            (Registration.Kind.LIAISON, spec["liaison"], liaison_applied, group.get("liaison"))
        ]
        if plan.residence:
            residence_applied = self.anchor - dt.timedelta(days=20 - i % 15)
            wanted.append(
                (
                    Registration.Kind.RESIDENCE,
                    plan.residence,
                    residence_applied,
                    group.get("residence"),
                )
            )
        plans = []
        for kind, community, applied, change in wanted:
            change = {"status": change} if isinstance(change, str) else dict(change or {})
            community = change.get("to", community)
            reg = RegistrationPlan(
                community=community,
                kind=kind,
                status=change.get("status", Registration.Status.ACTIVE),
                applied_on=self.day(change["applied"]) if "applied" in change else applied,
                reason=change.get("reason", ""),
            )
            if reg.status != Registration.Status.PENDING:
                reg.reviewed_on = (
                    self.day(change["reviewed"])
                    if "reviewed" in change
                    else reg.applied_on + dt.timedelta(days=1)
                )
            if reg.status == Registration.Status.ACTIVE:
                reg.grid = self.grid_in_turn(community, i)
                if kind == Registration.Kind.LIAISON and plan.left_on:
                    reg.ended_on = plan.left_on
            plans.append(reg)
        return plans

    def password(self):
        # One PBKDF2 hash (about 0.3 s) for every new account instead of one each.
        if self._password is None:
            self._password = make_password(DEMO_PASSWORD)
        return self._password

    def accounts(self):
        User = get_user_model()
        self.users = {}
        self.login_of = {}
        name_of = {plan.key: plan.name for plan in self.plans}
        for account in self.data["accounts"]:
            member_key = member_keys(account["member"])[0] if "member" in account else None
            user = User.objects.filter(username=account["username"]).first()
            if user is None:
                user = User.objects.create(
                    username=account["username"],
                    password=self.password(),
                    first_name=account.get("name") or name_of[member_key],
                    email=f"{account['username']}@example.org",
                    is_staff=account.get("kind") == StaffRole.Kind.CITY_ADMIN,
                    is_superuser=account.get("kind") == StaffRole.Kind.CITY_ADMIN,
                )
                self.count(User)
            self.users[account["username"]] = user
            if member_key:
                self.login_of[member_key] = user
            if "kind" not in account:
                continue
            if account.get("totp"):
                # A second factor with the README's fixed secret: anyone can try the role.
                if not authenticators(user).filter(key=hex_key(account["totp"])).exists():
                    authenticator_enrol(user=user, secret_base32=account["totp"])
                    self.count(TOTPDevice)
            role, created = self.get_or_create(
                StaffRole,
                user=user,
                kind=StaffRole.Kind(account["kind"]),
                street=self.streets.get(account.get("street")),
                community=self.communities.get(account.get("community")),
                agency=self.agency.get(account.get("agency")),
            )
            if created and account.get("grid"):
                role.grids.set([self.grids[account["grid"]]])
        # Every demo account has accepted the privacy notice in force: anyone may sign in as
        # any of them and go straight to its pages.
        privacy_accept_for(users=self.users.values())
        self.office_of = {
            self.agency[a["agency"]].pk: self.users[a["username"]]
            for a in self.data["accounts"]
            if a.get("kind") == StaffRole.Kind.AGENCY_OFFICE
        }

    def contact(self, side, username):
        if username is None:
            return {}
        usernames = [a["username"] for a in self.data["accounts"]]
        account = self.data["accounts"][usernames.index(username)]
        digits = 1 + usernames.index(username)
        return {
            f"{side}_contact": account["name"],
            f"{side}_contact_phone": f"139009000{digits:02d}",
        }

    # Agreements: drafted in the admin, signed at the signing desk.

    def agreements(self):
        self.agreement = {}
        admin = self.users["admin"]
        for spec in self.data["agreements"]:
            pair = {
                "agency": self.agency[spec["agency"]],
                "community": self.communities[spec["community"]],
            }
            found = Agreement.objects.filter(**pair).order_by("pk").first()
            if found is None:
                if spec.get("signed") is None:
                    month_after = (self.today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
                    starts = month_after
                else:
                    starts = self.day(spec["signed"])
                found = Agreement(
                    **pair,
                    number=f"GJ-{self.anchor.year}-{spec['number']:03d}",
                    starts_on=starts,
                    ends_on=_three_years(starts),
                    commitments=spec["commitments"],
                    daily_quota=spec["daily_quota"],
                    **self.contact("agency", spec.get("agency_contact")),
                    **self.contact("community", spec.get("community_contact")),
                )
                found.full_clean()
                found._history_user = admin
                if spec.get("signed") is not None:
                    found._history_date = self.at(starts, "09:00")
                found.save()
                self.count(Agreement)
                if spec.get("signed") is not None:
                    found = agreement_sign(
                        agreement=found, by=admin, signed_on=starts, now=self.at(starts, "10:00")
                    )
            self.agreement[(spec["agency"], spec["community"])] = found

    # Members and their report-ins.

    def members(self):
        agencies = list(self.agency.values())
        existing = {(m.agency_id, m.mobile): m for m in Member.objects.filter(agency__in=agencies)}
        linked = set(Member.objects.filter(user__isnull=False).values_list("user_id", flat=True))
        new = []
        for plan in self.plans:
            agency = self.agency[plan.agency]
            if (agency.pk, plan.mobile) in existing:
                continue
            user = self.login_of.get(plan.key)
            member = Member(
                agency=agency,
                user=user if user and user.pk not in linked else None,
                name=plan.name,
                mobile=plan.mobile,
                is_party_member=plan.is_party_member,
                position=plan.position,
                party_branch=plan.party_branch,
                residence_community=self.communities.get(plan.residence),
                skills=plan.skills,
                status=Member.Status.LEFT if plan.left_on else Member.Status.ACTIVE,
                left_on=plan.left_on,
            )
            _check_fields(member)
            new.append(member)
        Member.objects.bulk_create(new)
        self.count(Member, len(new))
        for member in new:
            existing[(member.agency_id, member.mobile)] = member
        self.member = {p.key: existing[(self.agency[p.agency].pk, p.mobile)] for p in self.plans}

    def registrations(self):
        """Each missing report-in is made as the member would (pending), then decided at the
        community's review desk on the day of the plan; a member who left has it revoked."""
        members = list(self.member.values())
        existing = set(
            Registration.objects.filter(member__in=members).values_list(
                "member_id", "community_id", "kind"
            )
        )
        admin = self.users["admin"]
        new = []
        for plan in self.plans:
            member = self.member[plan.key]
            for reg in plan.registrations:
                community = self.communities[reg.community]
                if (member.pk, community.pk, reg.kind) in existing:
                    continue
                registration = Registration(
                    member=member, community=community, kind=reg.kind, applied_on=reg.applied_on
                )
                registration._history_user = member.user
                registration._history_date = self.at(reg.applied_on, "09:00")
                _check_fields(registration)
                new.append((registration, reg))
        # Reported in, as the member's report-in page will do it: pending, waiting for review.
        bulk_create_with_history([registration for registration, _ in new], Registration)
        self.count(Registration, len(new))
        for registration, reg in new:
            reviewer = self.reviewer(reg.community)
            reviewed_at = reg.reviewed_on and self.at(reg.reviewed_on, "10:00")
            if reg.status in (Registration.Status.ACTIVE, Registration.Status.REVOKED):
                registration = registration_approve(
                    registration=registration,
                    reviewer=reviewer,
                    grid=self.grids.get(reg.grid),
                    now=reviewed_at,
                    tell=False,
                )
            elif reg.status == Registration.Status.RETURNED:
                registration_return(
                    registration=registration,
                    reviewer=reviewer,
                    reason=reg.reason,
                    now=reviewed_at,
                    tell=False,
                )
            if reg.ended_on:
                # Leaving the agency ends the report-in (no page does it yet: the admin).
                registration.status = Registration.Status.REVOKED
                registration.ended_on = reg.ended_on
                registration._history_user = admin
                registration._history_date = self.at(reg.ended_on, "17:00")
                registration.save()

    # Activities: planned, cancelled, signed up for, recorded at the roll call, reviewed.

    def activities(self):
        types = {t.code: t for t in ActivityType.objects.all()}
        self.activity = {}
        for spec in self.data["activities"]:
            day = self.day(spec["day"])
            community = self.communities[spec["community"]]
            title = spec["title"].format(day=f"{day.month}月{day.day}日")
            activity = Activity.objects.filter(community=community, title=title).first()
            if activity is None:
                activity = self.plan_activity(spec, community, title, day, types)
                self.record_people(spec, activity)
            self.door_round(spec, activity)
            if "ref" in spec:
                self.activity[spec["ref"]] = activity

    def organizer(self, spec):
        return self.users.get(spec.get("organizer"))

    def manager(self, spec):
        """Who acts for the community: the organizer, else whoever reviews its report-ins."""
        return self.organizer(spec) or self.reviewer(spec["community"])

    def plan_activity(self, spec, community, title, day, types) -> Activity:
        start, end = spec["time"].split("-")
        agreement = None
        if "counts_toward" in spec:
            agreement = self.agreement[(spec["counts_toward"], spec["community"])]
        activity = activity_create(
            community=community,
            organizer=self.organizer(spec),
            type=types[ActivityType.Code(spec["type"])],
            title=title,
            starts_at=self.at(day, start),
            ends_at=self.at(day, end),
            description=spec.get("description", ""),
            place=spec.get("place", ""),
            grid=self.grids.get(spec.get("grid")),
            capacity=spec.get("capacity"),
            nature=Activity.Nature(spec["nature"]),
            agreement=agreement,
        )
        self.count(Activity)
        if "cancelled" in spec:
            cancelled = spec["cancelled"]
            activity_cancel(
                activity=activity,
                reason=cancelled["reason"],
                now=self.moment(cancelled["day"], "18:00"),
            )
        return activity

    def record_people(self, spec, activity: Activity):
        """Sign-ups and leave requests for what is still to be called; the roll call of what
        is over, and the agency offices' confirmation where the plan says so."""
        start_of_today = self.at(self.today, "00:00")
        ended = activity.ends_at <= start_of_today
        leave = dict(spec.get("leave") or {})
        if not ended or spec.get("signed_up") or spec.get("waitlisted"):
            self.sign_ups(spec, activity, leave if not ended else {})
        marks = spec.get("present") or spec.get("absent") or (leave if ended else None)
        if not marks:
            return
        if not ended:
            raise ValueError(f"demo.yaml: {activity.title} has attendance but is not over yet")
        rows = [
            RollCallRow(member_id=m.pk, status=Participation.Status.PRESENT)
            for m in self.members_of(spec.get("present"))
        ]
        rows += [
            RollCallRow(member_id=m.pk, status=Participation.Status.ABSENT)
            for m in self.members_of(spec.get("absent"))
        ]
        rows += [
            RollCallRow(member_id=m.pk, status=Participation.Status.LEAVE, leave_reason=reason)
            for ref, reason in leave.items()
            for m in self.members_of(ref)
        ]
        taken_at = activity.ends_at + dt.timedelta(minutes=30)
        result = participation_roll_call(
            activity=activity,
            by=self.manager(spec),
            rows=rows,
            resident_volunteers=spec.get("resident_volunteers", 0),
            now=taken_at,
        )
        self.count(Participation, result.added)
        if spec.get("confirmed"):
            self.confirm(activity, reviewed_at=activity.ends_at + dt.timedelta(days=2))
        self.disputes(spec, activity)

    def sign_ups(self, spec, activity: Activity, leave: dict):
        """Members signing up (and asking for leave), as the member pages let them: two days
        before, or the day before yesterday for what was planned this week. `waitlisted`
        members came after the seats were gone, in their order, a few minutes apart."""
        signed_at = min(
            activity.starts_at - dt.timedelta(days=2),
            self.at(self.today - dt.timedelta(days=2), "20:00"),
        )
        asking = [(m, reason) for ref, reason in leave.items() for m in self.members_of(ref)]
        # Those asking for leave signed up first: they hold a seat until the leave is decided.
        signed_up = self.members_of(spec.get("signed_up")) + [m for m, _reason in asking]
        waiting = self.members_of(spec.get("waitlisted"))
        seats = activity.capacity
        # The sign-up page's rule (participation_sign_up): a seat while there is one, then the
        # waitlist; the demo must hold what the pages would have let happen.
        if seats is not None and len(signed_up) > seats:
            raise ValueError(f"demo.yaml: {activity.title} has more sign-ups than seats")
        if waiting and (seats is None or len(signed_up) < seats):
            raise ValueError(f"demo.yaml: {activity.title} has a waitlist but seats left")
        rows = [Participation(activity=activity, member=member) for member in signed_up]
        for n, member in enumerate(waiting, start=1):
            rows.append(
                Participation(
                    activity=activity,
                    member=member,
                    status=Participation.Status.WAITLISTED,
                    waitlisted_at=signed_at + dt.timedelta(minutes=10 * n),
                )
            )
        for row in rows:
            row.source = Participation.Source.SIGN_UP
            row.recorded_by = row.member.user
            row.recorded_at = row.waitlisted_at or signed_at
            row._history_user = row.member.user
            row._history_date = row.recorded_at
            _check_fields(row)
        bulk_create_with_history(rows, Participation, default_date=signed_at)
        self.count(Participation, len(rows))
        # … and ask for leave an hour later, as the member's leave page does: awaiting the
        # organizer's decision, still holding the seat.
        for member, reason in asking:
            participation_leave_request(
                activity=activity,
                member=member,
                reason=reason,
                now=signed_at + dt.timedelta(hours=1),
            )

    def confirm(self, activity: Activity, *, reviewed_at: dt.datetime):
        """The members' agency offices confirm the records (their review page comes next)."""
        by_office = {}
        for row in Participation.objects.filter(activity=activity).select_related("member"):
            office = self.office_of.get(row.member.agency_id)
            if office is not None:
                row.review = Participation.Review.CONFIRMED
                row.reviewed_by = office
                row.reviewed_at = reviewed_at
                by_office.setdefault(office, []).append(row)
        for office, rows in by_office.items():
            bulk_update_with_history(
                rows,
                Participation,
                ["review", "reviewed_by", "reviewed_at"],
                default_user=office,
                default_date=reviewed_at,
            )

    def disputes(self, spec, activity: Activity):
        """Records the members' agency offices disputed, and the community's answers, through
        the review services; the past is no news, so nobody is told."""
        answers = dict(spec.get("answered") or {})
        rows = {p.member_id: p for p in Participation.objects.filter(activity=activity)}
        for ref, reason in (spec.get("disputed") or {}).items():
            for member in self.members_of(ref):
                participation_dispute(
                    by=self.office_of[member.agency_id],
                    participation=rows[member.pk],
                    reason=reason,
                    now=activity.ends_at + dt.timedelta(days=3),
                    tell=False,
                )
                if ref in answers:
                    participation_dispute_answer(
                        by=self.manager(spec),
                        participation=rows[member.pk],
                        answer=answers[ref],
                        now=activity.ends_at + dt.timedelta(days=4),
                        tell=False,
                    )

    def door_round(self, spec, activity: Activity):
        """The buildings and stairwells of a door-to-door round, listed and assigned by the
        community before it, and the households reached recorded after it by each member with a
        login (the grid worker for the others). A round with any unit listed is left as it is."""
        doors = spec.get("doors")
        if not doors or DoorToDoorUnit.objects.filter(activity=activity).exists():
            return
        manager = self.manager(spec)
        compound = Compound.objects.get(community=activity.community, name=doors["compound"])
        recorded_at = activity.ends_at + dt.timedelta(hours=1)
        for spec_unit in doors["units"]:
            [unit] = door_units_add(
                activity=activity,
                by=manager,
                units=[(spec_unit["building"], spec_unit.get("stairwell", ""))],
                households=spec_unit["households"],
                compound=compound,
            )
            self.count(DoorToDoorUnit)
            member = self.members_of(spec_unit.get("member"))
            if member:
                door_unit_assign(units=[unit], member=member[0], by=manager)
            if spec_unit.get("reached") is not None:
                door_unit_record(
                    unit=unit,
                    households_reached=spec_unit["reached"],
                    by=(member[0].user if member else None) or manager,
                    now=recorded_at,
                )

    # The duty roster: edited in the admin.

    def duty_roster(self):
        """The agreement's roster: its quota of members a day, in turn through the agency's
        members reported in to the community, `first` on tomorrow. A day that has anyone on
        duty already is left as it is, edited or not."""
        spec = self.data["roster"]
        agreement = self.agreement[(spec["agency"], spec["community"])]
        dated_by = self.activity[spec["dated_by"]]
        today = dated_by.starts_at.astimezone(self.tz).date() - dt.timedelta(days=1)
        first, last = spec["days"]
        days = [today + dt.timedelta(days=n) for n in range(first, last + 1)]
        rota = [
            self.member[plan.key]
            for plan in self.plans
            if plan.agency == spec["agency"]
            and plan.left_on is None
            and any(
                reg.kind == Registration.Kind.LIAISON
                and reg.status == Registration.Status.ACTIVE
                and reg.community == spec["community"]
                for reg in plan.registrations
            )
        ]
        start = rota.index(self.members_of(spec["first"])[0])
        taken = set(
            DutyAssignment.objects.filter(agreement=agreement, date__in=days).values_list(
                "date", flat=True
            )
        )
        quota = agreement.daily_quota
        new = []
        for day in days:
            if day in taken:
                continue
            seat = start + ((day - today).days - 1) * quota  # tomorrow's first seat is `first`
            for n in range(seat, seat + quota):
                duty = DutyAssignment(agreement=agreement, date=day, member=rota[n % len(rota)])
                _check_fields(duty)
                new.append(duty)
        DutyAssignment.objects.bulk_create(new)
        self.count(DutyAssignment, len(new))

    # Work updates and residents' concerns.

    def work_updates(self):
        for spec in self.data["work_updates"]:
            community = self.communities[spec["community"]]
            if WorkUpdate.objects.filter(community=community, body=spec["body"]).exists():
                continue
            work_update_create(
                author=self.users[spec["author"]],
                community=community,
                body=spec["body"],
                activity=self.activity.get(spec.get("about")),
                now=self.moment(spec["at"]),
            )
            self.count(WorkUpdate)

    def needs(self):
        """Resident needs (微心愿) through their services: published, and some claimed, done and
        verified at the moments the file gives, without messages."""
        for spec in self.data.get("needs", []):
            community = self.communities[spec["community"]]
            if Need.objects.filter(community=community, title=spec["title"]).exists():
                continue
            need = need_publish(
                by=self.users[spec["by"]],
                community=community,
                title=spec["title"],
                description=spec.get("description", ""),
                place=spec.get("place", ""),
                deadline=self.moment(spec["deadline"]),
                hours=spec["hours"],
                claimants=spec.get("claimants", 1),
                now=self.moment(spec["at"]),
            )
            self.count(Need)
            if "claimed" in spec:
                claimed = spec["claimed"]
                claimant = self.users[claimed["by"]]
                claim = need_claim(
                    need=need, user=claimant, now=self.moment(claimed["at"]), tell=False
                )
                self.count(NeedClaim)
                if "done" in claimed:
                    done = claimed["done"]
                    need_done(
                        need=need,
                        user=claimant,
                        note=done["note"],
                        hours=done["hours"],
                        now=self.moment(done["at"]),
                        tell=False,
                    )
                if "verified" in claimed:
                    verified = claimed["verified"]
                    need_verify(
                        need=need,
                        by=self.users[verified["by"]],
                        claim_id=claim.pk,
                        now=self.moment(verified["at"]),
                        tell=False,
                    )
                    self.count(Activity)
                    self.count(Participation)

    def certificates(self):
        """Certificates of service hours, issued through the register as an office would."""
        for spec in self.data.get("certificates", []):
            (member,) = self.members_of([spec["member"]])
            # A later run (another today) keeps the certificate the first one issued.
            if Certificate.objects.filter(member=member, issued_by=self.users[spec["by"]]).exists():
                continue
            first, last = self.day(spec["first"]), self.day(spec["last"])
            certificate_issue(
                member=member,
                first=first,
                last=last,
                issuer=member.agency,
                contact=spec["contact"],
                by=self.users[spec["by"]],
                now=self.moment(spec["at"]),
            )
            self.count(Certificate)

    def concerns(self):
        for spec in self.data["concerns"]:
            community = self.communities[spec["community"]]
            if Concern.objects.filter(community=community, title=spec["title"]).exists():
                continue
            concern = concern_create(
                reported_by=self.users[spec["by"]],
                community=community,
                title=spec["title"],
                description=spec.get("description", ""),
                location=spec.get("location", ""),
                grid=self.grids.get(spec.get("grid")),
                activity=self.activity.get(spec.get("about")),
                now=self.moment(spec["at"]),
                tell=False,
            )
            self.count(Concern)
            if "forwarded" in spec:
                forwarded = spec["forwarded"]
                concern = concern_forward(
                    concern=concern,
                    by=self.users[forwarded["by"]],
                    forwarded_to=forwarded["to"],
                    now=self.moment(forwarded["at"]),
                    tell=False,
                )
            if "resolved" in spec:
                resolved = spec["resolved"]
                concern_resolve(
                    concern=concern,
                    by=self.users[resolved["by"]],
                    resolution=resolved["note"],
                    now=self.moment(resolved["at"]),
                    tell=False,
                )

    # The annual evaluation: ratings of the story's year and an objection.

    def evaluations(self):
        # The story's year, not the load's: a later load must find them there and add none.
        year = self.anchor.year
        for spec in self.data.get("evaluations", []):
            community = self.communities[spec["community"]]
            ratings = {}
            for line in spec["ratings"]:
                for member in self.members_of(line["member"]):
                    ratings[member.pk] = (line["rating"], line.get("comment", ""))
            rated = set(
                Evaluation.objects.filter(community=community, year=year).values_list(
                    "member", flat=True
                )
            )
            missing = {pk: rating for pk, rating in ratings.items() if pk not in rated}
            if missing:
                saved = evaluations_save(
                    by=self.users[spec["by"]],
                    community=community,
                    year=year,
                    ratings=missing,
                    now=self.moment(spec["at"]),
                )
                self.count(Evaluation, saved.created)
            if "objection" in spec:
                self.objection(spec["objection"], community, year)

    def objection(self, spec, community, year):
        (member,) = self.members_of(spec["member"])
        evaluation = Evaluation.objects.get(community=community, year=year, member=member)
        if evaluation.objections.exists():
            return
        objection_raise(
            by=self.users[spec["by"]],
            evaluation=evaluation,
            reason=spec["reason"],
            now=self.moment(spec["at"]),
            tell=False,
        )
        self.count(EvaluationObjection)
