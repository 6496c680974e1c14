"""EAN-13 product barcodes, so a 13-digit barcode is not taken for a payment card.

About one 13-digit number in ten passes the Luhn check, and EAN-13 barcodes (6901234567892 on
a Chinese product) are 13 digits too. A number whose EAN-13 check digit holds (python-stdnum)
and whose first three digits are a GS1 prefix (the ranges below, from GS1's list of member
organisations: 690–699 China, 400–440 Germany, 978 books …) is a barcode. Such a number is
reported as a card only when it also passes Luhn *and* a card word stands before it; a genuine
13-digit card (old Visa numbers, 4…) that happens to satisfy EAN-13 too needs that context.
"""

from __future__ import annotations

import re

from stdnum import ean

# GS1 prefixes in use (company prefixes, restricted circulation, coupons, ISBN/ISSN), as
# inclusive ranges of the first three digits.
_GS1_RANGES = (
    "000-139 200-380 383 385 387 389 390 400-440 450-489 490-499 500-509 520-521 528-531 535 539 "
    "540-549 560 569 570-579 590 594 599 600-601 603-604 608-609 611 613 615-631 640-649 "
    "680-681 690-699 700-709 729 730-746 750 754-755 759 760-771 773 775 777-780 784 786 789-790 "
    "800-850 858-860 865 867-869 870-881 883-885 888 890 893 896 899 900-919 930-951 955 958 "
    "960-969 977-984 990-999"
)


def _prefixes(ranges: str) -> frozenset[int]:
    out: set[int] = set()
    for part in ranges.split():
        low, _, high = part.partition("-")
        out.update(range(int(low), int(high or low) + 1))
    return frozenset(out)


GS1_PREFIXES = _prefixes(_GS1_RANGES)
CARD_CONTEXT = re.compile(
    r"卡|银行|账户|账号|支付|card|visa|master|amex|credit|debit|account|payment", re.I
)


def is_ean13(digits: str) -> bool:
    """13 digits, a GS1 prefix and a valid EAN-13 check digit."""
    return (
        len(digits) == 13
        and digits.isdigit()
        and int(digits[:3]) in GS1_PREFIXES
        and ean.is_valid(digits)
    )


def card_context(text: str, start: int, window: int = 20) -> bool:
    """A card word in the ``window`` characters before ``start``."""
    return bool(CARD_CONTEXT.search(text, max(0, start - window), start))
