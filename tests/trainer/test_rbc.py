"""The RBC model on the compiled environment: the paper-scale settings run unchanged (a couple of
iterations, few envs), the digit encoding has the paper's input sizes, NaN stops a real run."""

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import econdsl
from econdsl.cli import main
from econdsl.trainer.config import ConfigError, build_layers
from econdsl.trainer.trainer import Trainer

MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.fixture(scope="module")
def rbc():
    return econdsl.load(MODELS / "rbc_open.econ")


def test_paper_scale_settings_run_on_cpu(rbc):
    layers = build_layers(rbc.resolved, None, {"envs": "4"})  # the paper's settings, fewer replicas
    cfg = layers.config
    assert (cfg.epochs, cfg.minibatches, cfg.hidden, cfg.clip) == (4, 1, (128, 128), 0.1)
    tr = Trainer(rbc, cfg, layers.curriculum_consts)
    for _ in range(2):
        m = tr.iterate()
    assert m["Consumer/training"] == 1 and m["Firm/training"] == 0 and m["Government/training"] == 0
    assert m["Consumer/entropy_coef"] == pytest.approx(0.5 * 0.9999, rel=1e-3)  # 0.5·exp(−1/10000)
    assert m["econ/p"] == 1000 and m["econ/w"] > 0  # prices masked to 1000; wages to 22 from step 1
    assert tr.env_steps == 2 * 4 * 10


def test_digit_encoding_has_the_papers_input_sizes(rbc):
    layers = build_layers(rbc.resolved, None, {"envs": "2", "obs_norm": "digits"})
    tr = Trainer(rbc, layers.config, layers.curriculum_consts)
    assert {a: p.norm.out_dim for a, p in tr.policies.items()} == {"Consumer": 144, "Firm": 155, "Government": 133}
    m = tr.iterate()
    assert m["Consumer/reward"] == m["Consumer/reward"]  # finite, not NaN


def test_paper_preset_is_the_papers_configuration_compressed_in_time(rbc):
    paper = build_layers(rbc.resolved, "paper")
    full = build_layers(rbc.resolved, None)
    cfg = paper.config
    assert (cfg.epochs, cfg.minibatches, cfg.returns, cfg.gamma, cfg.clip) == (4, 1, "monte_carlo", 1.0, 0.1)
    assert (cfg.obs_norm, cfg.digits) == ("scaled", "y, B, B_f")
    # the government's rate of the paper's table 2 (the train section has the released code's 5e-5)
    assert [cfg.get("lr", a) for a in ("Consumer", "Firm", "Government")] == [1e-3, 1e-3, 5e-4]
    assert [full.config.get("lr", a) for a in ("Consumer", "Firm", "Government")] == [1e-3, 1e-3, 5e-5]
    assert [cfg.get("reward_scale", a) for a in ("Consumer", "Firm", "Government")] == [5, 30000, 1000]
    time_scale = {"iterations", "envs", "threads"}  # and the curriculum constants N_a, D_decay
    differ = {k for k, v in cfg.to_dict().items() if full.config.to_dict()[k] != v}
    assert differ - {"per_type"} <= time_scale and paper.curriculum_consts == {"N_a": 240, "D_decay": 90}
    assert cfg.to_dict()["per_type"] == dict(full.config.to_dict()["per_type"], lr={"Government": 5e-4})
    assert paper.curriculum_consts["N_a"] / paper.curriculum_consts["D_decay"] == pytest.approx(3, rel=0.15)
    tr = Trainer(rbc, build_layers(rbc.resolved, "paper", flags={"envs": 2}).config, paper.curriculum_consts)
    assert {a: p.norm.out_dim for a, p in tr.policies.items()} == {"Consumer": 144, "Firm": 155, "Government": 133}
    obs = tr.env.reset()
    z = tr.policies["Firm"].norm(obs["Firm"].reshape(-1, obs["Firm"].shape[-1]).float())
    assert torch.allclose(z[:, :10], torch.full_like(z[:, :10], 0.4))  # initial price 1000 / 2500
    assert float(z.min()) >= 0 and float(z.max()) <= 1  # every input of the paper's encoding in [0, 1] at reset


def test_nan_in_a_real_model_names_the_equation(tmp_path):
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["train", str(MODELS / "cournot.econ"), "--set", "a=inf", "--out", str(out),
                                    "--quiet"])
    assert res.exit_code == 1
    assert "non-finite reward of agent type `Firm`" in res.output
    assert "`P` at" in res.output and "P = max(a - b * Q, 0)`" in res.output


def test_entropy_exclude_names_the_columns_without_a_bonus(rbc):
    layers = build_layers(rbc.resolved, None, {"envs": "2"})
    layers.config.set("entropy_exclude", "demand", "Consumer")
    tr = Trainer(rbc, layers.config, layers.curriculum_consts)
    assert tr.entropy_bonus_columns("Consumer") == ((False,) * 10 + (True, True), ())
    assert tr.entropy_bonus_columns("Firm") == (None, None)  # not excluded: the unchanged bonus
    joint = build_layers(rbc.resolved, None, {"envs": "2", "entropy_exclude": "wage"})  # any component names it
    joint_tr = Trainer(rbc, joint.config, joint.curriculum_consts)
    assert joint_tr.entropy_bonus_columns("Firm") == ((False,), ())
    assert joint_tr.entropy_bonus_columns("Consumer") == (None, None)  # set for all types, not its action
    m = tr.iterate()
    assert m["Consumer/entropy"] > 0


def test_entropy_exclude_of_an_unknown_action_is_refused(rbc):
    layers = build_layers(rbc.resolved, None, {"envs": "2"})
    layers.config.set("entropy_exclude", "hour", "Consumer")
    with pytest.raises(ConfigError, match="`hour`, which is not an action of `Consumer`"):
        Trainer(rbc, layers.config, layers.curriculum_consts)
