"""Pure rules of engagement: templates, backoff, masking, the ranking of pairings."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from omniretail.engagement.domain import (
    TEMPLATES,
    Medium,
    PairRow,
    TemplateError,
    mask_address,
    rank_pairings,
    render,
    retry_delay,
    similarity,
)


def test_every_template_has_chinese_and_english_with_the_same_parameters() -> None:
    for tpl in TEMPLATES.values():
        assert set(tpl.text) == {"zh-CN", "en"}
        names = [
            {f for f in tpl.parameters() if "{" + f + "}" in text} for text in tpl.text.values()
        ]
        assert names[0] == names[1], tpl.code


def test_a_missing_parameter_names_what_is_needed() -> None:
    with pytest.raises(TemplateError, match="needs code"):
        render("pickup_ready", "en", {"order": "1", "store": "X"})
    with pytest.raises(TemplateError, match="no template"):
        render("nope", "en", {})


def test_backoff_doubles_and_is_capped_at_an_hour() -> None:
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert retry_delay(20) == dt.timedelta(hours=1)


def test_a_masked_phone_keeps_only_its_ends() -> None:
    assert mask_address("+8613800138000") == "+861****00"
    assert "138001" not in mask_address("+8613800138000")
    assert mask_address("12345") == "***"


def test_every_medium_names_a_consent_channel_and_an_address() -> None:
    assert {m.consent_channel for m in Medium} == {"sms", "wechat", "app", "miniprogram"}
    assert Medium.SMS.identity_type == "phone"


def test_similarity_is_the_cosine_of_the_two_customer_sets() -> None:
    # 2 customers of 4 and 2 of 8: 2 / sqrt(4 x 8); a count above a total (counts from before
    # the totals were kept) reads as the count.
    assert similarity(PairRow("A", "bought", "B", 2, 4, 8)) == pytest.approx(2 / math.sqrt(32))
    assert similarity(PairRow("A", "bought", "B", 3, 0, 0)) == 1.0


def test_a_pairing_outranks_a_best_seller_bought_with_everything() -> None:
    # HAT was bought with TEE by 2 of its 2 buyers; BEST by 10, but it has 100 buyers. Raw
    # counts put BEST first; the similarity puts HAT first.
    rows = [
        PairRow("TEE", "bought", "BEST", 10, 20, 100),
        PairRow("TEE", "bought", "HAT", 2, 20, 2),
    ]
    assert [r.other for r in rank_pairings(["TEE"], rows)] == ["HAT", "BEST"]
    # The reply's score stays the evidence: 3 x co-purchases.
    assert [r.score for r in rank_pairings(["TEE"], rows)] == [6, 30]


def test_pairings_seen_once_rank_after_supported_ones_and_best_sellers_fill_the_rest() -> None:
    rows = [
        PairRow("TEE", "bought", "ONCE", 1, 5, 1),  # similarity 1/sqrt(5): high, but one customer
        PairRow("TEE", "bought", "TWICE", 2, 5, 50),
        PairRow("CAP", "looked", "TWICE", 3, 9, 40),
        PairRow("CAP", "looked", "VIEWED", 1, 9, 3),
    ]
    ranked = rank_pairings(["CAP", "TEE"], rows, popular=["TWICE", "POP", "ONCE", "POP2"])
    assert [(r.other, r.score, r.because) for r in ranked] == [
        ("TWICE", 9, ("CAP", "TEE")),
        ("ONCE", 3, ("TEE",)),
        ("VIEWED", 1, ("CAP",)),
        ("POP", 0, ()),
        ("POP2", 0, ()),
    ]


def test_ties_rank_by_sku_and_nothing_pairs_with_nothing() -> None:
    rows = [
        PairRow("TEE", "looked", "B", 2, 4, 4),
        PairRow("TEE", "looked", "A", 2, 4, 4),
    ]
    assert [r.other for r in rank_pairings(["TEE"], rows)] == ["A", "B"]
    assert rank_pairings(["TEE"], []) == []
