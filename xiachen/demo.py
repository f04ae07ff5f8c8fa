"""Demo data (`manage.py load_demo`): the article's Yichang, with invented people.

Streets, communities, compounds and public bodies come from the source article
(shared/reference); every person, mobile number and account is invented.

The story is dated from an *anchor*, 30 June of the agreement year: the agreement is signed that
day, the theme party day is held that morning and the article's activities follow in July. Other
activities are dated from `today` (yesterday's roll call still to do, next week's sign-ups), so
the demo looks current whenever it is loaded.

Figures the demo reproduces (tests/test_demo.py checks them):

- 16 activities with at least one *present* participation of a 三峡旅游新区管委会 member;
- 70 active report-ins (registrations) to 胜利一路社区 of members of other agencies: 30 of
  市民宗委 and 40 of 市园林和林业局 who live there (居住地社区, 双报到), one row per member;
- the 30 June theme party day: 15 members present and 28 resident volunteers, 43 in all.

The 30 June agreement has a duty roster (排班): one 三峡 member a day, its quota, from a week
before the first load's `today` to two weeks after it, the sanxia_member login on tomorrow.

Loading is idempotent: every row is looked up by a natural key and created only when missing;
existing rows are never changed, so a second run, even on a later day, creates nothing.
"""

import random
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from simple_history.utils import bulk_create_with_history

from activities.models import (
    Activity,
    ActivityType,
    Concern,
    DutyAssignment,
    Participation,
    WorkUpdate,
)
from communities.models import Agency, Agreement, Community, Compound, Grid, StaffRole, Street
from members.models import Member, Registration

DEMO_PASSWORD = "xiachen-demo"
NAME_SEED = 20200630

# Real people named in the source article. Demo names are invented and never one of these.
ARTICLE_NAMES = frozenset({"李建喜", "许刚", "龙一姣", "王凌云", "朱晶晶", "龙小兵", "乔奇"})

# The story runs from 30 June to 23 July; it must be over before the activities of "yesterday".
STORY_DAYS = 26

SHENGLI, JIANSHE, DONGSHAN, SHENZHEN = "胜利一路社区", "建设社区", "东山花园社区", "深圳路社区"
SANXIA, MINZONG, YUANLIN = "三峡旅游新区管委会", "市民宗委", "市园林和林业局"

# street -> community -> (compounds, grids as (name, area))
PLACES = {
    "万寿桥街道": {
        SHENGLI: (
            ["紫林苑", "万寿小区"],
            [
                ("紫林苑网格", "紫林苑小区"),
                ("万寿小区网格", "万寿小区"),
                ("胜利一路沿街网格", "胜利一路沿街楼栋及门店"),
            ],
        ),
        JIANSHE: (
            ["建设花园", "铁路新村"],
            [("建设花园网格", "建设花园小区"), ("铁路新村网格", "铁路新村及铁路沿线楼栋")],
        ),
    },
    "东苑街道": {
        DONGSHAN: (
            ["东山花园小区", "东山苑"],
            [("东山花园网格", "东山花园小区"), ("东山苑网格", "东山苑")],
        ),
        SHENZHEN: (
            ["翰林苑小区", "锦绣苑"],
            [("翰林苑网格", "翰林苑小区"), ("锦绣苑网格", "锦绣苑")],
        ),
    },
}

# name, short name, digit in its members' mobiles, paired community, party branches
AGENCIES = [
    (SANXIA, "三峡旅游新区", 1, SHENGLI, ["机关第一党支部", "机关第二党支部"]),
    (MINZONG, "民宗委", 2, JIANSHE, ["机关党支部"]),
    (YUANLIN, "园林局", 3, DONGSHAN, ["机关第一党支部", "机关第二党支部", "林业站党支部"]),
]
PREFIX = {SANXIA: "sanxia", MINZONG: "minzong", YUANLIN: "yuanlin"}  # of member keys
AGENCY_OF_PREFIX = {prefix: agency for agency, prefix in PREFIX.items()}
OFFICE_OF = {SANXIA: "sanxia_office", YUANLIN: "yuanlin_office"}
STAFF_OF = {SHENGLI: "shengli_staff", SHENZHEN: "shenzhen_staff"}
PLACES_BY_COMMUNITY = {c: v for communities in PLACES.values() for c, v in communities.items()}


@dataclass(frozen=True)
class Account:
    username: str
    first_name: str
    role: str
    scope: str
    kind: str | None = None
    street: str | None = None
    community: str | None = None
    grid: str | None = None
    agency: str | None = None
    member: str | None = None  # key of the member this login belongs to


