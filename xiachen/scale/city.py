"""The city around the demo: what `manage.py seed_scale` writes, generated row by row from one
seeded random stream and streamed into PostgreSQL with COPY (copy.py).

The demo is loaded first; the city is built so that its accounts sit in the biggest scopes:
胜利一路社区 is the busiest community, 万寿桥街道 and 东苑街道 the biggest streets,
三峡旅游新区管委会 and 市园林和林业局 the biggest agencies, and the demo's member logins take
part in hundreds of activities. Every count is multiplied by the scale; the same seed and day
give the same rows.
"""

import datetime as dt
import itertools
import random
import string
import time
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from activities.models import Activity, ActivityType, Concern, DutyAssignment, Participation
from communities.history import ChangeReason
from communities.models import Agency, Agreement, Community, Compound, Grid, StaffRole, Street
from members.models import Member, Registration
from notifications.models import Notification

from . import names
from .copy import CopyLoader

# The city at scale 1: a prefecture-level city (issue 8).
FULL = {
    "streets": 12,
    "communities": 200,
    "agencies": 1000,
    "members": 60_000,
    "activities": 150_000,
    "notifications": 200_000,
}
# Fewer than this and a small city has no outside to its scopes.
FLOOR = {"streets": 3, "communities": 8, "agencies": 10}
GRIDS_PER_COMMUNITY = 3
YEARS = 5
PARTICIPATIONS_PER_ACTIVITY = 10
# Of the coming activities with a capacity, the share that is full with people waiting in line
# (候补), and how many wait at most.
P_FULL = 0.1
WAITLIST_MAX = 3
# Where the demo's accounts are: the busiest community, the biggest streets and agencies.
BUSIEST = "胜利一路社区"
BIG_STREETS = {"万寿桥街道": 2.3, "东苑街道": 1.9}
BIG_AGENCIES = ["三峡旅游新区管委会", "市园林和林业局"]
DEMO_COMMUNITY_WEIGHTS = {
    "胜利一路社区": 2.0,
    "深圳路社区": 1.65,
    "东山花园社区": 1.5,
    "建设社区": 1.2,
}
FLOOD_MONTHS = (6, 7, 8)


def counts_at(scale: float) -> dict[str, int]:
    return {key: max(FLOOR.get(key, 1), round(full * scale)) for key, full in FULL.items()}


@dataclass(eq=False)
class Person:
    """A member as the activities see them."""

    id: int
    agency_id: int
    left_on: dt.date | None
    user_id: int | None
    name: str
    mobile: str
    boost: bool = False  # a demo login: takes part more often
    since: dt.date = dt.date.min  # reported in from then on: takes part only after


# NULL in COPY's text format.
N = "\\N"


def _ts(moment: dt.datetime) -> str:
    return moment.isoformat(" ")


