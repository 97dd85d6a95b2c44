import pytest

from mage.config import PRESETS, ConfigError, ExperimentConfig, TokenizerConfig, make_config


def test_unknown_key_raises_with_path():
    with pytest.raises(ConfigError, match="tokenizer.bogus"):
        ExperimentConfig.from_dict({"tokenizer": {"bogus": 1}})
    with pytest.raises(ConfigError, match="unknown config key"):
        ExperimentConfig.from_dict({"nope": {}})


def test_overrides_and_flatten_round_trip():
    cfg = make_config(
        "cpu", {"tokenizer.num_scales": 4, "train.seed": "3", "tokenizer.scale_schedule": "1,2,4,32"}
    )
    assert cfg.tokenizer.num_scales == 4 and cfg.train.seed == 3
    assert cfg.tokenizer.scale_schedule == (1, 2, 4, 32)
    flat = cfg.flatten()
    assert flat["tokenizer.num_scales"] == 4 and "transformer.width" in flat and "policy.gumbel_tau" in flat
    assert ExperimentConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="tokenizer.nums_scales"):
        cfg.with_overrides({"tokenizer.nums_scales": 3})


def test_the_literal_none_survives_the_set_grammar():
    """`--set eval.goal=none` reads `none` as None (as for data.rtg_horizon=none); a Literal whose value is the
    string 'none' takes it, a field that is not Optional still refuses None."""
    from mage.config import parse_overrides

    over = parse_overrides(["eval.goal=none", "eval.acting=track"])
    assert over["eval.goal"] is None
    assert make_config("demo", over).eval.goal == "none" and make_config("demo").eval.goal == "given"
    with pytest.raises(ConfigError, match="eval.acting may not be None"):
        make_config("cpu", {"eval.acting": None})


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
        make_config("cpu", {"transformer.width": 100, "transformer.heads": 3})
    with pytest.raises(ConfigError, match="action_source"):
        make_config("cpu", {"policy.action_source": "magic"})


def test_demo_plans_over_each_mazes_horizon_with_its_rtg_over_the_same_steps():
    """`demo` pinned umaze's H = 128 and a 128-step RTG, so `--preset demo` on medium or large planned a fraction
    of their horizons unless both were set by hand. It now takes the maze's plan horizon and conditions on the
    reward over that H; umaze (`make run`) is unchanged, and a set value wins."""
    for dataset, h in [("maze2d-umaze-v1", 128), ("maze2d-medium-v1", 256), ("maze2d-large-multi-v1", 384)]:
        data = make_config("demo", {"data.dataset": dataset}).data
        assert (data.horizon, data.rtg_horizon) == (h, h), dataset
    data = make_config("demo", {"data.dataset": "maze2d-medium-v1", "data.horizon": 128}).data
    assert (data.horizon, data.rtg_horizon) == (128, 128)
    data = make_config("demo", {"data.dataset": "maze2d-large-v1", "data.rtg_horizon": None}).data
    assert (data.horizon, data.rtg_horizon) == (384, None)
    assert (
        make_config("cpu", {"data.dataset": "maze2d-medium-v1"}).data.rtg_horizon is None
    )  # the paper's RTG
    assert make_config("demo", {"data.dataset": "hopper-medium-mage"}).data.horizon == 128  # no maze entry


def test_rtg_options_validation():
    cfg = make_config("cpu", {"data.rtg_horizon": 128, "eval.rtg_update": "hold"})
    assert cfg.data.rtg_horizon == 128 and cfg.eval.rtg_update == "hold"
    with pytest.raises(ConfigError, match="data.rtg_horizon=0"):
        make_config("cpu", {"data.rtg_horizon": 0})
    with pytest.raises(ConfigError, match="eval.rtg_update='down' must be one of"):
        make_config("cpu", {"eval.rtg_update": "down"})