ACCOUNTS = (
    Account("admin", "何立群", "市级管理员", "全市", StaffRole.Kind.CITY_ADMIN),
    Account(
        "wanshouqiao_street", "邓文静", "街道工作人员", "万寿桥街道",
        StaffRole.Kind.STREET_OFFICER, street="万寿桥街道",
    ),
    Account(
        "dongyuan_street", "曾庆华", "街道工作人员", "东苑街道",
        StaffRole.Kind.STREET_OFFICER, street="东苑街道",
    ),
    Account(
        "shengli_staff", "彭晓梅", "社区工作人员", SHENGLI,
        StaffRole.Kind.COMMUNITY_STAFF, community=SHENGLI,
    ),
    Account(
        "shenzhen_staff", "罗春燕", "社区工作人员", SHENZHEN,
        StaffRole.Kind.COMMUNITY_STAFF, community=SHENZHEN,
    ),
    Account(
        "shengli_grid", "谭小芸", "网格员", f"{SHENGLI} · 紫林苑网格",
        StaffRole.Kind.GRID_WORKER, community=SHENGLI, grid="紫林苑网格",
    ),
    Account(
        "shenzhen_grid", "熊佳怡", "网格员", f"{SHENZHEN} · 翰林苑网格",
        StaffRole.Kind.GRID_WORKER, community=SHENZHEN, grid="翰林苑网格",
    ),
    Account(
        "sanxia_office", "付志强", "单位党组织", SANXIA,
        StaffRole.Kind.AGENCY_OFFICE, agency=SANXIA,
    ),
    Account(
        "yuanlin_office", "向丽萍", "单位党组织", YUANLIN,
        StaffRole.Kind.AGENCY_OFFICE, agency=YUANLIN,
    ),
    Account("sanxia_member", "", "下沉党员", SANXIA, member="sanxia-00"),
    Account("yuanlin_member", "", "下沉党员", YUANLIN, member="yuanlin-00"),
)  # fmt: skip

# (username, role, scope) for the README and `runlocal`; the password is DEMO_PASSWORD.
DEMO_ACCOUNTS = tuple((a.username, a.role, a.scope) for a in ACCOUNTS)

# (agency, community, number, days after the anchor it was signed or None for a draft,
#  agency contact account, community contact account, commitments)
AGREEMENTS = [
    (
        SANXIA, SHENGLI, 1, 0, "sanxia_office", "shengli_staff",
        "一、三峡旅游新区管委会每天安排一名党员或干部下沉胜利一路社区，参与社区常态化管理和服务工作。\n"
        "二、汛期参与沿江防汛巡逻，劝导群众注意安全；需要时参与小区门岗值守。\n"
        "三、与社区各支部联合开展主题党日活动，走访慰问辖区困难党员和群众。\n"
        "四、胜利一路社区负责安排下沉党员的网格和任务，记录考勤，每月向管委会反馈。",
    ),
    (
        MINZONG, JIANSHE, 2, 2, None, None,
        "市民宗委党员干部职工与建设社区结对子，下沉社区长期服务：每天安排一名党员或干部到社区"
        "参与工作；配合文明创建和爱国卫生运动，定期开展铁路沿线白色垃圾清理等志愿服务。"
        "建设社区负责安排任务并记录考勤。",
    ),
    (
        YUANLIN, DONGSHAN, 3, 1, "yuanlin_office", None,
        "市园林和林业局党员干部与东山花园社区结对子：每天安排一名党员或干部下沉社区；"
        "在社区开展主题党日活动，参与社区日常清洁卫生和绿化养护。"
        "东山花园社区负责安排任务并记录考勤。",
    ),
    (
        YUANLIN, SHENZHEN, 4, None, "yuanlin_office", "shenzhen_staff",
        "市园林和林业局与深圳路社区共驻共建：每天安排一名党员或干部下沉，参与翰林苑小区入户宣传、"
        "垃圾分类和养犬登记等工作。深圳路社区负责安排任务并记录考勤。",
    ),
]  # fmt: skip

# Tomorrow's gate duty, to which the sanxia_member login has signed up; its day also dates the
# duty roster, so that a later load finds the first load's roster complete.
TOMORROWS_GATE_DUTY = "紫林苑门岗值守"
# Days of the roster around the first load's today.
ROSTER_DAYS = range(-7, 15)

# Each agency's members in order: (what they are, how many). Indexes follow this order, so
# 三峡 member 0 is the sanxia_member login and 园林局 member 0 the yuanlin_member login.
LAYOUT = {
    SANXIA: [("liaison", 20), ("newcomer", 1), ("left", 1)],
    MINZONG: [
        ("shengli_resident", 30), ("shenzhen_resident", 6), ("shengli_pending", 1),
        ("liaison", 4), ("left", 1),
    ],
    YUANLIN: [
        ("shenzhen_resident", 8), ("shengli_resident", 40), ("shengli_pending", 1),
        ("shengli_returned", 1), ("shenzhen_pending", 1), ("liaison", 9), ("left", 1),
    ],
}  # fmt: skip

SURNAMES = (
    "王李张刘陈杨黄赵周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯董程曹袁邓傅沈曾彭吕苏卢蒋蔡"
    "贾丁魏薛叶余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟万段"
    "雷钱汤尹黎易常武贺赖龚文向覃"
)
GIVEN_FIRST = (
    "建志文海春晓丽俊明国德红秀玉静雪思子宇佳欣雨家立永新嘉慧婷梦浩博天鹏振晨泽安兰云雅清卫"
)
GIVEN_SECOND = "华军平强芳敏杰涛磊洋勇艳娟霞琳颖怡萍辉宁峰超琴莉燕蕾航凯彤帆源然晖斌鑫婕瑶"
POSITIONS = (
    "科员", "一级科员", "四级主任科员", "二级主任科员", "副科长", "科长", "办公室副主任",
    "综合科科员", "党建办科员", "财务科科员",
)  # fmt: skip
SKILLS = ("", "", "", "急救培训", "摄影", "驾驶", "法律咨询", "电脑维修", "书法", "心理咨询")


