"""Words the seeded city is named with: Yichang-like streets, communities, compounds and public
bodies, and the short texts its people write. Every person is invented (names are drawn from
the demo's pools of characters)."""

# Ten streets beside the demo's 万寿桥街道 and 东苑街道.
STREETS = [
    "西陵街道",
    "学院街道",
    "云集街道",
    "西坝街道",
    "葛洲坝街道",
    "夜明珠街道",
    "窑湾街道",
    "宝塔河街道",
    "伍家岗街道",
    "大公桥街道",
    "桥边街道",
    "点军街道",
    "联棚街道",
    "艾家街道",
    "猇亭街道",
    "小溪塔街道",
]

# Communities are named stem + ending (胜利一路社区, 桃花岭社区 …).
COMMUNITY_STEMS = [
    "桃花",
    "樵湖",
    "夷陵",
    "铁路",
    "滨江",
    "港窑",
    "五一",
    "解放",
    "紫阳",
    "沿江",
    "大公",
    "宝塔",
    "杨岔",
    "福园",
    "桔城",
    "白龙",
    "磨基",
    "金东山",
    "梅岭",
    "大连",
    "北山",
    "卷桥",
    "黄河",
    "珍珠",
    "南湖",
    "西湖",
    "环城",
    "隆康",
    "东湖",
    "绿萝",
    "花艳",
    "临江",
    "柏临",
    "万达",
    "长江",
    "合益",
    "伍临",
    "共联",
    "中南",
    "城东",
    "城南",
    "望洲",
    "古城",
    "云集",
    "葛洲",
    "西坝",
    "南苑",
    "明珠",
    "常刘",
    "宋山",
]
COMMUNITY_ENDINGS = ["路", "坪", "岭", "桥", "里", "园", "湾", "苑", "街", "坝", "东路", "新村"]

COMPOUND_ENDINGS = ["小区", "花园", "苑", "新村", "家园", "名邸"]
GRID_AREAS = ["{compound}及周边楼栋", "{compound}", "沿街楼栋及门店"]

# Public bodies that dispatch members: city and district departments, institutions, schools,
# hospitals and state-owned enterprises, each with its kind (Agency.Kind's values).
DISTRICTS = ["市", "西陵区", "伍家岗区", "点军区", "猇亭区", "夷陵区", "宜昌高新区"]
DEPARTMENTS = [
    ("发展和改革局", "government"),
    ("教育局", "government"),
    ("科学技术局", "government"),
    ("经济和信息化局", "government"),
    ("公安局", "government"),
    ("民政局", "government"),
    ("司法局", "government"),
    ("财政局", "government"),
    ("人力资源和社会保障局", "government"),
    ("自然资源和规划局", "government"),
    ("生态环境局", "government"),
    ("住房和城乡建设局", "government"),
    ("交通运输局", "government"),
    ("水利和湖泊局", "government"),
    ("农业农村局", "government"),
    ("商务局", "government"),
    ("文化和旅游局", "government"),
    ("卫生健康委员会", "government"),
    ("退役军人事务局", "government"),
    ("应急管理局", "government"),
    ("审计局", "government"),
    ("市场监督管理局", "government"),
    ("统计局", "government"),
    ("医疗保障局", "government"),
    ("城市管理执法委员会", "government"),
    ("信访局", "government"),
    ("政务服务和大数据管理局", "government"),
    ("机关事务服务中心", "institution"),
    ("档案馆", "institution"),
    ("总工会", "other"),
    ("团委", "other"),
    ("妇联", "other"),
    ("科协", "other"),
    ("残联", "other"),
    ("红十字会", "other"),
    ("税务局", "government"),
    ("供销合作社", "other"),
    ("公共资源交易中心", "institution"),
    ("图书馆", "institution"),
    ("疾病预防控制中心", "institution"),
    ("妇幼保健院", "institution"),
    ("社会福利院", "institution"),
    ("融媒体中心", "institution"),
    ("不动产登记中心", "institution"),
    ("住房公积金中心", "institution"),
    ("城市建设投资控股集团有限公司", "enterprise"),
    ("国有资本投资运营有限公司", "enterprise"),
    ("公交集团有限责任公司", "enterprise"),
    ("水务集团有限公司", "enterprise"),
    ("粮食储备有限公司", "enterprise"),
    ("文化旅游投资有限公司", "enterprise"),
    ("纪委监委", "government"),
    ("党委组织部", "government"),
    ("党委宣传部", "government"),
    ("党委统战部", "government"),
    ("党委政法委", "government"),
    ("人民法院", "government"),
    ("人民检察院", "government"),
    ("消防救援支队", "government"),
    ("气象局", "government"),
]
SCHOOL_KINDS = ["中学", "小学", "实验小学", "职业技术学校"]
HOSPITALS = ["人民医院", "中医医院", "第一人民医院", "第二人民医院", "精神卫生中心"]
ENTERPRISES = [
    "中国工商银行宜昌{}支行",
    "中国建设银行宜昌{}支行",
    "中国农业银行宜昌{}支行",
    "国网宜昌供电公司{}供电所",
    "中国移动宜昌分公司{}营业部",
    "中国邮政宜昌{}邮政支局",
    "宜昌港务集团{}作业区",
]

