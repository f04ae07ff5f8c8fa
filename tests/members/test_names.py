"""Names sort by pinyin, as people look them up, not by Unicode code point."""

from members.names import pinyin_key


def test_names_sort_by_pinyin_not_by_code_point():
    names = ["张伟", "李娜", "安静", "赵敏", "白云", "王芳", "欧阳娜娜"]
    assert sorted(names) == ["安静", "张伟", "李娜", "欧阳娜娜", "王芳", "白云", "赵敏"]
    assert sorted(names, key=pinyin_key) == [
        "安静",
        "白云",
        "李娜",
        "欧阳娜娜",
        "王芳",
        "张伟",
        "赵敏",
    ]


def test_a_surname_is_read_as_a_surname():
    # 曾 is céng in 曾经 but Zēng as a surname: after 张 would be wrong, and so would before 李.
    assert sorted(["张伟", "曾国强", "李娜"], key=pinyin_key) == ["李娜", "曾国强", "张伟"]
    assert sorted(["单雄", "沈阳"], key=pinyin_key) == ["单雄", "沈阳"]  # shan before shen


def test_names_read_alike_keep_a_fixed_order_and_latin_names_sort_among_them():
    assert sorted(["李娜", "李纳", "Li Na", "安静"], key=pinyin_key) == [
        "安静",
        "Li Na",
        "李娜",
        "李纳",
    ]
    assert pinyin_key("") == ((), "")