def anchor_for(today: date) -> date:
    """30 June of the agreement year: the most recent 30 June on or before `today`, or the one
    a year earlier while the July story after it would not yet be over by yesterday."""
    anchor = date(today.year, 6, 30)
    if anchor > today - timedelta(days=STORY_DAYS):
        anchor = date(today.year - 1, 6, 30)
    return anchor


def _three_years(start: date) -> date:
    return date(start.year + 3, start.month, start.day) - timedelta(days=1)


def _names(count: int) -> list[str]:
    rng = random.Random(NAME_SEED)
    taken = set(ARTICLE_NAMES) | {a.first_name for a in ACCOUNTS}
    names = []
    while len(names) < count:
        name = rng.choice(SURNAMES) + rng.choice(GIVEN_FIRST) + rng.choice(GIVEN_SECOND)
        if name not in taken:
            taken.add(name)
            names.append(name)
    return names


@dataclass
class RegistrationPlan:
    community: str
    kind: str
    status: str
    applied_on: date
    grid: str | None = None
    reviewer: str | None = None
    reviewed_on: date | None = None
    return_reason: str = ""
    ended_on: date | None = None


@dataclass
class MemberPlan:
    key: str
    agency: str
    name: str
    mobile: str
    position: str
    party_branch: str
    is_party_member: bool
    residence: str | None
    skills: str
    left_on: date | None
    registrations: list


@dataclass
class ActivityPlan:
    community: str
    title: str
    type: str
    nature: str
    day: date
    start: str
    end: str
    place: str
    grid: str | None = None
    organizer: str | None = None
    agreement: str | None = None  # the agency whose agreement with the community it counts for
    capacity: int | None = None
    resident_volunteers: int = 0
    status: str = Activity.Status.FINISHED
    description: str = ""
    cancel_reason: str = ""
    present: tuple = ()
    absent: tuple = ()
    leave: tuple = ()  # (member key, reason); past: approved, upcoming: awaiting a decision
    signed_up: tuple = ()
    confirmed: bool = False  # reviewed by the member's agency office, where it has one


def _grid_cycle(community: str, i: int) -> str:
    grids = PLACES_BY_COMMUNITY[community][1]
    return grids[i % len(grids)][0]


def member_plans(anchor: date, today: date) -> list[MemberPlan]:
    total = sum(n for layout in LAYOUT.values() for _, n in layout)
    names = iter(_names(total))
    rng = random.Random(NAME_SEED + 1)
    plans = []
    for agency, short, digit, paired, branches in AGENCIES:
        kinds = [kind for kind, n in LAYOUT[agency] for _ in range(n)]
        for i, what in enumerate(kinds):
            party = i % 7 != 6
            left_on = anchor + timedelta(days=20 if agency == SANXIA else 10)
            left_on = left_on if what == "left" else None
            # Members reported in during June, after the city's notice at the end of May.
            applied = anchor - timedelta(days=25 - i % 20)
            liaison = RegistrationPlan(
                paired,
                Registration.Kind.LIAISON,
                Registration.Status.ACTIVE,
                applied,
                grid=_grid_cycle(paired, i),
                reviewer=STAFF_OF.get(paired),
                reviewed_on=applied + timedelta(days=1),
            )
            if what == "newcomer":
                liaison.status = Registration.Status.PENDING
                liaison.applied_on = today - timedelta(days=1)
                liaison.grid = liaison.reviewer = liaison.reviewed_on = None
            elif what == "left":
                liaison.status = Registration.Status.REVOKED
                liaison.ended_on = left_on
            registrations = [liaison]
            residence = None
            if what.startswith(("shengli_", "shenzhen_")):
                community = SHENGLI if what.startswith("shengli_") else SHENZHEN
                residence = community
                home = RegistrationPlan(
                    community,
                    Registration.Kind.RESIDENCE,
                    Registration.Status.ACTIVE,
                    anchor - timedelta(days=20 - i % 15),
                    grid=_grid_cycle(community, i),
                    reviewer=STAFF_OF[community],
                )
                home.reviewed_on = home.applied_on + timedelta(days=1)
                if what.endswith("_pending"):
                    home.status = Registration.Status.PENDING
                    home.applied_on = today - timedelta(days=2 + i % 3)
                    home.grid = home.reviewer = home.reviewed_on = None
                elif what.endswith("_returned"):
                    residence = DONGSHAN
                    home.status = Registration.Status.RETURNED
                    home.applied_on = today - timedelta(days=8)
                    home.reviewed_on = today - timedelta(days=6)
                    home.grid = None
                    home.return_reason = (
                        "经核实，该同志居住在东山花园社区，请向实际居住地社区报到。"
                    )
                registrations.append(home)
            plans.append(
                MemberPlan(
                    key=f"{PREFIX[agency]}-{i:02d}",
                    agency=agency,
                    name=next(names),
                    mobile=f"13900{digit}{i:05d}",
                    position=rng.choice(POSITIONS),
                    party_branch=f"{short}{branches[i % len(branches)]}" if party else "",
                    is_party_member=party,
                    residence=residence,
                    skills=rng.choice(SKILLS),
                    left_on=left_on,
                    registrations=registrations,
                )
            )
    return plans


def _dated(title: str, day: date) -> str:
    return f"{title}（{day.month}月{day.day}日）"


def _sx(*indexes):
    return tuple(f"sanxia-{i:02d}" for i in indexes)


def _mz(*indexes):
    return tuple(f"minzong-{i:02d}" for i in indexes)


