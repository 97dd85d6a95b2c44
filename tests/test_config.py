import pytest

from mage.config import PRESETS, ConfigError, ExperimentConfig, TokenizerConfig, make_config


def test_unknown_key_raises_with_path():
    with pytest.raises(ConfigError, match="tokenizer.bogus"):
        ExperimentConfig.from_dict({"tokenizer": {"bogus": 1}})
    with pytest.raises(ConfigError, match="unknown config key"):
        ExperimentConfig.from_dict({"nope": {}})


def test_overrides_and_flatten_round_trip():
    cfg = make_config(
        "paper", {"tokenizer.num_scales": 4, "train.seed": "3", "tokenizer.scale_schedule": "1,2,4,32"}
    )
    assert cfg.tokenizer.num_scales == 4 and cfg.train.seed == 3
    assert cfg.tokenizer.scale_schedule == (1, 2, 4, 32)
    flat = cfg.flatten()
    assert flat["tokenizer.num_scales"] == 4 and "transformer.width" in flat and "policy.gumbel_tau" in flat
    assert ExperimentConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="tokenizer.nums_scales"):
        cfg.with_overrides({"tokenizer.nums_scales": 3})


@pytest.mark.parametrize("preset", list(PRESETS))
def test_presets_build(preset):
    cfg = make_config(preset)
    assert cfg.data.horizon % cfg.tokenizer.downsample == 0


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"scheme": "XS"}, "tokenizer.scheme"),
        ({"downsample": 3}, "power of 2"),
        ({"num_scales": 3, "scale_schedule": (1, 2)}, "scale_schedule"),
    ],
)
def test_tokenizer_validation(kw, match):
    with pytest.raises(ConfigError, match=match):
        TokenizerConfig.from_dict(kw)


def test_width_heads_and_policy_validation():
    with pytest.raises(ConfigError, match="divisible"):
        make_config("paper", {"transformer.width": 100, "transformer.heads": 3})
    with pytest.raises(ConfigError, match="action_source"):
        make_config("paper", {"policy.action_source": "magic"})


def test_rtg_options_validation():
    cfg = make_config("paper", {"data.rtg_horizon": 128, "eval.rtg_update": "hold"})
    assert cfg.data.rtg_horizon == 128 and cfg.eval.rtg_update == "hold"
    with pytest.raises(ConfigError, match="data.rtg_horizon=0"):
        make_config("paper", {"data.rtg_horizon": 0})
    with pytest.raises(ConfigError, match="eval.rtg_update='down' must be one of"):
        make_config("paper", {"eval.rtg_update": "down"})
