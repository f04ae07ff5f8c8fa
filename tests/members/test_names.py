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


def test_a_name_is_read_once_however_often_its_list_is_sorted(monkeypatch):
    # A roll call sorts the same people on every request: pypinyin reads each name once.
    import members.names

    read = []
    real = members.names.lazy_pinyin
    monkeypatch.setattr(
        members.names, "lazy_pinyin", lambda text, **kw: read.append(text) or real(text, **kw)
    )
    pinyin_key.cache_clear()
    names = ["诸葛亮", "司马懿", "曾国藩"]
    for _ in range(3):
        sorted(names, key=pinyin_key)
    assert sorted(read) == sorted(["诸葛亮", "司马懿", "国藩"])