def _yl(*indexes):
    return tuple(f"yuanlin-{i:02d}" for i in indexes)


def activity_plans(anchor: date, today: date) -> list[ActivityPlan]:
    """The article's activities from the anchor, then yesterday's and next week's."""
    Code, Nature = ActivityType.Code, Activity.Nature

    def on(days):
        return anchor + timedelta(days=days)

    def dated(title, days):
        return _dated(title, on(days))

    plans = [
        ActivityPlan(
            SHENGLI, "“干干净净迎七一，我是党员我奉献”主题党日", Code.PARTY_DAY, Nature.VOLUNTEER,
            on(0), "08:30", "11:30", "万寿小区", grid="万寿小区网格", organizer="shengli_staff",
            agreement=SANXIA, resident_volunteers=28, confirmed=True,
            description=(
                "三峡旅游新区下沉党员干部随万寿小区党支部，与社区各支部党员骨干、居民志愿者一起"
                "对万寿小区环境卫生进行大清扫：卫生死角、花坛白漂、垃圾桶边杂物、野广告，"
                "以及汛情过后的淤泥和渣土。"
            ),
            present=_sx(*range(13)) + _yl(8, 9), absent=_sx(15),
            leave=((_sx(14)[0], "在外地出差，已向社区报备"),),
        ),
    ]  # fmt: skip
    groups = ["一", "二", "三", "四", "五"]
    group_places = [
        ("紫林苑", "紫林苑网格"),
        ("万寿小区", "万寿小区网格"),
        ("胜利一路沿街楼栋", "胜利一路沿街网格"),
        ("紫林苑", "紫林苑网格"),
        ("万寿小区", "万寿小区网格"),
    ]
    pairs = [(0, 16), (2, 17), (4, 18), (6, 19), (8, 10)]
    for group, (place, grid), pair in zip(groups, group_places, pairs, strict=True):
        plans.append(
            ActivityPlan(
                SHENGLI, f"走访慰问困难党员（第{group}组）", Code.VISIT, Nature.VOLUNTEER,
                on(1), "14:30", "17:00", place, grid=grid, organizer="shengli_staff",
                agreement=SANXIA, capacity=3, confirmed=True,
                description="与社区工作人员一起走访慰问辖区困难党员及疫情期间表现突出的党员。",
                present=_sx(*pair),
            )
        )  # fmt: skip
    patrols = [
        (3, (1,)),
        (6, (3, 0)),
        (8, (5,)),
        (11, (7,)),
        (14, (9, 0)),
        (17, (11,)),
        (20, (13,)),
    ]
    for days, who in patrols:
        plans.append(
            ActivityPlan(
                SHENGLI, dated("沿江防汛巡逻", days), Code.FLOOD_PATROL, Nature.DUTY,
                on(days), "19:00", "21:30", "长江沿岸滨江步道（紫林苑段至万寿桥段）",
                grid="紫林苑网格", organizer="shengli_grid", agreement=SANXIA, capacity=2,
                confirmed=days <= 14, present=_sx(*who),
                description="和社区巡逻队一道在长江边防汛巡逻，劝导群众注意安全。",
            )
        )  # fmt: skip
    plans += [
        ActivityPlan(
            SHENGLI, dated("紫林苑门岗值守", 4), Code.GATE_DUTY, Nature.DUTY, on(4),
            "08:00", "12:00", "紫林苑小区大门", grid="紫林苑网格", organizer="shengli_grid",
            agreement=SANXIA, capacity=1, confirmed=True, present=_sx(15),
            leave=((_sx(12)[0], "单位临时召开会议"),),
        ),
        ActivityPlan(
            SHENGLI, dated("万寿小区门岗值守", 12), Code.GATE_DUTY, Nature.DUTY, on(12),
            "08:00", "12:00", "万寿小区大门", grid="万寿小区网格", organizer="shengli_staff",
            agreement=SANXIA, capacity=1, confirmed=True, present=_sx(17),
        ),
        ActivityPlan(
            SHENGLI, dated("紫林苑门岗值守", 21), Code.GATE_DUTY, Nature.DUTY, on(21),
            "08:00", "12:00", "紫林苑小区大门", grid="紫林苑网格", organizer="shengli_grid",
            agreement=SANXIA, capacity=1, present=_sx(19), absent=_sx(14),
        ),
        ActivityPlan(
            SHENGLI, dated("沿江防汛巡逻", 22), Code.FLOOD_PATROL, Nature.DUTY, on(22),
            "19:00", "21:30", "长江沿岸滨江步道（紫林苑段至万寿桥段）", grid="紫林苑网格",
            organizer="shengli_grid", agreement=SANXIA, capacity=2,
            status=Activity.Status.CANCELLED, cancel_reason="当晚并入万寿桥街道联合巡逻",
        ),
        # Nobody came: one on approved leave, one absent. Not one of the 16.
        ActivityPlan(
            SHENGLI, dated("沿江防汛巡逻", 23), Code.FLOOD_PATROL, Nature.DUTY, on(23),
            "19:00", "21:30", "长江沿岸滨江步道（紫林苑段至万寿桥段）", grid="紫林苑网格",
            organizer="shengli_grid", agreement=SANXIA, capacity=2, absent=_sx(5),
            leave=((_sx(0)[0], "家中老人住院，需要陪护"),),
        ),
        ActivityPlan(
            JIANSHE, "清理铁路沿线白色垃圾", Code.CLEANUP, Nature.VOLUNTEER, on(16),
            "08:30", "11:00", "建设社区铁路沿线", grid="铁路新村网格", agreement=MINZONG,
            resident_volunteers=5,
            description="配合文明创建和爱国卫生运动，清理铁路沿线的白色垃圾。",
            present=_mz(*range(12)), absent=_mz(13), leave=((_mz(12)[0], "单位值班"),),
        ),
        ActivityPlan(
            DONGSHAN, "园林局党员走进东山花园社区主题党日", Code.PARTY_DAY, Nature.VOLUNTEER,
            on(1), "09:00", "11:00", "东山花园小区", grid="东山花园网格", agreement=YUANLIN,
            resident_volunteers=6, confirmed=True, present=_yl(*range(10)),
        ),
        ActivityPlan(
            DONGSHAN, dated("东山花园环境卫生大清扫", 8), Code.CLEANUP, Nature.VOLUNTEER,
            on(8), "08:30", "11:00", "东山花园小区", grid="东山花园网格", agreement=YUANLIN,
            confirmed=True, present=_yl(*range(10, 18)),
            leave=((_yl(18)[0], "外业调查未返回"),),
        ),
        ActivityPlan(
            DONGSHAN, dated("东山苑绿化带清理", 15), Code.CLEANUP, Nature.VOLUNTEER, on(15),
            "08:30", "11:00", "东山苑", grid="东山苑网格", agreement=YUANLIN,
            present=_yl(*range(19, 25)), absent=_yl(25),
        ),
        ActivityPlan(
            SHENZHEN, "入户宣传垃圾分类、文明创建和养犬登记", Code.DOOR_TO_DOOR,
            Nature.VOLUNTEER, on(17), "09:00", "12:00", "翰林苑小区", grid="翰林苑网格",
            organizer="shenzhen_grid", confirmed=True,
            description=(
                "到社区报到的党员每人负责一个单元或楼栋，把宣传册送到每家每户并现场答疑，"
                "做到一户不落。"
            ),
            present=_yl(*range(7)) + _mz(*range(30, 36)), leave=((_yl(7)[0], "孩子生病"),),
        ),
    ]  # fmt: skip

    def rel(days):
        return today + timedelta(days=days)

    recruiting = Activity.Status.RECRUITING
    plans += [
        # Ended yesterday; the sign-ups still wait for roll call (待点名).
        ActivityPlan(
            SHENGLI, "紫林苑楼道堆物清理", Code.CLEANUP, Nature.VOLUNTEER, rel(-1),
            "14:30", "16:30", "紫林苑各楼栋楼道", grid="紫林苑网格", organizer="shengli_grid",
            agreement=SANXIA, signed_up=_sx(2, 4, 6) + _yl(10, 11),
        ),
        ActivityPlan(
            SHENGLI, TOMORROWS_GATE_DUTY, Code.GATE_DUTY, Nature.DUTY, rel(1), "08:00", "12:00",
            "紫林苑小区大门", grid="紫林苑网格", organizer="shengli_grid", agreement=SANXIA,
            capacity=1, status=recruiting, signed_up=_sx(0),
        ),
        ActivityPlan(
            SHENGLI, "万寿小区门岗值守", Code.GATE_DUTY, Nature.DUTY, rel(2), "08:00", "12:00",
            "万寿小区大门", grid="万寿小区网格", organizer="shengli_staff", agreement=SANXIA,
            capacity=1, status=recruiting, signed_up=_sx(10),
        ),
        ActivityPlan(
            SHENGLI, "胜利一路社区垃圾分类入户宣传", Code.DOOR_TO_DOOR, Nature.VOLUNTEER,
            rel(3), "09:00", "11:30", "紫林苑、万寿小区", organizer="shengli_staff",
            agreement=SANXIA, capacity=20, status=recruiting,
            description="每人负责一个单元，发放垃圾分类宣传册，现场答疑。",
            signed_up=_sx(1, 3, 5, 7) + _mz(0, 1, 2) + _yl(12),
            leave=((_sx(9)[0], "当天需参加单位培训"),),
        ),
        ActivityPlan(
            SHENZHEN, "翰林苑小区文明养犬宣传", Code.DOOR_TO_DOOR, Nature.VOLUNTEER, rel(4),
            "15:00", "17:00", "翰林苑小区", grid="翰林苑网格", organizer="shenzhen_grid",
            capacity=10, status=recruiting, signed_up=_yl(0, 1, 2) + _mz(30),
        ),
        ActivityPlan(
            SHENGLI, "走访慰问独居老人", Code.VISIT, Nature.VOLUNTEER, rel(5), "14:30", "17:00",
            "万寿小区", grid="万寿小区网格", organizer="shengli_staff", agreement=SANXIA,
            capacity=4, status=recruiting, signed_up=_sx(8, 11),
        ),
        ActivityPlan(
            DONGSHAN, "东山花园社区绿化带修剪", Code.CLEANUP, Nature.VOLUNTEER, rel(6),
            "09:00", "11:00", "东山花园小区", grid="东山花园网格", agreement=YUANLIN,
            status=recruiting, signed_up=_yl(3, 4, 5),
            leave=((_yl(6)[0], "当天有外业检查任务"),),
        ),
    ]  # fmt: skip
    return plans


