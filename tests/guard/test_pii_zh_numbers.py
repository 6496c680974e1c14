"""Chinese numbers (issue 17): resident IDs by structure, date, check digit and any GB/T 2260
code ever issued; EAN-13 barcodes are not payment cards."""

from __future__ import annotations

import datetime as dt

import pytest
from stdnum.cn import ric

from aigc.guard import barcodes, pii
from aigc.guard.pii_zh import hk_id_valid, resident_id_valid, tw_id_valid


def resident_id(region: str, born: str, serial: str = "123") -> str:
    body = region + born + serial
    return body + ric.calc_check_digit(body + "0")


def kinds(text: str) -> dict[str, str]:
    return {f.entity: f.value for f in pii.detect(text)}


def test_region_code_created_after_the_birth_year_is_valid() -> None:
    # 天河区 (440106) was created in 1985; people born before carry its code.
    assert kinds("身份证44010619751122037X")["CN_RESIDENT_ID"] == "44010619751122037X"
    # 通州区 (110112) replaced 通县 in 1997.
    value = resident_id("110112", "19950601")
    assert kinds(f"证件号码：{value}")["CN_RESIDENT_ID"] == value


def test_retired_region_code_is_still_valid() -> None:
    # 崇文区 (110103), 通县 (110223) and 沙河市 (132202, until 1993) are no longer issued.
    for value in (
        resident_id("110103", "19800101"),
        resident_id("110223", "19700315"),
        resident_id("132202", "19860601"),
    ):
        assert resident_id_valid(value), value


def test_resident_id_structure_date_and_check_digit() -> None:
    today = dt.date(2025, 6, 1)
    assert resident_id_valid(resident_id("110101", "19900307"), today)
    assert resident_id_valid(resident_id("110101", "19900307").lower(), today)  # x as X
    broken = resident_id("110101", "19900307")
    broken = broken[:-1] + ("0" if broken[-1] != "0" else "1")
    assert not resident_id_valid(broken, today)  # check digit
    assert not resident_id_valid(resident_id("110101", "19900230"), today)  # no 30 February
    assert not resident_id_valid(resident_id("110101", "20250602"), today)  # born tomorrow
    assert not resident_id_valid(resident_id("110101", "18991231"), today)  # before 1900
    assert not resident_id_valid(resident_id("999999", "19900307"), today)  # no such region
    assert not resident_id_valid(resident_id("110199", "19900307"), today)  # never issued
    assert not resident_id_valid("11010119900307123", today)  # 17 characters


def test_ean13_barcodes_are_not_cards() -> None:
    # Both pass Luhn as well as the EAN-13 check.
    for text in ("商品条码6901234567892", "ISBN 9787111213826 的书"):
        assert not {"CREDIT_CARD", "CN_BANK_CARD"} & set(kinds(text)), text
    assert barcodes.is_ean13("6901234567892")
    assert not barcodes.is_ean13("6901234567891")  # EAN-13 check digit broken
    assert not barcodes.is_ean13("1401234567892")  # 140: not a GS1 prefix


def test_a_barcode_shaped_number_after_a_card_word_is_a_card() -> None:
    assert kinds("信用卡号6901234567892")["CREDIT_CARD"] == "6901234567892"
    assert kinds("Card 4111 1111 1111 1111")["CREDIT_CARD"] == "4111 1111 1111 1111"


def test_taiwan_national_ids_by_check_digit_and_context() -> None:
    """Taiwan's 身分證字號: a letter, 1 or 2, eight digits, a check digit; reported near an
    identity-card word (in either script), as the shape alone is a product code's too."""
    assert tw_id_valid("A123456789") and not tw_id_valid("A123456788")
    assert kinds("身分證字號：A123456789") == {"TW_ID_NUMBER": "A123456789"}
    assert kinds("身份证号码 A123456789") == {"TW_ID_NUMBER": "A123456789"}
    assert kinds("身分證字號：A123456788") == {}  # the check digit fails
    assert kinds("訂單編號 A123456789") == {}  # no identity-card word


def test_hong_kong_identity_cards_by_check_character() -> None:
    assert hk_id_valid("A", "123456", "3") and hk_id_valid("AB", "987654", "3")
    assert not hk_id_valid("A", "123456", "4")
    assert kinds("香港身份證號碼：A123456(3)") == {"HK_ID_NUMBER": "A123456(3)"}
    assert kinds("請提供 A123456（3） 的副本") == {"HK_ID_NUMBER": "A123456（3）"}  # brackets
    assert kinds("HKID: A1234563") == {"HK_ID_NUMBER": "A1234563"}
    assert kinds("參考編號 A1234563") == {}  # no brackets, no identity-card word
    assert kinds("香港身份證號碼：A123456(4)") == {}


def test_context_words_in_traditional_characters_count() -> None:
    """護照 and 手機 are 护照 and 手机: the passport and phone recognizers read simplified."""
    assert kinds("護照號碼：E12345678") == {"PASSPORT": "E12345678"}
    assert kinds("手機：0912-345-678") == {"PHONE_NUMBER": "0912-345-678"}


