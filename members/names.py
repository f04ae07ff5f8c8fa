"""Chinese names in the order people look for them: by pinyin (安, 白 … 张, 赵), as a printed
list or a phone's contacts are sorted, never by Unicode code point (which puts 张 before 李)."""

from functools import lru_cache

from pypinyin import Style, lazy_pinyin

# A surname is sometimes read otherwise than the same character in a word: 曾经 is céng but the
# surname 曾 is Zēng, 单 is Shàn, 解 is Xiè. pypinyin reads characters as in words.
SURNAME_READINGS = {
    "曾": "zeng1",
    "单": "shan4",
    "解": "xie4",
    "仇": "qiu2",
    "朴": "piao2",
    "区": "ou1",
    "查": "zha1",
    "缪": "miao4",
    "覃": "qin2",
    "尉": "yu4",
}


# Remembered by name: pypinyin segments each name into words (about 0.1 ms a name), and a roll
# call, a board or an activity's page sorts the same 40 people, and their agencies, every time.
# The key is a pure function of the name; 20,000 names are a few MB.
@lru_cache(maxsize=20_000)
def pinyin_key(name: str) -> tuple:
    """A sort key for a person's name: its syllables with their tones (zhang1 wei3), then the
    name itself, so that two names read alike still come in a fixed order."""
    name = (name or "").strip()
    surname = SURNAME_READINGS.get(name[:1])
    rest = name[1:] if surname else name
    syllables = [surname] if surname else []
    syllables += [s.lower() for s in lazy_pinyin(rest, style=Style.TONE3)]
    return (tuple(syllables), name)


def member_order(member) -> tuple:
    """People listed by agency, then by name, both by pinyin: roll calls, boards, lists of who
    is on an activity. Needs the member's agency loaded."""
    return (pinyin_key(member.agency.name), member.agency_id, pinyin_key(member.name), member.pk)