# Every value that can be checked before work starts is checked; the error names the key (issue 11).
BAD_VALUES = [
    ("policy.gumbel_tau", "nan"),
    ("policy.lambda_inv", "inf"),
    ("policy.lambda_cond", -1.0),
    ("policy.inv_hidden", 0),
    ("eval.target_return", "-inf"),
    ("train.batch_size", 0),
    ("train.steps_per_epoch", 0),
    ("train.tokenizer_epochs", 0),
    ("train.policy_epochs", 0),
    ("train.tokenizer_lr", 0.0),
    ("train.policy_lr", -1e-3),
    ("train.policy_lr", "nan"),
    ("train.weight_decay", -0.1),
    ("train.warmup_steps", -1),
    ("train.val_batches", -1),
    ("train.grad_clip", 0.0),
    ("train.num_workers", -1),
    ("train.seed", -1),
    ("data.val_fraction", 1.0),
    ("data.val_fraction", -0.1),
    ("data.max_steps", 0),
    ("data.horizon", 0),
    ("data.rtg_horizon", 0),
    ("transformer.heads", 0),
    ("transformer.depth", 0),
    ("transformer.width", 0),
    ("transformer.mlp_ratio", 0.0),
    ("transformer.dropout", 1.0),
    ("transformer.drop_path", -0.1),
    ("eval.episodes", 0),
    ("eval.num_envs", 0),
    ("eval.seed", -1),
    ("eval.rtg_percentile", 100.5),
    ("eval.rtg_percentile", -1.0),
    ("eval.temperature", 0.0),
    ("eval.top_k", -1),
    ("tokenizer.codebook_size", 1),
    ("tokenizer.codebook_init", "kmeans"),
    ("tokenizer.code_dim", 0),
    ("tokenizer.hidden", 0),
    ("tokenizer.num_res_blocks", -1),
    ("tokenizer.num_scales", 0),
    ("tokenizer.num_phi", 0),
    ("tokenizer.beta", -0.25),
    ("tokenizer.quant_resi", 1.5),
    ("tokenizer.lambda_cond", "nan"),
    ("tokenizer.dead_code_every", 0),
    ("tokenizer.dead_code_ema", 1.0),
    ("tokenizer.downsample", 0),
    # cross-field: the scale schedule must fit H / downsample (smoke: 32 / 4 = 8 latent steps)
    ("tokenizer.num_scales", 9),
    ("data.horizon", 30),
    ("tokenizer.scale_schedule", [1, 2, 4, 16]),
    ("tokenizer.scale_schedule", [1, 4, 2, 8]),
]


@pytest.mark.parametrize("key, value", BAD_VALUES, ids=[f"{k}={v}" for k, v in BAD_VALUES])
def test_every_bad_value_is_a_config_error_naming_the_key(key, value):
    with pytest.raises(ConfigError) as e:
        make_config("smoke", {key: value})
    assert key in str(e.value), str(e.value)


def test_validate_also_checks_a_directly_built_config_and_edge_values_pass():
    from mage.config import DataConfig, TrainConfig

    with pytest.raises(ConfigError, match=r"data.max_steps=0 must be None or >= 1"):
        ExperimentConfig(data=DataConfig(max_steps=0)).validate()
    with pytest.raises(ConfigError, match=r"train.grad_clip=nan must be a finite number"):
        ExperimentConfig(train=TrainConfig(grad_clip=float("nan"))).validate()
    edges = {
        "data.max_steps": None,
        "data.val_fraction": 0.0,
        "eval.rtg_percentile": None,
        "eval.top_k": 0,
        "transformer.dropout": 0.0,
        "tokenizer.quant_resi": 1.0,
        "tokenizer.beta": 0.0,
        "train.warmup_steps": 0,
        "train.val_batches": 0,
        "tokenizer.num_scales": 8,  # exactly H / downsample latent steps
    }
    make_config("smoke", edges).validate()


def test_one_schedule_implementation():
    import mage.config
    import mage.schedule
    import mage.tokenizer.vqvae

    assert mage.tokenizer.vqvae.scale_schedule is mage.config.scale_schedule is mage.schedule.scale_schedule
    assert issubclass(mage.schedule.ScheduleError, ConfigError)


@pytest.mark.parametrize(
    "overrides, key",
    [
        ({"policy.action_source": "generated"}, "policy.action_source='generated'"),  # scheme RS: no actions
        ({"tokenizer.scheme": "A", "policy.action_source": "decoded"}, "policy.action_source='decoded'"),
    ],
)
def test_action_readout_must_read_a_generated_channel(overrides, key):
    with pytest.raises(ConfigError, match=key):
        make_config("smoke", overrides)
    make_config("smoke", {"tokenizer.scheme": "RSA", "policy.action_source": "generated"})


def test_track_lookahead_is_checked_against_the_horizon_only_when_tracking():
    # the default k = 8 does not bind a model that acts on its own
    make_config("smoke", {"data.horizon": 8, "tokenizer.downsample": 2})
    with pytest.raises(ConfigError, match="eval.track_lookahead=8 must be < data.horizon=8"):
        make_config("smoke", {"data.horizon": 8, "tokenizer.downsample": 2, "eval.acting": "track"})