def _work_updates(anchor: date):
    """(community, activity title, author, body, posted on, at)"""
    return [
        (
            SHENGLI, "“干干净净迎七一，我是党员我奉献”主题党日", "shengli_staff",
            "6月30日上午，三峡旅游新区下沉党员干部、社区各支部党员骨干及居民志愿者共40余人"
            "清扫万寿小区，清理卫生死角、花坛白漂和汛后淤泥渣土。",
            anchor, "12:00",
        ),
        (
            SHENGLI, _dated("沿江防汛巡逻", anchor + timedelta(days=6)), "sanxia_member",
            "今晚沿江巡逻两个半小时，劝导江边游泳、垂钓的群众离开危险区域十余人次。",
            anchor + timedelta(days=6), "21:45",
        ),
        (
            DONGSHAN, "园林局党员走进东山花园社区主题党日", "yuanlin_member",
            "上午和东山花园社区党员一起过主题党日，清理了小区花坛和绿化带里的白色垃圾。",
            anchor + timedelta(days=1), "11:30",
        ),
        (
            SHENZHEN, "入户宣传垃圾分类、文明创建和养犬登记", "shenzhen_grid",
            "翰林苑小区入户宣传完成：每人负责一个单元，宣传册送到每家每户，现场解答养犬登记问题，"
            "做到一户不落。",
            anchor + timedelta(days=17), "12:30",
        ),
    ]  # fmt: skip