def test_a_code_after_chinese_words_is_no_place() -> None:
    """ "订单编号 A123456789" is upper case to ``str.isupper``, and the line was taken for a
    place (LOCATION), like "NEW YORK"."""
    for text in ("订单编号 A123456789", "訂單編號 A123456789", "参考编号 A1234563"):
        assert kinds(text) == {}, text


def test_phone_numbers_written_against_chinese_words_are_found() -> None:
    """The phone pattern was bounded by ``\\w``, and Chinese characters are word characters:
    a landline written as Chinese writes it (请拨打0755-86013388转8001) was never found."""
    assert kinds("座机010-62345678，请回电。") == {"PHONE_NUMBER": "010-62345678"}
    assert kinds("联系电话（010）62345678") == {"PHONE_NUMBER": "（010）62345678"}
    found = [f.value for f in pii.detect("请拨打(0755)86013388或0755-86013388转分机8001")]
    assert found == ["(0755)86013388", "0755-86013388"]
    assert kinds("会议于2024-03-01召开，版本号 3.10.12，预算1,200,000元。") == {}


def test_order_and_invoice_numbers_are_not_cards() -> None:
    """One number in ten passes Luhn by chance: an order number after its label was a card."""
    order = "2024030112345678"  # passes Luhn
    card = "4111111111111111"
    for text in (
        f"订单号 {order[:4]} {order[4:8]} {order[8:12]} {order[12:]}",
        f"快递单号{order}已发出",
        f"Order number: {order}",
        f"Invoice #{order}",
    ):
        assert kinds(text) == {}, text
    assert kinds(f"订单号 {order}，付款卡号 {card}") == {"CREDIT_CARD": card}
    assert kinds(f"信用卡号 {card}") == {"CREDIT_CARD": card}


def test_a_mobile_number_with_its_country_code_is_no_card() -> None:
    """+86 and a mobile number make 13 digits that pass Luhn one time in ten, and a card
    outranks a phone: "+86 138 1234 5678" was a CREDIT_CARD (without its +)."""
    for number in (
        "+86 138-1234-5678",
        "+86 13812345678",
        "+86-138-1234-5678",
        "+86 138 1234 5678",
    ):
        assert kinds(f"我的手机号{number}，有事打给我") == {"CN_MOBILE": number}
    assert kinds("卡号 4111 1111 1111 1111，手机 +86 13812345678") == {
        "CREDIT_CARD": "4111 1111 1111 1111",
        "CN_MOBILE": "+86 13812345678",
    }


def test_a_number_labelled_as_another_kind_is_no_phone() -> None:
    """ "number" was phone context, so "My order number is 4481-2290-17" reported a phone (and
    a pseudonymizing rule hid the order from the model that should look it up)."""
    for text in (
        "My order number is 4481-2290-17, it has not arrived.",
        "Ticket number: 555-0143-22",
        "Order #: 4481 2290 17",  # the English model's street address: "2290"
        "订单号：2023-1105-1234",
        "我的订单号是20231105123456，还没发货。",
    ):
        assert kinds(text) == {}, text
    assert kinds("My phone number is 415-555-0143.") == {"PHONE_NUMBER": "415-555-0143"}
    both = "Invoice no. 2024-0098-12 is overdue; call 415 555 0143."
    assert kinds(both) == {"PHONE_NUMBER": "415 555 0143"}


def test_an_abbreviation_amid_chinese_and_a_list_of_numbers_are_no_places() -> None:
    """The English token model read "AI" in 解释 AI 及其应用 as a place, and the numbers of
    "the mean of 130, 200, 110, 95" as street addresses."""
    assert kinds("解释 AI 及其应用。") == {}
    assert kinds("名称： 精神 II E-210 燃气烤架") == {}
    assert kinds("Compute the mean of 130, 200, 110, 95.") == {}
    assert kinds("What is the next number: 2, 6, 14, 30") == {}
    assert kinds("He lives at 14 Elm Street.") == {"STREET_ADDRESS": "14 Elm Street"}


def test_digit_runs_in_chinese_text_are_no_street_address() -> None:
    """The English token model called the middle of a bank card number or a licence plate in
    Chinese text a street address ('0000 1234', '12345')."""
    assert kinds("工资卡号 6222 0202 0000 1234 567，开户行工商银行。") == {}
    # a longer number: its middle groups are more than six characters from the Chinese
    assert kinds("银行卡号 6222 0212 3456 7890 123") == {}
    assert kinds("车牌号京A·12345，请到B2层取车。") == {"CN_LICENSE_PLATE": "京A·12345"}
    english = kinds("The office is at 1600 Amphitheatre Parkway, Mountain View.")
    assert english["STREET_ADDRESS"].startswith("1600 Amphitheatre Parkway")