# Short names for the long ones (市园林和林业局 → 园林局): the part after the district.
SHORT_TAIL = {"有限公司": "", "有限责任公司": "", "委员会": "委"}

ACTIVITY_TEXTS = {
    # code: (title, usual start "HH:MM", hours, mean members, description)
    "flood_patrol": (
        "沿江防汛巡逻",
        "19:00",
        2.5,
        4,
        "和社区巡逻队一道沿江巡逻，劝导群众注意安全。",
    ),
    "gate_duty": ("{compound}门岗值守", "08:00", 4.0, 2, "在小区门岗测温登记、劝导外来人员。"),
    "party_day": ("主题党日活动", "09:00", 2.5, 22, "与社区各支部党员一起过主题党日。"),
    "door_to_door": ("{compound}入户宣传", "09:00", 2.5, 12, "每人负责一个单元，宣传到户。"),
    "visit": ("走访慰问困难群众", "14:30", 2.5, 4, "走访慰问辖区困难党员和群众。"),
    "cleanup": ("{compound}环境卫生清理", "08:30", 2.5, 12, "清理卫生死角、楼道堆物和白色垃圾。"),
    "other": ("社区志愿服务", "09:00", 2.0, 8, "参与社区志愿服务。"),
}

LEAVE_REASONS = [
    "在外地出差",
    "单位临时召开会议",
    "家中老人住院，需要陪护",
    "孩子生病",
    "当天需参加单位培训",
    "外业检查任务",
    "身体不适",
    "单位值班",
]
BACKFILL_REASONS = ["点名时漏记，据签到表补录", "扫码签到失败，现场确认后补录"]
# The agency office's disputes of a record, and the community's answers (without a correction).
DISPUTE_REASONS = [
    "本人当天在单位值班，未参加该活动，请核实",
    "签到表上没有本人签名，请核实",
    "本人已提前向社区请假，请核实",
    "本人只参加了前一个小时，时长有误",
]
DISPUTE_ANSWERS = [
    "已与现场负责人核实，本人全程参加",
    "经核对签到表和现场照片，记录无误",
    "请假未经社区审批，按缺席记录",
]
CANCEL_REASONS = ["天气原因取消", "与街道联合活动合并", "场地临时无法使用"]
RETURN_REASONS = [
    "经核实，该同志居住在其他社区，请向实际居住地社区报到。",
    "报到信息不完整，请补充所在党支部后重新报到。",
]
TERMINATION_REASONS = ["单位机构改革撤并", "双方协商提前终止"]

CONCERNS = [
    ("楼道照明损坏", "楼道灯不亮，老人夜间上下楼不便。", "城建办"),
    ("垃圾桶周边杂物堆积", "垃圾桶周边长期堆放杂物。", "物业公司"),
    ("护栏松动", "护栏松动，存在安全隐患。", "街道城建办"),
    ("下水道堵塞", "雨后下水道返水，路面积水。", "市政公司"),
    ("电动车楼道充电", "有居民在楼道给电动车充电。", "消防救援站"),
    ("小区路面破损", "小区主干道路面破损，雨天积水。", "街道城建办"),
    ("噪音扰民", "夜间广场舞音响声音过大。", "派出所"),
    ("独居老人需要照顾", "独居老人行动不便，希望定期上门。", "街道民政办"),
]
RESOLUTIONS = ["已协调物业处理，复查已整改。", "已转交相关部门维修完毕。", "已上门沟通，问题解决。"]
WORK_UPDATES = [
    "{title}：下沉党员{count}人参加，按时完成任务。",
    "{title}顺利完成，感谢各位党员的辛苦付出。",
    "今天{title}，大家分工明确，居民反映很好。",
]