def _concerns(anchor: date, today: date):
    """(community, grid, activity title, title, description, location, state, reported by,
    handler, forwarded to, resolution, raised on, at, resolved on)"""
    patrol = _dated("沿江防汛巡逻", anchor + timedelta(days=6))
    return [
        (
            SHENGLI, "紫林苑网格", patrol, "滨江步道护栏松动",
            "巡逻时发现紫林苑对面滨江步道约20米护栏松动，汛期人多，存在安全隐患。",
            "滨江步道紫林苑段", Concern.State.FORWARDED, "sanxia_member", "shengli_staff",
            "万寿桥街道城建办", "", anchor + timedelta(days=6), "21:40", None,
        ),
        (
            SHENGLI, "万寿小区网格", "“干干净净迎七一，我是党员我奉献”主题党日",
            "万寿小区垃圾桶周边杂物堆积", "清扫时发现小区3处垃圾桶周边长期堆放杂物。",
            "万寿小区", Concern.State.RESOLVED, "shengli_grid", "shengli_staff", "",
            "已协调物业每日清运两次，7月3日复查已清理干净。", anchor, "11:40",
            anchor + timedelta(days=3),
        ),
        (
            SHENGLI, "紫林苑网格", "紫林苑楼道堆物清理", "紫林苑3栋楼道照明损坏",
            "3栋2单元三至五楼楼道灯不亮，老人夜间上下楼不便。", "紫林苑3栋2单元",
            Concern.State.OPEN, "shengli_grid", None, "", "", today - timedelta(days=1),
            "16:40", None,
        ),
        (
            SHENZHEN, "翰林苑网格", "入户宣传垃圾分类、文明创建和养犬登记",
            "居民希望集中办理养犬登记",
            "入户宣传时多户居民反映养犬登记要跑多个窗口，希望社区组织一次集中办理。",
            "翰林苑小区", Concern.State.OPEN, "shenzhen_grid", None, "", "",
            anchor + timedelta(days=17), "12:40", None,
        ),
    ]  # fmt: skip


