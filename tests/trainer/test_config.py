"""Training settings: the layering defaults → model `train` section → preset → --set → flags."""

from pathlib import Path

import pytest

from econdsl.language import check_model
from econdsl.trainer.config import PER_TYPE, SETTINGS, ConfigError, TrainConfig, build_layers

MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.fixture(scope="module")
def rbc():
    return check_model(MODELS / "rbc_open.econ")


def test_model_train_section_sets_defaults(rbc):
    cfg = build_layers(rbc).config
    assert cfg.iterations == 200000 and cfg.envs == 128 and cfg.hidden == (128, 128)
    assert cfg.get("lr", "Government") == pytest.approx(5e-5)
    assert cfg.get("lr", "Firm") == pytest.approx(1e-3)
    assert cfg.get("reward_scale", "Firm") == 30000


def test_preset_then_sets_then_flags(rbc):
    layers = build_layers(rbc, "quick", {"lr[Firm]": "0.002", "N_a": "40", "iterations": "7"}, {"iterations": 9})
    assert layers.config.envs == 32
    assert layers.config.iterations == 9  # the explicit flag wins over --set and the preset
    assert layers.config.get("lr", "Firm") == 0.002
    assert layers.curriculum_consts == {"N_a": 40.0, "D_decay": 22.0}


def test_model_constant_override_goes_to_the_model(rbc):
    assert build_layers(rbc, sets={"p_x": "1000"}).model_overrides == {"p_x": 1000.0}


@pytest.mark.parametrize("sets, msg", [
    ({"nonsense": "1"}, "neither a training setting"),
    ({"iterations": "1.5"}, "whole number"),
    ({"returns": "td"}, "must be one of"),
    ({"lr[Bank]": "1"}, "not an agent type"),
    ({"epochs[Firm]": "2"}, "per agent type"),
    ({"gamma[Firm]": "1.5"}, "must be ≥ 0 and ≤ 1, not 1.5"),
])
def test_bad_settings_are_named(rbc, sets, msg):
    with pytest.raises(ConfigError, match=msg.replace("[", r"\[").replace("]", r"\]")):
        build_layers(rbc, sets=sets)


def test_unknown_preset(rbc):
    with pytest.raises(ConfigError, match="no preset `fast`.*quick"):
        build_layers(rbc, "fast")


def test_round_trip_and_vocabulary():
    cfg = TrainConfig()
    cfg.set("lr", 5e-5, "Government")
    cfg.set("hidden", "64x32")
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.hidden == (64, 32)
    assert PER_TYPE <= set(SETTINGS) and "per_type" not in SETTINGS


def test_inert_settings_name_what_disables_them():
    from econdsl.trainer.config import inert

    cfg = TrainConfig()
    assert "`obs_norm` is \"running\"" in inert(cfg, "digits")[0]
    assert inert(cfg, "obs_scale") is not None and inert(cfg, "obs_clip") is None
    assert inert(cfg, "gae_lambda") is None
    cfg.obs_norm, cfg.returns = "scaled", "monte_carlo"
    assert inert(cfg, "digits") is None and inert(cfg, "obs_scale") is None
    assert "`obs_norm` is \"scaled\"" in inert(cfg, "obs_clip")[0]
    assert "`returns` is \"monte_carlo\"" in inert(cfg, "gae_lambda")[0]
    assert inert(cfg, "lr") is None


@pytest.mark.parametrize("text", ["p 2500", "p: 0", "p: -1", ": 3", "p: inf", "p: x"])
def test_malformed_obs_scale_is_refused(text):
    with pytest.raises(ConfigError, match="obs_scale"):
        TrainConfig().set("obs_scale", text)


def test_obs_scale_parses():
    from econdsl.trainer.config import parse_scales

    assert parse_scales("p: 2500, θ: 0.01,") == {"p": 2500.0, "θ": 0.01}


def test_settings_named_like_keywords_are_settings(tmp_path):
    # `entropy` and `curriculum` are keywords of the curriculum section; a train section still takes them
    text = (MODELS / "cournot.econ").read_text().replace(
        "    epochs = 4", "    epochs = 4\n    entropy = 0.02\n    curriculum = 0\n"
        "    preset wide\n        entropy[Firm] = 0.05\n    end", 1)
    path = tmp_path / "keywords.econ"
    path.write_text(text)
    result = check_model(path)  # raises on any error
    assert build_layers(result).config.get("entropy", "Firm") == pytest.approx(0.02)
    assert build_layers(result, "wide").config.get("entropy", "Firm") == pytest.approx(0.05)
    assert build_layers(result).config.curriculum is False
