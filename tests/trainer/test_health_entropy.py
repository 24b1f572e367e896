"""The health section's entropy finding names each head's share of its maximum, so a report says which
decisions a type has learned (the consumer's hours) and which it left near uniform (its demand)."""

import math

from econdsl.trainer.health import check_run


def _rows(fractions: dict[str, float], nvec: list[int]) -> list[dict[str, str]]:
    total = sum(f * math.log(n) for f, n in zip(fractions.values(), nvec, strict=True))
    row = {"Consumer/training": "1", "Consumer/reward": "1", "Consumer/entropy": str(total)}
    row.update({f"Consumer/entropy_fraction[{h}]": str(f) for h, f in fractions.items()})
    return [dict(row) for _ in range(20)]


def _entropy_finding(fractions: dict[str, float], nvec: list[int]):
    info = {"config": {"curriculum": False}, "architecture": {"types": {"Consumer": {"action_nvec": nvec}}}}
    found = [f for f in check_run(info, _rows(fractions, nvec), ["Consumer"], None, None) if "entropy" in f.check]
    assert len(found) == 1
    return found[0]


def test_the_entropy_finding_lists_every_head():
    f = _entropy_finding({"demand": 0.97, "hours": 0.06}, [11, 5])
    assert f.level == "ok" and f.detail.endswith("; per head: demand 97%, hours 6%")


def test_a_type_near_uniform_says_which_heads_are():
    f = _entropy_finding({"demand": 0.99, "hours": 0.95}, [11, 5])
    assert f.level == "warning" and "per head: demand 99%, hours 95%" in f.detail


def test_one_head_adds_nothing():
    f = _entropy_finding({"hours": 0.5}, [5])
    assert f.level == "ok" and "per head" not in f.detail