class _Loader:
    def __init__(self, today: date):
        self.today = today
        self.tz = ZoneInfo(settings.TIME_ZONE)
        self.created = Counter()
        self._password = None

    def at(self, day: date, hhmm: str) -> datetime:
        hour, minute = map(int, hhmm.split(":"))
        return datetime.combine(day, time(hour, minute), tzinfo=self.tz)

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
        self.plans = member_plans(self.anchor, self.today)
        self.accounts()
        self.agreements()
        self.members()
        self.registrations()
        self.activities()
        self.participations()
        self.duty_roster()
        self.updates_and_concerns()
        return self.created

    def places(self):
        self.streets, self.communities, self.grids = {}, {}, {}
        for street_name, communities in PLACES.items():
            street, _ = self.get_or_create(Street, name=street_name)
            self.streets[street_name] = street
            for name, (compounds, grids) in communities.items():
                community, _ = self.get_or_create(Community, name=name, defaults={"street": street})
                self.communities[name] = community
                for compound in compounds:
                    self.get_or_create(Compound, community=community, name=compound)
                for grid_name, area in grids:
                    grid, _ = self.get_or_create(
                        Grid, community=community, name=grid_name, defaults={"area": area}
                    )
                    self.grids[grid_name] = grid

    def agencies(self):
        self.agency = {}
        for name, short, *_ in AGENCIES:
            self.agency[name], _ = self.get_or_create(
                Agency, name=name, defaults={"short_name": short, "kind": Agency.Kind.GOVERNMENT}
            )

    def password(self):
        # One PBKDF2 hash (about 0.3 s) for every new account instead of one each.
        if self._password is None:
            self._password = make_password(DEMO_PASSWORD)
        return self._password

    def accounts(self):
        User = get_user_model()
        self.users = {}
        name_of = {plan.key: plan.name for plan in self.plans}
        for account in ACCOUNTS:
            user = User.objects.filter(username=account.username).first()
            if user is None:
                user = User.objects.create(
                    username=account.username,
                    password=self.password(),
                    first_name=account.first_name or name_of[account.member],
                    email=f"{account.username}@example.org",
                    is_staff=account.kind == StaffRole.Kind.CITY_ADMIN,
                    is_superuser=account.kind == StaffRole.Kind.CITY_ADMIN,
                )
                self.count(User)
            self.users[account.username] = user
            if account.kind is None:
                continue
            role, created = self.get_or_create(
                StaffRole,
                user=user,
                kind=account.kind,
                street=self.streets.get(account.street),
                community=self.communities.get(account.community),
                agency=self.agency.get(account.agency),
            )
            if created and account.grid:
                role.grids.set([self.grids[account.grid]])

    def find_anchor(self) -> date:
        marker = Agreement.objects.filter(
            agency=self.agency[SANXIA], community=self.communities[SHENGLI]
        ).first()
        # Completing an earlier load keeps that load's dates, whatever day it is now.
        if marker and (marker.starts_on.month, marker.starts_on.day) == (6, 30):
            return marker.starts_on
        return anchor_for(self.today)

    def agreements(self):
        self.agreement = {}
        for agency, community, seq, signed, agency_contact, community_contact, text in AGREEMENTS:
            pair = {"agency": self.agency[agency], "community": self.communities[community]}
            found = Agreement.objects.filter(**pair).order_by("pk").first()
            if found is None:
                if signed is None:
                    month_after = (self.today.replace(day=1) + timedelta(days=32)).replace(day=1)
                    starts, signing = month_after, {}
                else:
                    starts = self.anchor + timedelta(days=signed)
                    signing = {
                        "status": Agreement.Status.ACTIVE,
                        "signed_on": starts,
                        "signed_by": self.users["admin"],
                        "signed_at": self.at(starts, "10:00"),
                    }
                found = Agreement(
                    **pair,
                    **signing,
                    number=f"GJ-{self.anchor.year}-{seq:03d}",
                    starts_on=starts,
                    ends_on=_three_years(starts),
                    commitments=text,
                    daily_quota=1,
                    **self.contact("agency", agency_contact),
                    **self.contact("community", community_contact),
                )
                found._change_reason = "demo data"
                found.save()
                self.count(Agreement)
            self.agreement[(agency, community)] = found

    def contact(self, side, username):
        if username is None:
            return {}
        account = next(a for a in ACCOUNTS if a.username == username)
        digits = 1 + [a.username for a in ACCOUNTS].index(username)
        return {
            f"{side}_contact": account.first_name,
            f"{side}_contact_phone": f"139009000{digits:02d}",
        }

    def members(self):
        agencies = list(self.agency.values())
        existing = {(m.agency_id, m.mobile): m for m in Member.objects.filter(agency__in=agencies)}
        linked = set(Member.objects.filter(user__isnull=False).values_list("user_id", flat=True))
        login_of = {a.member: self.users[a.username] for a in ACCOUNTS if a.member}
        new = []
        for plan in self.plans:
            agency = self.agency[plan.agency]
            if (agency.pk, plan.mobile) in existing:
                continue
            user = login_of.get(plan.key)
            new.append(
                Member(
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
            )
        Member.objects.bulk_create(new)
        self.count(Member, len(new))
        for member in new:
            existing[(member.agency_id, member.mobile)] = member
        self.member = {p.key: existing[(self.agency[p.agency].pk, p.mobile)] for p in self.plans}

    def registrations(self):
        members = list(self.member.values())
        existing = set(
            Registration.objects.filter(member__in=members).values_list(
                "member_id", "community_id", "kind"
            )
        )
        new = []
        for plan in self.plans:
            member = self.member[plan.key]
            for reg in plan.registrations:
                community = self.communities[reg.community]
                if (member.pk, community.pk, reg.kind) in existing:
                    continue
                new.append(
                    Registration(
                        member=member,
                        community=community,
                        kind=reg.kind,
                        status=reg.status,
                        grid=self.grids.get(reg.grid),
                        applied_on=reg.applied_on,
                        reviewer=self.users.get(reg.reviewer),
                        reviewed_at=reg.reviewed_on and self.at(reg.reviewed_on, "10:00"),
                        return_reason=reg.return_reason,
                        ended_on=reg.ended_on,
                    )
                )
        bulk_create_with_history(new, Registration, default_change_reason="demo data")
        self.count(Registration, len(new))

    def activities(self):
        types = {}
        for code in ActivityType.Code:
            types[code], _ = self.get_or_create(
                ActivityType, code=code, defaults={"name": code.label}
            )
        self.activity_plans = activity_plans(self.anchor, self.today)
        self.activity = {}
        for plan in self.activity_plans:
            agreement = self.agreement.get((plan.agreement, plan.community))
            activity, _ = self.get_or_create(
                Activity,
                community=self.communities[plan.community],
                title=plan.title,
                defaults={
                    "grid": self.grids.get(plan.grid),
                    "type": types[plan.type],
                    "description": plan.description,
                    "place": plan.place,
                    "starts_at": self.at(plan.day, plan.start),
                    "ends_at": self.at(plan.day, plan.end),
                    "capacity": plan.capacity,
                    "nature": plan.nature,
                    "status": plan.status,
                    "organizer": self.users.get(plan.organizer),
                    "agreement": agreement if agreement and agreement.signed_on else None,
                    "resident_volunteers": plan.resident_volunteers,
                    "cancel_reason": plan.cancel_reason,
                },
            )
            self.activity[(plan.community, plan.title)] = activity

    def participations(self):
        activities = list(self.activity.values())
        existing = set(
            Participation.objects.filter(activity__in=activities).values_list(
                "activity_id", "member_id"
            )
        )
        login = {a.member: self.users[a.username] for a in ACCOUNTS if a.member}
        new = []
        for plan in self.activity_plans:
            activity = self.activity[(plan.community, plan.title)]
            ended = activity.ends_at.astimezone(self.tz).date() < self.today
            organizer = activity.organizer
            rows = (
                [(key, Participation.Status.PRESENT, "") for key in plan.present]
                + [(key, Participation.Status.ABSENT, "") for key in plan.absent]
                + [(key, Participation.Status.LEAVE, reason) for key, reason in plan.leave]
                + [(key, Participation.Status.SIGNED_UP, "") for key in plan.signed_up]
            )
            for key, status, reason in rows:
                member = self.member[key]
                if (activity.pk, member.pk) in existing:
                    continue
                row = Participation(
                    activity=activity,
                    member=member,
                    status=status,
                    source=Participation.Source.SIGN_UP,
                    recorded_by=login.get(key),
                    recorded_at=activity.starts_at - timedelta(days=2),
                )
                if status in (Participation.Status.PRESENT, Participation.Status.ABSENT):
                    row.source = Participation.Source.ROLL_CALL
                    row.recorded_by = organizer
                    row.recorded_at = activity.ends_at + timedelta(minutes=30)
                if status == Participation.Status.PRESENT:
                    row.hours = activity.duration_hours
                if status == Participation.Status.LEAVE:
                    row.leave_reason = reason
                    row.leave_decision = Participation.LeaveDecision.PENDING
                    if ended:
                        row.leave_decision = Participation.LeaveDecision.APPROVED
                        row.leave_decided_by = organizer
                        row.leave_decided_at = activity.starts_at - timedelta(hours=12)
                office = self.users.get(OFFICE_OF.get(AGENCY_OF_PREFIX[key.split("-")[0]]))
                if plan.confirmed and ended and office:
                    row.review = Participation.Review.CONFIRMED
                    row.reviewed_by = office
                    row.reviewed_at = activity.ends_at + timedelta(days=2)
                new.append(row)
        bulk_create_with_history(new, Participation, default_change_reason="demo data")
        self.count(Participation, len(new))

    def duty_roster(self):
        """The 30 June agreement's roster: its quota of members a day, in turn through the 三峡
        members reported in to 胜利一路社区, member 0 (the sanxia_member login) on tomorrow. A day
        that has anyone on duty already is left as it is, edited or not."""
        agreement = self.agreement[(SANXIA, SHENGLI)]
        gate_duty = self.activity[(SHENGLI, TOMORROWS_GATE_DUTY)]
        today = gate_duty.starts_at.astimezone(self.tz).date() - timedelta(days=1)
        days = [today + timedelta(days=n) for n in ROSTER_DAYS]
        rota = [
            self.member[plan.key]
            for plan in self.plans
            if plan.agency == SANXIA
            and plan.left_on is None
            and any(
                reg.kind == Registration.Kind.LIAISON and reg.status == Registration.Status.ACTIVE
                for reg in plan.registrations
            )
        ]
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
            first = ((day - today).days - 1) * quota  # tomorrow's first seat is member 0
            for seat in range(first, first + quota):
                member = rota[seat % len(rota)]
                new.append(DutyAssignment(agreement=agreement, date=day, member=member))
        DutyAssignment.objects.bulk_create(new)
        self.count(DutyAssignment, len(new))

    def updates_and_concerns(self):
        for community, title, author, body, day, hhmm in _work_updates(self.anchor):
            update, created = self.get_or_create(
                WorkUpdate,
                community=self.communities[community],
                body=body,
                defaults={
                    "author": self.users[author],
                    "activity": self.activity.get((community, title)),
                },
            )
            if created:  # auto_now_add ignores a value given on create
                WorkUpdate.objects.filter(pk=update.pk).update(created_at=self.at(day, hhmm))
        for row in _concerns(self.anchor, self.today):
            (community, grid, activity, title, description, location, state, reporter,
             handler, forwarded_to, resolution, day, hhmm, resolved_on) = row  # fmt: skip
            concern, created = self.get_or_create(
                Concern,
                community=self.communities[community],
                title=title,
                defaults={
                    "grid": self.grids[grid],
                    "activity": self.activity.get((community, activity)),
                    "description": description,
                    "location": location,
                    "state": state,
                    "reported_by": self.users[reporter],
                    "handler": self.users.get(handler),
                    "forwarded_to": forwarded_to,
                    "resolution": resolution,
                    "resolved_at": resolved_on and self.at(resolved_on, "10:00"),
                },
            )
            if created:
                Concern.objects.filter(pk=concern.pk).update(created_at=self.at(day, hhmm))


@dataclass(frozen=True)
class Loaded:
    anchor: date  # 30 June the agreement was signed
    created: Counter  # rows created, by model label ("members.Member")


@transaction.atomic
def load(*, today: date) -> Loaded:
    """Creates whatever demo rows are missing, in one transaction; changes no existing row."""
    loader = _Loader(today)
    created = loader.run()
    return Loaded(anchor=loader.anchor, created=created)