def test_mainland_licence_plates() -> None:
    """A plate names its vehicle's owner through the register; it was never reported."""
    for plate in ("京A·12345", "粤B 8Q88D", "沪AD12345", "苏E1234学", "湘A-67890"):
        assert kinds(f"车牌号{plate}，停在B2层") == {"CN_LICENSE_PLATE": plate}, plate
    for text in ("型号A12345", "京A1234", "苏ABCDE1 不是车牌", "新款A12345上市", "京A12345678"):
        assert "CN_LICENSE_PLATE" not in kinds(text), text


def test_travel_permits_are_numbered_like_passports() -> None:
    """The Hong Kong and Macau permit and the home-return permit were not travel documents."""
    assert kinds("港澳通行证号C12345678，下周去香港") == {"PASSPORT": "C12345678"}
    assert kinds("回乡证 H12345678") == {"PASSPORT": "H12345678"}
    assert kinds("护照号E12345678") == {"PASSPORT": "E12345678"}
    assert kinds("型号C12345678的零件") == {}


@pytest.mark.parametrize(
    ("text", "account"),
    [
        ("我的微信号是 zhang_san88，有事联系", "zhang_san88"),
        ("加我微信：lisi2024", "lisi2024"),
        ("vx：wxid_k2j3h4g5f6", "wxid_k2j3h4g5f6"),
        ("微信号:ChenXiaoming", "ChenXiaoming"),  # letters only, after 微信号
        ("有问题加微 abc_12345", "abc_12345"),
        ("WeChat ID: mike_chen-01", "mike_chen-01"),
    ],
)
def test_a_wechat_id_after_its_name_is_pii(text: str, account: str) -> None:
    """A WeChat ID reaches one person as a phone number does; it was never reported."""
    assert kinds(text) == {"CN_WECHAT_ID": account}
    assert "CN_WECHAT_ID" in pii.SAFE_ENTITIES  # the moderation's "pii" and policies see it


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("我的QQ是 123456789", "123456789"),
        ("QQ号：10001", "10001"),
        ("扣扣 2847561930", "2847561930"),
        ("ＱＱ：987654321 随时找我", "987654321"),  # full-width letters read as ASCII
    ],
)
def test_a_qq_number_after_its_name_is_pii(text: str, number: str) -> None:
    assert kinds(text) == {"CN_QQ_NUMBER": number}


@pytest.mark.parametrize(
    "text",
    [
        "微信支付很方便",
        "我在微信 official account 上看到",  # a word after a bare 微信
        "微信公众号 aigc_official",  # an official account, not 微信号
        "微信 version 8.0.1",
        "import wx; wx.Frame(None)",  # wxPython
        "请用wx Frame 做界面",
        "WeChat is popular among our customers",
        "QQ群 123456789",  # a group's number
        "QQ音乐 2024 年度报告",
        "QQ 2024",  # four digits: no QQ number
    ],
)
def test_messaging_words_without_an_account_are_not_pii(text: str) -> None:
    assert not {"CN_WECHAT_ID", "CN_QQ_NUMBER"} & set(kinds(text)), text


@pytest.mark.parametrize(
    ("text", "address"),
    [
        (
            "收货地址：北京市海淀区中关村大街27号院3号楼2单元501室",
            "北京市海淀区中关村大街27号院3号楼2单元501室",
        ),
        (
            "住在杭州市西湖区文三路478号华星时代广场A座1203，周末在家",
            "杭州市西湖区文三路478号华星时代广场A座1203",
        ),
        ("地址：成都市武侯区天府大道北段1700号", "成都市武侯区天府大道北段1700号"),
        ("中山路5号大院2栋301室", "中山路5号大院2栋301室"),
    ],
)
def test_a_chinese_address_keeps_its_building_unit_and_room(text: str, address: str) -> None:
    """The building, unit and room find one household; the match stopped before them (at 院,
    号楼, 座, a bare room number) or missed a road's section (北段), and redaction left them."""
    assert kinds(text)["CN_ADDRESS"] == address


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("还有登州路56号的店也不错", "登州路56号"),
        ("快递送到了南京东路100号", "南京东路100号"),
        ("我家附近的中山路1号有家面馆", "中山路1号"),
        ("请把发票寄到上海市浦东新区张江路88号", "上海市浦东新区张江路88号"),
        ("我们公司搬到了长安街1号", "长安街1号"),
        ("他说他在江苏省南京市鼓楼区中山北路30号上班", "江苏省南京市鼓楼区中山北路30号"),
        ("客户地址改成了解放路3号", "解放路3号"),  # a road named with a verb keeps it
        ("安徽省马鞍山市和县历阳路1号", "安徽省马鞍山市和县历阳路1号"),
    ],
)
def test_a_chinese_address_starts_at_its_place_name(text: str, address: str) -> None:
    """The match ran back over the words before a road (送到了, 还有, 的, 把发票寄到), so a
    redaction took half the sentence with the address."""
    assert kinds(text)["CN_ADDRESS"] == address


def test_a_year_after_a_house_number_is_not_a_room() -> None:
    assert kinds("文三路478号2023年开业")["CN_ADDRESS"] == "文三路478号"