class City:
    def __init__(self, *, scale: float, seed: int, today: dt.date, log=print):
        self.scale = scale
        self.seed = seed
        self.rng = random.Random(seed)
        self.today = today
        self.tz = ZoneInfo(settings.TIME_ZONE)
        # Past and future are told from the start of `today`, so the rows depend on the day only.
        self.now = dt.datetime.combine(today, dt.time(), self.tz)
        self.first_day = today - dt.timedelta(days=365 * YEARS + 1)
        self.target = counts_at(scale)
        self.log = log
        self.next_ids = {}
        self.full_activities = 0  # coming activities seeded full, with a waitlist
        self.sending_left = 3

    # -- plumbing ---------------------------------------------------------------------------

    def new_id(self, table: str) -> int:
        value = self.next_ids[table]
        self.next_ids[table] = value + 1
        return value

    def at(self, day: dt.date, hhmm: str) -> dt.datetime:
        hour, minute = map(int, hhmm.split(":"))
        return dt.datetime.combine(day, dt.time(hour, minute), self.tz)

    def name(self) -> str:
        pool = self.name_pool
        rng = self.rng
        given = rng.choice(pool["given_first"])
        if rng.random() < 0.85:
            given += rng.choice(pool["given_second"])
        return rng.choice(pool["surnames"]) + given

    def mobile(self) -> str:
        rng = self.rng
        while True:
            number = f"{rng.choice(self.mobile_prefixes)}{rng.randrange(10**8):08d}"
            if number not in self.mobiles:
                self.mobiles.add(number)
                return number

    def stage(self, label: str, started: float, *tables: str):
        self.copy.flush(*tables)
        rows = ", ".join(f"{t} {self.copy.tables[t].count:,}" for t in tables)
        self.log(f"  {label:<28} {time.monotonic() - started:6.1f} s   {rows}")

    # -- the whole city ---------------------------------------------------------------------

    def run(self, cursor) -> CopyLoader:
        from xiachen.demo.loader import data

        self.read_demo(cursor)
        self.copy = CopyLoader(cursor)
        self.name_pool = data()["names"]
        self.positions = data()["positions"]
        self.skills = data()["skills"]
        try:
            self.places()
            self.staff()
            self.agencies()
            self.agreements()
            self.members()
            self.activities()
            self.duty()
            self.digests()
            self.copy.flush()
        finally:
            self.copy.close()
        return self.copy

    def read_demo(self, cursor):
        """What the demo put there: its places, agencies, accounts and members, and the next
        free id of every table."""
        tables = [
            "auth_user",
            "communities_street",
            "communities_community",
            "communities_compound",
            "communities_grid",
            "communities_agency",
            "communities_staffrole",
            "communities_staffrole_grids",
            "communities_agreement",
            "communities_historicalagreement",
            "members_member",
            "members_registration",
            "members_historicalregistration",
            "activities_activity",
            "activities_participation",
            "activities_historicalparticipation",
            "activities_dispute",
            "activities_doortodoorunit",
            "activities_dutyassignment",
            "activities_workupdate",
            "activities_concern",
            "notifications_notification",
        ]
        for table in tables:
            key = "history_id" if "_historical" in table else "id"
            cursor.execute(f'SELECT COALESCE(MAX("{key}"), 0) + 1 FROM "{table}"')
            self.next_ids[table] = cursor.fetchone()[0]
        self.admin_id = (
            StaffRole.objects.filter(kind=StaffRole.Kind.CITY_ADMIN)
            .order_by("user_id")
            .values_list("user_id", flat=True)
            .first()
        )
        self.streets = {s.name: s.pk for s in Street.objects.order_by("pk")}
        self.communities = {}  # name: id
        self.street_of = {}  # community id: street id
        for c in Community.objects.order_by("pk"):
            self.communities[c.name] = c.pk
            self.street_of[c.pk] = c.street_id
        self.grids = defaultdict(list)
        for g in Grid.objects.order_by("pk"):
            self.grids[g.community_id].append(g.pk)
        self.compounds = defaultdict(list)
        for c in Compound.objects.order_by("pk"):
            self.compounds[c.community_id].append((c.pk, c.name))
        self.agency_ids = {a.name: a.pk for a in Agency.objects.order_by("pk")}
        self.robots = {}  # ("c" or "a", id): (url, kind)
        self.staff_of = defaultdict(list)  # community id: [(user id, name)]
        self.grid_workers = defaultdict(list)
        self.office_of = {}  # agency id: user id
        self.user_names = {}
        for role in StaffRole.objects.select_related("user").order_by("pk"):
            self.user_names[role.user_id] = role.user.get_full_name() or role.user.username
            if role.kind == StaffRole.Kind.COMMUNITY_STAFF:
                self.staff_of[role.community_id].append(role.user_id)
            elif role.kind == StaffRole.Kind.GRID_WORKER:
                self.grid_workers[role.community_id].append(role.user_id)
            elif role.kind == StaffRole.Kind.AGENCY_OFFICE:
                self.office_of.setdefault(role.agency_id, role.user_id)
        self.taken_streets = set(
            StaffRole.objects.filter(kind=StaffRole.Kind.STREET_OFFICER).values_list(
                "street_id", flat=True
            )
        )
        self.user_emails = {}
        self.mobiles = set(Member.objects.values_list("mobile", flat=True))
        self.types = {t.code: (t.pk, t.default_nature) for t in ActivityType.objects.order_by("pk")}
        # Agreements the demo signed: activities may count toward them too.
        self.terms = defaultdict(list)  # community id: [(agreement id, agency id, start, end)]
        self.pairs = set()
        for a in Agreement.objects.order_by("pk"):
            self.pairs.add((a.agency_id, a.community_id))
            if a.status == Agreement.Status.ACTIVE:
                self.terms[a.community_id].append((a.pk, a.agency_id, a.starts_on, a.ends_on))
        self.demo_members = list(
            Member.objects.order_by("pk").values_list(
                "pk", "agency_id", "left_on", "user_id", "name", "mobile"
            )
        )
        self.demo_regs = list(
            Registration.objects.filter(
                status__in=[Registration.Status.ACTIVE, Registration.Status.REVOKED]
            )
            .order_by("pk")
            .values_list("member_id", "community_id")
        )
        self.content_types = {
            model: ContentType.objects.get_for_model(model).pk
            for model in (Activity, Participation, Registration, Concern, DutyAssignment, Agency)
        }
        probe = 987654321
        self.activity_url = settings.SITE_URL + reverse(
            "activities:activity_detail", args=[probe]
        ).replace(str(probe), "{}")
        self.concern_url = settings.SITE_URL + reverse(
            "activities:concern_detail", args=[probe]
        ).replace(str(probe), "{}")
        self.mobile_prefixes = [
            p for p in [*range(130, 139), *range(150, 160), *range(180, 190), 177, 199] if p != 154
        ]

    # -- places -----------------------------------------------------------------------------

    def places(self):
        started = time.monotonic()
        rng = self.rng
        streets = self.copy.table("communities_street", ["id", "name"])
        new_streets = [n for n in names.STREETS if n not in self.streets]
        for name in new_streets[: max(0, self.target["streets"] - len(self.streets))]:
            self.streets[name] = street_id = self.new_id("communities_street")
            streets.add(street_id, name)
        street_weights = {
            sid: BIG_STREETS.get(name, rng.uniform(0.7, 1.3)) for name, sid in self.streets.items()
        }
        communities = self.copy.table(
            "communities_community",
            ["id", "name", "street_id", "address", "phone", "robot_webhook_url", "robot_kind"],
        )
        compounds = self.copy.table("communities_compound", ["id", "community_id", "name"])
        grids = self.copy.table("communities_grid", ["id", "community_id", "name", "area"])
        candidates = [
            f"{stem}{ending}社区"
            for stem in names.COMMUNITY_STEMS
            for ending in names.COMMUNITY_ENDINGS
        ]
        rng.shuffle(candidates)
        candidates = [c for c in candidates if c not in self.communities]
        wanted = max(0, self.target["communities"] - len(self.communities))
        street_ids = list(street_weights)
        weights = [street_weights[s] for s in street_ids]
        self.weight = {
            cid: DEMO_COMMUNITY_WEIGHTS.get(n, 1.0) for n, cid in self.communities.items()
        }
        for name in candidates[:wanted]:
            cid = self.new_id("communities_community")
            street_id = rng.choices(street_ids, weights)[0]
            self.communities[name] = cid
            self.street_of[cid] = street_id
            self.weight[cid] = rng.uniform(0.3, 1.7)
            robot = ""
            if rng.random() < 0.35:
                robot = f"https://robot.example.com/wecom/c{cid}"
                self.robots[("c", cid)] = (robot, "wecom")
            phone = f"0717-{rng.randrange(6000000, 6999999)}"
            communities.add(
                cid, name, street_id, f"{name[:-2]}{rng.randint(1, 99)}号", phone, robot, "wecom"
            )
            stem = name[:-2]
            for ending in rng.sample(names.COMPOUND_ENDINGS, rng.randint(2, 4)):
                compound_name = f"{stem}{ending}"
                compound_id = self.new_id("communities_compound")
                compounds.add(compound_id, cid, compound_name)
                self.compounds[cid].append((compound_id, compound_name))
            for n in range(GRIDS_PER_COMMUNITY):
                compound_name = self.compounds[cid][n % len(self.compounds[cid])][1]
                grid_id = self.new_id("communities_grid")
                area = names.GRID_AREAS[n].format(compound=compound_name)
                grids.add(grid_id, cid, f"第{n + 1}网格", area)
                self.grids[cid].append(grid_id)
        self.community_ids = list(self.weight)
        self.stage(
            "streets and communities",
            started,
            "communities_street",
            "communities_community",
            "communities_compound",
            "communities_grid",
        )

    # -- logins and their roles --------------------------------------------------------------

    def user(self, username: str, name: str, *, email=True, joined: dt.datetime) -> int:
        rng = self.rng
        user_id = self.new_id("auth_user")
        # Seeded people sign in only when someone sets their password: an unusable one ("!"),
        # as Django's set_unusable_password writes it, and no hashing to pay for.
        password = "!" + "".join(rng.choices(string.ascii_letters + string.digits, k=40))
        address = f"{username}@example.org" if email else ""
        self.users.add(
            user_id, password, False, username, name, "", address, False, True, _ts(joined)
        )
        self.user_names[user_id] = name
        if address:
            self.user_emails[user_id] = address
        return user_id

    def role(self, user_id, kind, *, street=None, community=None, agency=None, grid=None):
        role_id = self.new_id("communities_staffrole")
        self.roles.add(role_id, user_id, kind, street, community, agency)
        if grid:
            self.role_grids.add(self.new_id("communities_staffrole_grids"), role_id, grid)

    def staff(self):
        started = time.monotonic()
        self.users = self.copy.table(
            "auth_user",
            [
                "id",
                "password",
                "is_superuser",
                "username",
                "first_name",
                "last_name",
                "email",
                "is_staff",
                "is_active",
                "date_joined",
            ],
        )
        self.roles = self.copy.table(
            "communities_staffrole",
            ["id", "user_id", "kind", "street_id", "community_id", "agency_id"],
        )
        self.role_grids = self.copy.table(
            "communities_staffrole_grids", ["id", "staffrole_id", "grid_id"]
        )
        joined = self.at(self.first_day, "09:00")
        for n, street_id in enumerate(self.streets.values()):
            if street_id not in self.taken_streets:
                user_id = self.user(f"street{n:02d}", self.name(), joined=joined)
                self.role(user_id, StaffRole.Kind.STREET_OFFICER, street=street_id)
        for n, cid in enumerate(self.community_ids):
            if not self.staff_of.get(cid):
                user_id = self.user(f"c{n:03d}_staff", self.name(), joined=joined)
                self.role(user_id, StaffRole.Kind.COMMUNITY_STAFF, community=cid)
                self.staff_of[cid].append(user_id)
            if not self.grid_workers.get(cid):
                user_id = self.user(f"c{n:03d}_grid", self.name(), joined=joined)
                self.role(
                    user_id, StaffRole.Kind.GRID_WORKER, community=cid, grid=self.grids[cid][0]
                )
                self.grid_workers[cid].append(user_id)
        self.stage("staff logins", started, "auth_user", "communities_staffrole")

    # -- agencies -----------------------------------------------------------------------------

    def agency_names(self) -> list[tuple[str, str, str]]:
        """(name, short name, kind) of every body the city could have, in a seeded order."""
        found = []
        for district in names.DISTRICTS:
            for department, kind in names.DEPARTMENTS:
                name = f"{district}{department}" if district != "市" else f"宜昌市{department}"
                if district == "市" and kind == "government":
                    name = f"市{department}"
                short = department
                for tail, replacement in names.SHORT_TAIL.items():
                    short = short.replace(tail, replacement)
                found.append((name, short[:50], kind))
        for district in names.DISTRICTS[1:]:
            for n in range(1, 13):
                for school in names.SCHOOL_KINDS:
                    found.append(
                        (f"{district}第{n}{school}", f"{district[:2]}{n}{school}", "institution")
                    )
        for district in names.DISTRICTS[1:]:
            for hospital in names.HOSPITALS:
                found.append((f"{district}{hospital}", f"{district[:2]}{hospital}", "institution"))
        for pattern in names.ENTERPRISES:
            for stem in names.COMMUNITY_STEMS:
                found.append((pattern.format(stem), pattern.format(stem)[2:14], "enterprise"))
        self.rng.shuffle(found)
        return found

    def agencies(self):
        """Agencies of Zipf-like sizes: the k-th biggest has about 1/k of the biggest's members.
        三峡旅游新区管委会 and 市园林和林业局 are the two biggest."""
        started = time.monotonic()
        rng = self.rng
        table = self.copy.table(
            "communities_agency",
            [
                "id",
                "name",
                "short_name",
                "kind",
                "address",
                "is_active",
                "robot_webhook_url",
                "robot_kind",
            ],
        )
        wanted = max(0, self.target["agencies"] - len(self.agency_ids))
        for name, short, kind in [c for c in self.agency_names() if c[0] not in self.agency_ids][
            :wanted
        ]:
            agency_id = self.new_id("communities_agency")
            self.agency_ids[name] = agency_id
            robot = ""
            if rng.random() < 0.2:
                robot = f"https://robot.example.com/dingtalk/a{agency_id}"
                self.robots[("a", agency_id)] = (robot, "dingtalk")
            table.add(
                agency_id, name, short, kind, "", True, robot, "dingtalk" if robot else "wecom"
            )
        # Sizes: the big demo agencies first, then the others in their seeded order.
        order = [self.agency_ids[n] for n in BIG_AGENCIES if n in self.agency_ids]
        order += [a for a in self.agency_ids.values() if a not in order]
        harmonic = sum(1 / k for k in range(1, len(order) + 1))
        total = self.target["members"]
        self.size = {a: max(1, round(total / (k * harmonic))) for k, a in enumerate(order, 1)}
        self.size[order[0]] += total - sum(self.size.values())  # rounding: the total exactly
        # Offices for those the demo has none for.
        joined = self.at(self.first_day, "09:00")
        for n, agency_id in enumerate(order):
            if agency_id not in self.office_of:
                user_id = self.user(f"a{n:04d}_office", self.name(), joined=joined)
                self.role(user_id, StaffRole.Kind.AGENCY_OFFICE, agency=agency_id)
                self.office_of[agency_id] = user_id
        self.agency_order = order
        self.stage("agencies", started, "communities_agency")

    # -- agreements ---------------------------------------------------------------------------

    def agreements(self):
        """Each agency partners with communities (the biggest with several, the busy communities
        with many): an agreement in force, often an expired one before it, a few terminated, and
        drafts for the coming month. Every community has a partner."""
        started = time.monotonic()
        rng = self.rng
        table = self.copy.table(
            "communities_agreement",
            [
                "id",
                "number",
                "status",
                "starts_on",
                "ends_on",
                "commitments",
                "daily_quota",
                "agency_contact",
                "agency_contact_phone",
                "community_contact",
                "community_contact_phone",
                "scan",
                "signed_on",
                "signed_at",
                "terminated_on",
                "termination_reason",
                "created_at",
                "updated_at",
                "agency_id",
                "signed_by_id",
                "terminated_by_id",
                "community_id",
            ],
        )
        history = self.copy.table(
            "communities_historicalagreement",
            table.columns
            + [
                "history_id",
                "history_date",
                "history_change_reason",
                "history_type",
                "history_user_id",
            ],
        )
        weights = [self.weight[c] for c in self.community_ids]
        partners = defaultdict(list)  # agency: [community]
        for agency_id in self.agency_order:
            wanted = min(len(self.community_ids), 1 + self.size[agency_id] // 700)
            chosen = [c for a, c in self.pairs if a == agency_id]
            while len(chosen) < wanted:
                community = rng.choices(self.community_ids, weights)[0]
                if community not in chosen:
                    chosen.append(community)
            partners[agency_id] = chosen
        partnered = {c for cs in partners.values() for c in cs}
        for community in self.community_ids:
            if community not in partnered:
                partners[rng.choice(self.agency_order)].append(community)
        self.partners = partners
        self.number = 0
        today = self.today

        def add(agency_id, community_id, status, starts, ends, quota=1, terminated=None):
            self.number += 1
            agreement_id = self.new_id("communities_agreement")
            created = self.at(starts - dt.timedelta(days=rng.randint(5, 30)), "10:00")
            signed = status != Agreement.Status.DRAFT
            signed_at = self.at(starts, "15:00") if signed else None
            row = [
                agreement_id,
                f"GJ-{starts.year}-{self.number:04d}",
                status,
                starts,
                ends,
                "双方结对共建：单位每天安排党员干部下沉社区，社区负责安排任务并记录考勤。",
                quota,
                "",
                "",
                "",
                "",
                "",
                starts if signed else None,
                _ts(signed_at) if signed_at else None,
                terminated,
                rng.choice(names.TERMINATION_REASONS) if terminated else "",
                _ts(created),
                _ts(signed_at or created),
                agency_id,
                self.admin_id if signed else None,
                self.admin_id if terminated else None,
                community_id,
            ]
            table.add(*row)
            draft = list(row)
            draft[2], draft[12], draft[13], draft[19] = Agreement.Status.DRAFT, None, None, None
            draft[14], draft[15], draft[20] = None, "", None
            history.add(
                *draft,
                self.new_id("communities_historicalagreement"),
                _ts(created),
                None,
                "+",
                self.admin_id,
            )
            if signed:
                signed_row = list(row)
                signed_row[2] = Agreement.Status.ACTIVE
                signed_row[14], signed_row[15], signed_row[20] = None, "", None
                history.add(
                    *signed_row,
                    self.new_id("communities_historicalagreement"),
                    _ts(signed_at),
                    ChangeReason.SIGNED.value,
                    "~",
                    self.admin_id,
                )
            if status in (Agreement.Status.EXPIRED, Agreement.Status.TERMINATED):
                end = terminated or ends
                history.add(
                    *row,
                    self.new_id("communities_historicalagreement"),
                    _ts(self.at(end + dt.timedelta(days=1), "01:00")),
                    (ChangeReason.TERMINATED if terminated else ChangeReason.EXPIRED).value,
                    "~",
                    self.admin_id,
                )
            if signed:
                self.terms[community_id].append(
                    (agreement_id, agency_id, starts, terminated or ends)
                )
            return agreement_id

        self.in_force = []  # (agreement id, agency, community, quota) in force today
        for agency_id in self.agency_order:
            quota = 2 if self.size[agency_id] >= 2000 else 1
            for community_id in partners[agency_id]:
                if (agency_id, community_id) in self.pairs:
                    continue  # the demo's own
                starts = today - dt.timedelta(days=rng.randint(30, 1000))
                ends = _three_years(starts)
                before = _three_years(starts - dt.timedelta(days=365 * 3)) - dt.timedelta(days=0)
                if rng.random() < 0.6:
                    earlier = starts - dt.timedelta(days=365 * 3)
                    if rng.random() < 0.05:
                        cut = earlier + dt.timedelta(days=rng.randint(200, 900))
                        add(
                            agency_id,
                            community_id,
                            Agreement.Status.TERMINATED,
                            earlier,
                            before,
                            terminated=cut,
                        )
                    else:
                        add(
                            agency_id,
                            community_id,
                            Agreement.Status.EXPIRED,
                            earlier,
                            starts - dt.timedelta(days=1),
                        )
                agreement_id = add(
                    agency_id, community_id, Agreement.Status.ACTIVE, starts, ends, quota
                )
                self.in_force.append((agreement_id, agency_id, community_id, quota))
            if rng.random() < 0.04:
                community_id = rng.choice(self.community_ids)
                if community_id not in partners[agency_id]:
                    month_after = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
                    add(
                        agency_id,
                        community_id,
                        Agreement.Status.DRAFT,
                        month_after,
                        _three_years(month_after),
                    )
        self.stage(
            "agreements", started, "communities_agreement", "communities_historicalagreement"
        )

    # -- members and their report-ins --------------------------------------------------------

    def members(self):
        started = time.monotonic()
        rng = self.rng
        table = self.copy.table(
            "members_member",
            [
                "id",
                "name",
                "mobile",
                "is_party_member",
                "position",
                "party_branch",
                "skills",
                "status",
                "left_on",
                "created_at",
                "agency_id",
                "residence_community_id",
                "user_id",
            ],
        )
        regs = self.copy.table(
            "members_registration",
            [
                "id",
                "kind",
                "status",
                "applied_on",
                "reviewed_at",
                "return_reason",
                "ended_on",
                "community_id",
                "grid_id",
                "member_id",
                "reviewer_id",
            ],
        )
        history = self.copy.table(
            "members_historicalregistration",
            regs.columns
            + [
                "history_id",
                "history_date",
                "history_change_reason",
                "history_type",
                "history_user_id",
            ],
        )
        self.pool = defaultdict(list)  # community id: [Person]
        self.liaison_of = defaultdict(list)  # (agency, community): [member id], for the duty rota
        people = {}
        for pk, agency_id, left_on, user_id, name, mobile in self.demo_members:
            people[pk] = Person(pk, agency_id, left_on, user_id, name, mobile, boost=bool(user_id))
        for member_id, community_id in self.demo_regs:
            person = people[member_id]
            if person not in self.pool[community_id]:
                self.pool[community_id].append(person)
        weights = list(itertools.accumulate(self.weight[c] for c in self.community_ids))
        busiest = self.communities.get(BUSIEST)
        span = (self.today - self.first_day).days
        self.reg_notices = []
        for agency_id in self.agency_order:
            mine = self.partners[agency_id]
            mine_weights = [self.weight[c] for c in mine]
            for n in range(self.size[agency_id]):
                member_id = self.new_id("members_member")
                name = self.name()
                mobile = self.mobile()
                party = rng.random() < 0.86
                if rng.random() < 0.4:  # reported in before these five years
                    joined_day = self.first_day - dt.timedelta(days=rng.randint(30, 400))
                else:
                    joined_day = self.first_day + dt.timedelta(days=int(span * rng.random() ** 2))
                left_on = None
                if rng.random() < 0.05:
                    left_on = joined_day + dt.timedelta(days=rng.randint(60, max(61, span // 2)))
                    if left_on >= self.today:
                        left_on = self.today - dt.timedelta(days=rng.randint(1, 30))
                    if left_on <= joined_day:
                        left_on = None
                user_id = None
                if rng.random() < 0.15:
                    user_id = self.user(
                        mobile, name, email=rng.random() < 0.5, joined=self.at(joined_day, "09:00")
                    )
                residence = None
                if rng.random() < 0.65:
                    residence = rng.choices(self.community_ids, cum_weights=weights)[0]
                table.add(
                    member_id,
                    name,
                    mobile,
                    party,
                    rng.choice(self.positions),
                    f"机关第{n % 3 + 1}党支部" if party else "",
                    rng.choice(self.skills),
                    Member.Status.LEFT if left_on else Member.Status.ACTIVE,
                    left_on,
                    _ts(self.at(joined_day, "09:00")),
                    agency_id,
                    residence,
                    user_id,
                )
                since = joined_day + dt.timedelta(days=21)
                person = Person(member_id, agency_id, left_on, user_id, name, mobile, since=since)
                if agency_id == self.agency_order[0] and busiest in mine and rng.random() < 0.35:
                    liaison = busiest
                else:
                    liaison = rng.choices(mine, mine_weights)[0]
                wanted = [(Registration.Kind.LIAISON, liaison)]
                if residence and rng.random() < 0.75:
                    wanted.append((Registration.Kind.RESIDENCE, residence))
                for kind, community_id in wanted:
                    self.registration(regs, history, person, kind, community_id, joined_day)
        self.stage(
            "members and report-ins",
            started,
            "members_member",
            "members_registration",
            "members_historicalregistration",
            "auth_user",
        )

    def registration(self, regs, history, person, kind, community_id, joined_day):
        rng = self.rng
        applied = joined_day + dt.timedelta(days=rng.randint(0, 20))
        if applied >= self.today:
            applied = self.today - dt.timedelta(days=1)
        reviewer = (
            self.staff_of[community_id][0] if self.staff_of.get(community_id) else self.admin_id
        )
        r = rng.random()
        pending_share = 0.03 if kind == Registration.Kind.LIAISON else 0.06
        returned_share = 0.02 if kind == Registration.Kind.LIAISON else 0.04
        if person.left_on:
            status = Registration.Status.REVOKED
        elif r < pending_share:
            status = Registration.Status.PENDING
            applied = self.today - dt.timedelta(days=rng.randint(1, 10))
        elif r < pending_share + returned_share:
            status = Registration.Status.RETURNED
        else:
            status = Registration.Status.ACTIVE
        reviewed = status != Registration.Status.PENDING
        reviewed_at = self.at(applied + dt.timedelta(days=1), "10:00") if reviewed else None
        if reviewed_at and reviewed_at >= self.now:
            reviewed_at = self.now - dt.timedelta(hours=2)
        grid = (
            rng.choice(self.grids[community_id]) if status != Registration.Status.RETURNED else None
        )
        reason = rng.choice(names.RETURN_REASONS) if status == Registration.Status.RETURNED else ""
        reg_id = self.new_id("members_registration")
        row = [
            reg_id,
            kind,
            status,
            applied,
            _ts(reviewed_at) if reviewed_at else None,
            reason,
            person.left_on,
            community_id,
            grid if reviewed else None,
            person.id,
            reviewer if reviewed else None,
        ]
        regs.add(*row)
        first = [
            reg_id,
            kind,
            Registration.Status.PENDING,
            applied,
            None,
            "",
            None,
            community_id,
            None,
            person.id,
            None,
        ]
        history.add(
            *first,
            self.new_id("members_historicalregistration"),
            _ts(self.at(applied, "09:00")),
            None,
            "+",
            person.user_id,
        )
        if reviewed:
            decided = list(row)
            decided[6] = None
            if status == Registration.Status.REVOKED:
                decided[2] = Registration.Status.ACTIVE
            history.add(
                *decided,
                self.new_id("members_historicalregistration"),
                _ts(reviewed_at),
                None,
                "~",
                reviewer,
            )
        if status == Registration.Status.REVOKED:
            history.add(
                *row,
                self.new_id("members_historicalregistration"),
                _ts(self.at(person.left_on, "17:00")),
                None,
                "~",
                self.admin_id,
            )
        if status in (Registration.Status.ACTIVE, Registration.Status.REVOKED):
            if person not in self.pool[community_id][-3:]:
                self.pool[community_id].append(person)
            if kind == Registration.Kind.LIAISON and status == Registration.Status.ACTIVE:
                self.liaison_of[(person.agency_id, community_id)].append(person)
        if reviewed and status != Registration.Status.REVOKED:
            self.reg_notices.append((reg_id, person, community_id, status, reviewed_at))

    # -- activities and everything that hangs on them ---------------------------------------

    def activities(self):
        started = time.monotonic()
        c = self.copy
        self.activity_table = c.table(
            "activities_activity",
            [
                "id",
                "title",
                "description",
                "place",
                "starts_at",
                "ends_at",
                "capacity",
                "nature",
                "status",
                "resident_volunteers",
                "cancel_reason",
                "created_at",
                "updated_at",
                "agreement_id",
                "community_id",
                "grid_id",
                "organizer_id",
                "type_id",
            ],
        )
        part_columns = [
            "id",
            "activity_id",
            "member_id",
            "status",
            "hours",
            "checked_in_at",
            "checked_out_at",
            "leave_reason",
            "leave_decision",
            "leave_decided_by_id",
            "leave_decided_at",
            "leave_decision_note",
            "source",
            "recorded_by_id",
            "recorded_at",
            "review",
            "reviewed_by_id",
            "reviewed_at",
            "backfill_reason",
            "waitlisted_at",
        ]
        self.parts = c.table("activities_participation", part_columns)
        self.part_history = c.table(
            "activities_historicalparticipation",
            part_columns
            + [
                "history_id",
                "history_date",
                "history_change_reason",
                "history_type",
                "history_user_id",
            ],
        )
        # The office's disputes of the records it disputed (about 1 %): the reason, who raised
        # it when, and the community's answer where it has given one.
        self.disputes = c.table(
            "activities_dispute",
            [
                "id",
                "participation_id",
                "reason",
                "raised_by_id",
                "raised_at",
                "answer",
                "corrected",
                "answered_by_id",
                "answered_at",
            ],
        )
        self.doors = c.table(
            "activities_doortodoorunit",
            [
                "id",
                "building",
                "stairwell",
                "households",
                "households_reached",
                "recorded_at",
                "activity_id",
                "compound_id",
                "member_id",
                "recorded_by_id",
            ],
        )
        self.updates = c.table(
            "activities_workupdate",
            ["id", "body", "created_at", "activity_id", "author_id", "community_id"],
        )
        self.concerns = c.table(
            "activities_concern",
            [
                "id",
                "title",
                "description",
                "location",
                "state",
                "forwarded_to",
                "resolution",
                "resolved_at",
                "created_at",
                "activity_id",
                "community_id",
                "grid_id",
                "handler_id",
                "reported_by_id",
            ],
        )
        self.notes = c.table(
            "notifications_notification",
            [
                "id",
                "kind",
                "channel",
                "state",
                "unreachable_reason",
                "recipient_id",
                "recipient_key",
                "recipient_name",
                "recipient_mobile",
                "community_id",
                "agency_id",
                "content_type_id",
                "object_id",
                "slot",
                "address",
                "robot_kind",
                "robot_owner",
                "subject",
                "body",
                "url",
                "due_at",
                "attempts",
                "failure",
                "last_error",
                "enqueued_at",
                "claimed_by",
                "claimed_at",
                "sent_at",
                "read_at",
                "created_at",
                "sms_parts",
            ],
        )
        # Notifications: most about people's activities, the rest about report-ins, roll calls,
        # concerns, duty and the weekly digest.
        n = self.target["notifications"]
        expected_parts = self.target["activities"] * PARTICIPATIONS_PER_ACTIVITY
        self.p_part_note = min(1.0, 0.70 * n / expected_parts)
        self.p_roll_note = min(1.0, 0.08 * n / self.target["activities"])
        self.p_concern_note = 1.0
        self.note_budget = {"duty": round(0.05 * n), "digest": round(0.05 * n)}
        regs_share = round(0.10 * n)
        self.p_reg_note = min(1.0, regs_share / max(1, len(self.reg_notices)))
        for reg_id, person, community_id, status, reviewed_at in self.reg_notices:
            if self.rng.random() < self.p_reg_note:
                kind = (
                    Notification.Kind.REGISTRATION_RETURNED
                    if status == Registration.Status.RETURNED
                    else Notification.Kind.REGISTRATION_APPROVED
                )
                self.notify_member(
                    kind,
                    person,
                    community_id,
                    Registration,
                    reg_id,
                    "",
                    "报到审核结果",
                    "你到社区的报到已审核，请登录查看。",
                    "",
                    reviewed_at,
                )
        self.reg_notices = None

        # Activities per community: the busiest twice the mean, the others spread around it.
        total_weight = sum(self.weight.values())
        days = [
            self.first_day + dt.timedelta(days=d)
            for d in range((self.today - self.first_day).days + 15)
        ]
        day_weights = [2.2 if d.month in FLOOD_MONTHS else 1.0 for d in days]
        cumulative = []
        acc = 0.0
        for w in day_weights:
            acc += w
            cumulative.append(acc)
        for community_id in self.community_ids:
            count = round(self.target["activities"] * self.weight[community_id] / total_weight)
            chosen = sorted(self.rng.choices(days, cum_weights=cumulative, k=count))
            for day in chosen:
                self.activity(community_id, day)
        self.stage(
            "activities and attendance",
            started,
            "activities_activity",
            "activities_participation",
            "activities_historicalparticipation",
            "activities_doortodoorunit",
            "activities_workupdate",
            "activities_concern",
            "notifications_notification",
        )

    def activity_type(self, day: dt.date) -> str:
        rng = self.rng
        flood = day.month in FLOOD_MONTHS
        codes = [
            "flood_patrol",
            "gate_duty",
            "party_day",
            "door_to_door",
            "visit",
            "cleanup",
            "other",
        ]
        weights = [3.0 if flood else 0.15, 0.8, 0.9, 1.0, 1.0, 1.4, 0.3]
        if day.month == 7 and day.day == 1:
            weights[2] = 12
        return rng.choices(codes, weights)[0]

    def activity(self, community_id: int, day: dt.date):
        rng = self.rng
        code = self.activity_type(day)
        title, start, hours, mean, description = names.ACTIVITY_TEXTS[code]
        compound_id, compound = (
            rng.choice(self.compounds[community_id])
            if self.compounds[community_id]
            else (None, "小区")
        )
        title = title.format(compound=compound) + f"（{day.month}月{day.day}日）"
        starts = self.at(day, start) + dt.timedelta(minutes=30 * rng.randint(-1, 2))
        ends = starts + dt.timedelta(hours=hours)
        future = starts >= self.now
        past = ends < self.now
        status = Activity.Status.RECRUITING
        cancel_reason = ""
        r = rng.random()
        if future and r < 0.03:
            status = Activity.Status.DRAFT
        elif r < (0.06 if future else 0.02):
            status = Activity.Status.CANCELLED
            cancel_reason = rng.choice(names.CANCEL_REASONS)
        organizers = self.staff_of[community_id] + self.grid_workers[community_id]
        organizer = rng.choice(organizers) if organizers and rng.random() < 0.9 else None
        manager = organizer or (self.staff_of[community_id] or [self.admin_id])[0]
        agreement = None
        terms = [t for t in self.terms.get(community_id, ()) if t[2] <= day <= t[3]]
        if terms and rng.random() < 0.75:
            agreement = rng.choice(terms)[0]
        grids = self.grids[community_id]
        grid = rng.choice(grids) if grids and rng.random() < 0.7 else None
        activity_id = self.new_id("activities_activity")
        type_id, nature = self.types[code]
        size = 0
        if status != Activity.Status.DRAFT:
            size = max(1, round(rng.gammavariate(2.0, mean * self.size_factor / 2.0)))
        capacity = None
        if rng.random() < 0.5:
            capacity = size + rng.randint(0, 5) or 1
        created = starts - dt.timedelta(days=rng.randint(2, 14))
        people, extras = self.people_for(community_id, day, size)
        # Sign-ups hold to the capacity as the sign-up page holds them (participation_sign_up):
        # a few coming activities are full, and those drawn beyond their seats wait in line.
        # Decided by the activity's own generator, so the city's other draws stay as they were.
        full = False
        if future and status == Activity.Status.RECRUITING and people and capacity is not None:
            # The first one that can be is full, so that even a small city has a waitlist.
            full = bool(extras) and (
                not self.full_activities or random.Random(activity_id).random() < P_FULL
            )
            self.full_activities += full
            capacity = len(people) if full else max(capacity, len(people))
        self.activity_table.add(
            activity_id,
            title,
            description,
            compound,
            _ts(starts),
            _ts(ends),
            capacity,
            nature,
            status,
            rng.randint(0, 20) if code in ("party_day", "cleanup") else 0,
            cancel_reason,
            _ts(created),
            _ts(created),
            agreement,
            community_id,
            grid,
            organizer,
            type_id,
        )
        if people is None:
            return
        present = self.attendance(
            activity_id,
            community_id,
            starts,
            ends,
            future,
            past,
            status,
            manager,
            people,
            title,
            waiting_list=extras[:WAITLIST_MAX] if full else (),
        )
        if past and status != Activity.Status.CANCELLED:
            if organizer and rng.random() < self.p_roll_note:
                self.notify_staff(
                    Notification.Kind.ROLL_CALL_DUE,
                    organizer,
                    community_id,
                    Activity,
                    activity_id,
                    "roll-call",
                    f"待点名：{title}",
                    f"{title}已结束，请及时点名。",
                    self.activity_url.format(activity_id),
                    ends + dt.timedelta(hours=1),
                )
            self.after(
                activity_id, community_id, code, title, ends, manager, present, compound_id, grid
            )

    def people_for(self, community_id: int, day: dt.date, size: int) -> tuple[list, list]:
        """Who takes part in an activity of `size` on `day`: members reported in by then and
        not yet gone, drawn with a margin for the others (a boosted member now and then); and
        the rest of those drawn, who may queue for a full one."""
        rng = self.rng
        if not size:
            return None, []
        pool = self.pool.get(community_id)
        if not pool:
            return None, []
        drawn = rng.sample(pool, min(size + size // 2 + 2, len(pool)))
        people = [p for p in drawn if p.since <= day and (p.left_on is None or p.left_on > day)]
        extras = people[size:]
        del people[size:]
        for person in self.boosted.get(community_id, ()):
            if person not in people and rng.random() < 0.25:
                if person.left_on is None or person.left_on > day:
                    people.append(person)
        return people, [p for p in extras if p not in people]

    @property
    def size_factor(self) -> float:
        # Type means (names.ACTIVITY_TEXTS) average about 9.1 over the year's mix; scaled to 10.
        return PARTICIPATIONS_PER_ACTIVITY / 9.1

    def attendance(
        self,
        activity_id,
        community_id,
        starts,
        ends,
        future,
        past,
        status,
        manager,
        people,
        title,
        waiting_list=(),
    ):
        """The participations of one activity: sign-ups and leave before it, the roll call after
        it (a few still waiting for it), the agency office's review later. The hottest loop of
        the city (1.5 million rows and their history), so its rows are written as COPY text.
        A full activity (`waiting_list` given) has every seat signed up and those waiting in
        line behind, ten minutes apart."""
        rng = self.rng
        rand = rng.random
        seconds = (ends - starts).total_seconds()
        hours = str(min(Decimal(24), Decimal(seconds / 3600).quantize(Decimal("0.1"))))
        less = str(max(Decimal("0.5"), Decimal(hours) - 1))
        days_ago = (self.now - ends).days
        waiting = past and days_ago < 3 and rand() < 0.3
        cancelled = status == Activity.Status.CANCELLED
        s_starts, s_ends = _ts(starts), _ts(ends)
        roll_call_at = _ts(ends + dt.timedelta(minutes=30))
        signed_at = _ts(starts - dt.timedelta(days=2))
        old = past and days_ago > 14
        reviewed_on = [_ts(ends + dt.timedelta(days=d)) for d in range(2, 11)]
        manager = str(manager) if manager else N
        roll_call = ChangeReason.ROLL_CALL.value
        confirmed = ChangeReason.REVIEW_CONFIRMED.value
        disputed = ChangeReason.REVIEW_DISPUTED.value
        leave_reasons, backfill_reasons = names.LEAVE_REASONS, names.BACKFILL_REASONS
        offices = self.office_of
        p_note = self.p_part_note
        add_part, add_history = self.parts.add_line, self.part_history.add_line
        part_id = self.next_ids["activities_participation"]
        history_id = self.next_ids["activities_historicalparticipation"]
        before = future or waiting or cancelled
        present_people = []
        for person in people:
            r = rand()
            user = str(person.user_id) if person.user_id else N
            hours_value = checked_in = checked_out = decided_by = decided_at = N
            leave_reason = leave_decision = backfill = ""
            review, reviewed_by, reviewed_at = "unreviewed", N, N
            history_reason = N
            if before:
                # A request for leave awaiting the organizer keeps the member signed up.
                status_value = "signed_up"
                if r < 0.07 and not waiting_list:
                    leave_reason = leave_reasons[int(r * 100) % len(leave_reasons)]
                    leave_decision = "pending"
                source, recorded_by, recorded_at = "sign_up", user, signed_at
            else:
                if r < 0.86:
                    status_value = "present"
                    hours_value = hours if r > 0.04 else less
                    present_people.append(person)
                elif r < 0.93:
                    status_value = "absent"
                else:
                    # Leave asked for and decided before the roll call: approved is on leave,
                    # refused is absent (the board shows "leave not approved").
                    leave_reason = leave_reasons[int(r * 1000) % len(leave_reasons)]
                    if r < 0.99:
                        status_value, leave_decision = "leave", "approved"
                    else:
                        status_value, leave_decision = "absent", "rejected"
                    decided_by, decided_at = manager, s_starts
                s = rand()
                if s < 0.8:
                    source, recorded_at, recorded_by = "roll_call", roll_call_at, manager
                    history_reason = roll_call
                elif s < 0.97:
                    source, recorded_at, recorded_by = "qr", s_starts, user
                    if status_value == "present":
                        checked_in, checked_out = s_starts, s_ends
                else:
                    source, recorded_by = "backfill", manager
                    backfill = backfill_reasons[int(s * 1000) % len(backfill_reasons)]
                    recorded_at = reviewed_on[int(s * 1000) % 4]
                if old:
                    office = offices.get(person.agency_id)
                    v = rand()
                    if office and v < 0.71:
                        review = "confirmed" if v < 0.7 else "disputed"
                        reviewed_by = str(office)
                        reviewed_at = reviewed_on[int(v * 1000) % 9]
                        history_reason = confirmed
                        if review == "disputed":
                            history_reason = disputed
                            self.dispute(part_id, reviewed_by, v, ends, manager)
            text_line = (
                f"{part_id}\t{activity_id}\t{person.id}\t{status_value}\t{hours_value}\t"
                f"{checked_in}\t{checked_out}\t{leave_reason}\t{leave_decision}\t{decided_by}\t"
                f"{decided_at}\t\t{source}\t{recorded_by}\t{recorded_at}\t{review}\t{reviewed_by}\t"
                f"{reviewed_at}\t{backfill}\t{N}"
            )
            add_part(text_line + "\n")
            # Its history as the pages show it: the row as it stands, written when it was last
            # changed (reviewed, else recorded), by whoever changed it.
            if reviewed_at != N:
                add_history(
                    f"{text_line}\t{history_id}\t{reviewed_at}\t{history_reason}\t+\t{reviewed_by}\n"
                )
            else:
                add_history(
                    f"{text_line}\t{history_id}\t{recorded_at}\t{history_reason}\t+\t{recorded_by}\n"
                )
            if rand() < p_note:
                self.participation_note(
                    activity_id,
                    part_id,
                    community_id,
                    person,
                    status_value,
                    leave_decision,
                    cancelled,
                    starts,
                    title,
                )
            part_id += 1
            history_id += 1
        for n, person in enumerate(waiting_list, start=1):
            user = str(person.user_id) if person.user_id else N
            queued = _ts(starts - dt.timedelta(days=2) + dt.timedelta(minutes=10 * n))
            text_line = (
                f"{part_id}\t{activity_id}\t{person.id}\twaitlisted\t{N}\t{N}\t{N}\t\t\t{N}\t"
                f"{N}\t\tsign_up\t{user}\t{queued}\tunreviewed\t{N}\t{N}\t\t{queued}"
            )
            add_part(text_line + "\n")
            add_history(
                f"{text_line}\t{history_id}\t{queued}\t{ChangeReason.WAITLISTED.value}\t+\t{user}\n"
            )
            part_id += 1
            history_id += 1
        self.next_ids["activities_participation"] = part_id
        self.next_ids["activities_historicalparticipation"] = history_id
        return present_people

    def dispute(self, part_id, office, v, ends, manager):
        """The office's dispute of a record it marked disputed, raised when it reviewed it (a
        few days after the activity); the community answered half of them (the record as it
        was, without a correction) two days later, where the activity has a manager to answer."""
        index = int(v * 100_000)
        raised = ends + dt.timedelta(days=2 + int(v * 1000) % 9)  # the record's reviewed_at
        reason = names.DISPUTE_REASONS[index % len(names.DISPUTE_REASONS)]
        answer, answered_by, answered_at = "", N, N
        if manager != N and index % 2:
            answer = names.DISPUTE_ANSWERS[index % len(names.DISPUTE_ANSWERS)]
            answered_by = manager
            # reviewed_on runs from 2 to 10 days after the activity: two days after the
            # dispute, the answer is still more than 14 days after it, in the past.
            answered_at = _ts(raised + dt.timedelta(days=2))
        self.disputes.add_line(
            f"{self.new_id('activities_dispute')}\t{part_id}\t{reason}\t{office}\t{_ts(raised)}\t"
            f"{answer}\tf\t{answered_by}\t{answered_at}\n"
        )

    def participation_note(
        self, activity_id, part_id, community_id, person, status, decision, cancelled, starts, title
    ):
        url = self.activity_url.format(activity_id)
        when = f"{starts.month}月{starts.day}日 {starts:%H:%M}"
        if cancelled:
            self.notify_member(
                Notification.Kind.ACTIVITY_CANCELLED,
                person,
                community_id,
                Activity,
                activity_id,
                "cancelled",
                f"活动取消：{title}",
                f"{when}的{title}已取消。",
                url,
                starts - dt.timedelta(days=1),
            )
        elif status == "leave" and decision in ("approved", "rejected"):
            said = "已批准" if decision == "approved" else "未批准"
            self.notify_member(
                Notification.Kind.LEAVE_DECIDED,
                person,
                community_id,
                Participation,
                part_id,
                decision,
                f"请假{said}：{title}",
                f"你在{when}{title}的请假{said}。",
                url,
                starts,
            )
        elif self.rng.random() < 0.1:
            self.notify_member(
                Notification.Kind.ACTIVITY_CHANGED,
                person,
                community_id,
                Activity,
                activity_id,
                f"{starts:%Y%m%d}090000000000",
                f"活动有变更：{title}",
                f"{title}的时间或地点有变更，请查看。",
                url,
                starts - dt.timedelta(days=1),
            )
        else:
            self.notify_member(
                Notification.Kind.UPCOMING,
                person,
                community_id,
                Activity,
                activity_id,
                "24h",
                f"活动提醒：{title}",
                f"{title}将于{when}开始，请准时参加。",
                url,
                starts - dt.timedelta(hours=24),
            )

    def after(
        self, activity_id, community_id, code, title, ends, manager, present, compound_id, grid
    ):
        """What came of a finished activity: door units recorded, a work update, a concern."""
        rng = self.rng
        if code == "door_to_door" and compound_id:
            for n in range(rng.randint(3, 10)):
                households = rng.randint(12, 30)
                member = present[n % len(present)] if present else None
                reached = households if rng.random() < 0.8 else rng.randint(0, households)
                self.doors.add(
                    self.new_id("activities_doortodoorunit"),
                    str(n // 2 + 1),
                    str(n % 2 + 1),
                    households,
                    reached if member else 0,
                    _ts(ends + dt.timedelta(hours=1)) if member else None,
                    activity_id,
                    compound_id,
                    member.id if member else None,
                    ((member.user_id or manager) if member else None),
                )
        if rng.random() < 0.2:
            authors = [p.user_id for p in present if p.user_id]
            author = rng.choice(authors) if authors and rng.random() < 0.4 else manager
            body = rng.choice(names.WORK_UPDATES).format(title=title, count=len(present))
            self.updates.add(
                self.new_id("activities_workupdate"),
                body,
                _ts(ends + dt.timedelta(hours=1)),
                activity_id,
                author,
                community_id,
            )
        if rng.random() < 0.08:
            concern_title, description, office = rng.choice(names.CONCERNS)
            raised = ends - dt.timedelta(minutes=20)
            state = rng.choices(["open", "forwarded", "resolved"], [0.2, 0.25, 0.55])[0]
            if (self.now - raised).days < 2:
                state = "open"
            handler = (self.staff_of[community_id] or [self.admin_id])[0]
            concern_id = self.new_id("activities_concern")
            reporters = [p.user_id for p in present if p.user_id]
            reporter = rng.choice(reporters) if reporters and rng.random() < 0.3 else manager
            resolved_at = raised + dt.timedelta(days=rng.randint(1, 10))
            self.concerns.add(
                concern_id,
                concern_title,
                description,
                title[:100],
                state,
                office if state != "open" else "",
                rng.choice(names.RESOLUTIONS) if state == "resolved" else "",
                _ts(resolved_at) if state == "resolved" else None,
                _ts(raised),
                activity_id,
                community_id,
                grid,
                handler if state != "open" else None,
                reporter,
            )
            if handler != reporter:
                self.notify_staff(
                    Notification.Kind.CONCERN_RAISED,
                    handler,
                    community_id,
                    Concern,
                    concern_id,
                    "raised",
                    f"新的民情：{concern_title}",
                    description,
                    self.concern_url.format(concern_id),
                    raised,
                )

    # -- the outbox ---------------------------------------------------------------------------

    def outcome(self, channel: str, due: dt.datetime):
        """State, attempts, failure, detail, enqueued, claimed by, claimed at, sent at, read at."""
        rng = self.rng
        if due >= self.now:
            return "pending", 0, "", "", None, "", None, None, None
        r = rng.random()
        sent = due + dt.timedelta(seconds=rng.randint(5, 180))
        if r < 0.03:
            failure, detail = (
                ("robot_timeout", "ReadTimeout: robot.example.com read timed out (10 s)")
                if channel == "webhook"
                else ("mail_refused", "SMTPRecipientsRefused: 550 mailbox unavailable")
                if channel == "email"
                else ("other", "")
            )
            if channel == "inapp":
                return "sent", 1, "", "", _ts(sent), "", None, _ts(sent), None
            return "failed", 3, failure, detail, _ts(sent), "", None, None, None
        if (self.now - due).days < 14 and (self.sending_left > 0 or r < 0.05):
            # A few in the hands of a worker right now, whatever the scale.
            self.sending_left -= 1
            return "sending", 1, "", "", _ts(sent), "celery@worker-1", _ts(sent), None, None
        read = None
        if channel == "inapp" and rng.random() < 0.75:
            read = _ts(sent + dt.timedelta(hours=rng.randint(1, 48)))
        return "sent", 1, "", "", _ts(sent), "", None, _ts(sent), read

    def note(
        self,
        kind,
        channel,
        reason,
        user_id,
        key,
        name,
        mobile,
        community_id,
        agency_id,
        model,
        object_id,
        slot,
        robot,
        owner,
        subject,
        body,
        url,
        due,
    ):
        rng = self.rng
        created = due - dt.timedelta(minutes=rng.randint(0, 30))
        if channel == "none":
            state, attempts, failure, detail, enqueued, claimed_by, claimed_at, sent, read = (
                "unreachable",
                0,
                "",
                "",
                None,
                "",
                None,
                None,
                None,
            )
        else:
            state, attempts, failure, detail, enqueued, claimed_by, claimed_at, sent, read = (
                self.outcome(channel, due)
            )
        address = ""
        if channel == "email" and state != "pending":
            address = self.user_emails.get(user_id, "")
        elif channel == "webhook" and state != "pending":
            address = robot[0]
        elif channel == "sms":
            address = mobile
        self.notes.add(
            self.new_id("notifications_notification"),
            kind,
            channel,
            state,
            reason,
            user_id,
            key,
            name[:100],
            mobile,
            community_id,
            agency_id,
            self.content_types[model],
            object_id,
            slot,
            address,
            robot[1] if channel == "webhook" else "",
            owner if channel == "webhook" else "",
            subject[:200],
            body,
            url,
            _ts(due),
            attempts,
            failure,
            detail,
            enqueued,
            claimed_by,
            claimed_at,
            sent,
            read,
            _ts(created),
            # A text message sent was billed one part (the seeded texts are short).
            1 if channel == "sms" and state == "sent" else None,
        )

    def notify_member(
        self, kind, person, community_id, model, object_id, slot, subject, body, url, due
    ):
        """As notify() queues it for a member: their login's channel, else the group robot that
        can mention their mobile, else one unreachable row saying why."""
        rng = self.rng
        robot, owner = self.robots.get(("c", community_id)), "community"
        if robot is None:
            robot, owner = self.robots.get(("a", person.agency_id)), "agency"
        reason = ""
        if person.user_id:
            key = f"u{person.user_id}"
            r = rng.random()
            if r < 0.6:
                channel = "inapp"
            elif r < 0.62 and person.mobile:
                # The few who chose text messages (notifications.sms).
                channel = "sms"
            elif r < 0.85 and person.user_id in self.user_emails:
                channel = "email"
            elif robot:
                channel = "webhook"
            else:
                channel = "inapp"
        else:
            key = f"m{person.id}"
            channel = "webhook" if robot else "none"
            reason = "" if robot else "no_login"
        self.note(
            kind,
            channel,
            reason,
            person.user_id,
            key,
            person.name,
            person.mobile,
            community_id,
            person.agency_id,
            model,
            object_id,
            slot,
            robot,
            owner,
            subject,
            body,
            url,
            due,
        )

    def notify_staff(
        self, kind, user_id, community_id, model, object_id, slot, subject, body, url, due
    ):
        channel = "email" if user_id in self.user_emails and self.rng.random() < 0.3 else "inapp"
        self.note(
            kind,
            channel,
            "",
            user_id,
            f"u{user_id}",
            self.user_names.get(user_id, ""),
            "",
            community_id,
            None,
            model,
            object_id,
            slot,
            None,
            "",
            subject,
            body,
            url,
            due,
        )

    # -- the duty rota and the weekly digest --------------------------------------------------

    def duty(self):
        """The rota of each agreement in force: its quota of the agency's members reported in to
        the community, in turn, from a month ago to two weeks ahead."""
        started = time.monotonic()
        table = self.copy.table(
            "activities_dutyassignment", ["id", "date", "note", "agreement_id", "member_id"]
        )
        days = [self.today + dt.timedelta(days=d) for d in range(-30, 15)]
        notes = []
        for agreement_id, agency_id, community_id, quota in self.in_force:
            rota = [
                p for p in self.liaison_of.get((agency_id, community_id), ()) if p.left_on is None
            ]
            if not rota:
                continue
            quota = min(quota, len(rota))
            seat = self.rng.randrange(len(rota))
            for day in days:
                for _ in range(quota):
                    person = rota[seat % len(rota)]
                    seat += 1
                    duty_id = self.new_id("activities_dutyassignment")
                    table.add(duty_id, day, "", agreement_id, person.id)
                    notes.append((duty_id, person, community_id, day))
        budget = self.note_budget["duty"]
        if notes and budget:
            for duty_id, person, community_id, day in self.rng.sample(
                notes, min(budget, len(notes))
            ):
                self.notify_member(
                    Notification.Kind.DUTY_ROSTER,
                    person,
                    community_id,
                    DutyAssignment,
                    duty_id,
                    "",
                    "明日值班提醒",
                    f"你{day.month}月{day.day}日在社区值班，请准时到岗。",
                    "",
                    self.at(day - dt.timedelta(days=1), "18:00"),
                )
        self.stage("duty rota", started, "activities_dutyassignment")

    def digests(self):
        """The weekly digest each agency office received, Monday mornings, latest weeks first."""
        started = time.monotonic()
        budget = self.note_budget["digest"]
        monday = self.today - dt.timedelta(days=self.today.weekday())
        week = 0
        while budget > 0 and week < 260:
            day = monday - dt.timedelta(weeks=week)
            year, number, _ = day.isocalendar()
            for agency_id in self.agency_order:
                if budget <= 0:
                    break
                office = self.office_of.get(agency_id)
                if office is None:
                    continue
                self.notify_staff(
                    Notification.Kind.AGENCY_DIGEST,
                    office,
                    None,
                    Agency,
                    agency_id,
                    f"{year}-W{number:02d}",
                    "本周下沉工作周报",
                    "本周单位下沉党员参加活动情况，请查看。",
                    "",
                    self.at(day, "08:00"),
                )
                budget -= 1
            week += 1
        self.stage("notifications", started, "notifications_notification")

    @property
    def boosted(self):
        """Demo logins in each community's pool: they take part often, so their pages are full."""
        if not hasattr(self, "_boosted"):
            self._boosted = {cid: [p for p in pool if p.boost] for cid, pool in self.pool.items()}
        return self._boosted


def _three_years(start: dt.date) -> dt.date:
    try:
        return dt.date(start.year + 3, start.month, start.day) - dt.timedelta(days=1)
    except ValueError:  # 29 February
        return dt.date(start.year + 3, 3, 1) - dt.timedelta(days=1)
