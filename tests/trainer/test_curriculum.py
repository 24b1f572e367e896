"""The curriculum engine against rbc-spec.md section 3.4's table (N_a = 30000, D = 10000)."""

import math
from pathlib import Path

import pytest
import torch

from econdsl.language import check_model
from econdsl.trainer.curriculum import Curriculum, CurriculumError

MODELS = Path(__file__).resolve().parents[2] / "models"
PRICES = [0, 500, 1000, 1500, 2000, 2500]
WAGES = [0, 11, 22, 33, 44]
TAXES = [0, 0.2, 0.4, 0.6, 0.8, 1.0]


@pytest.fixture(scope="module")
def cur():
    return Curriculum(check_model(MODELS / "rbc_open.econ"))


def firm_grid(cur, e):
    ok = cur.mask("Firm", e)[0].view(6, 5)  # joint (price, wage, invest) index = 5·price + wage
    return [p for k, p in enumerate(PRICES) if ok[k].any()], [w for k, w in enumerate(WAGES) if ok[:, k].any()]


@pytest.mark.parametrize("e, prices, wages", [
    (0, [1000], [22]),
    (9999, [1000], [22]),
    (10000, [1000, 1500], [22]),
    (15000, [500, 1000, 1500], [11, 22, 33]),
    (20000, [500, 1000, 1500, 2000], [11, 22, 33]),
    (30000, PRICES, WAGES),
    (100000, PRICES, WAGES),
])
def test_firm_price_and_wage_windows(cur, e, prices, wages):
    assert firm_grid(cur, e) == (prices, wages)


@pytest.mark.parametrize("e, ceiling", [(0, 0), (29999, 0), (36000, 0.2), (42000, 0.4), (48000, 0.6),
                                        (54000, 0.8), (60000, 1.0)])
def test_government_tax_ceiling(cur, e, ceiling):
    ok = cur.mask("Government", e)[0].view(6, 6)  # index = 6·income + corporate
    allowed = {(TAXES[a], TAXES[b]) for a in range(6) for b in range(6) if ok[a, b]}
    want = {(x, y) for x in TAXES for y in TAXES if max(x, y) <= ceiling + 1e-9}
    assert allowed == want


def test_consumer_heads_unmasked_and_padding(cur):
    assert cur.mask("Consumer", 0) is None
    m = cur.mask("Firm", 30000)
    assert m.shape == (1, 30) and m.all()


def test_training_starts_kappa_and_entropy(cur):
    assert cur.start == {"Consumer": 0, "Firm": 30000, "Government": 60000}
    assert not cur.training("Firm", 29999) and cur.training("Firm", 30000)
    assert cur.runtime_consts(0) == {"κ": 0.0}
    assert cur.runtime_consts(10000)["κ"] == pytest.approx(1 - math.exp(-1))
    # the entropy schedule restarts when each type starts training, with the 0.05 floor
    assert cur.entropy_coef("Consumer", 0, 0.0) == pytest.approx(0.5)
    assert cur.entropy_coef("Firm", 30000, 0.0) == pytest.approx(0.5)
    assert cur.entropy_coef("Firm", 40000, 0.0) == pytest.approx(0.5 * math.exp(-1))
    assert cur.entropy_coef("Government", 200000, 0.0) == pytest.approx(0.05)


def test_preset_constants_rescale_the_schedule():
    cur = Curriculum(check_model(MODELS / "rbc_open.econ"), {"N_a": 80, "D_decay": 30})
    assert cur.start == {"Consumer": 0, "Firm": 80, "Government": 160}
    assert firm_grid(cur, 26) == ([1000], [22]) and firm_grid(cur, 80) == (PRICES, WAGES)


def test_no_curriculum():
    cur = Curriculum(check_model(MODELS / "rbc_open.econ"), enabled=False)
    assert cur.mask("Firm", 0) is None and cur.runtime_consts(0) == {}
    assert all(v == 0 for v in cur.start.values())


def test_unknown_override():
    with pytest.raises(CurriculumError, match="not a curriculum constant"):
        Curriculum(check_model(MODELS / "rbc_open.econ"), {"N_b": 3})


def test_mask_tensor_is_bool(cur):
    assert cur.mask("Government", 0).dtype == torch.bool
