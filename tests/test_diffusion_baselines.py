"""Diffusion planners written here (mage.baselines.diffusion): Diffuser, HD, DD. Tiny sizes: each trains a few
steps on the tiny generated maze2d dataset, saves, loads through the agent registry and acts through the
rollout chunks under every protocol switch; effect tests on the U-Net, the DDPM's inpainting and guidance, the
goal, HD's two levels and the replanning agent; a short overfit; the Ray + MLflow sweep end to end (slow)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from test_baselines import synthetic_episodes, tiny_episodes  # noqa: F401  (tiny_episodes: a fixture)

from mage.baselines.configs import config_for
from mage.baselines.diffusion.checkpoint import build_planner, load_diffusion
from mage.baselines.diffusion.gaussian import GaussianDiffusion, inpaint
from mage.baselines.diffusion.unet import TemporalUnet
from mage.baselines.methods import DIFFUSION_METHODS, get_method
from mage.baselines.train import train_baseline
from mage.config import ConfigError
from mage.data.episodes import Episodes
from mage.eval.jobs import ChunkRunner, RolloutJob
from mage.eval.protocol import EvalProtocol
from mage.eval.registry import make_agent, needs_goal, registered_methods

pytestmark = pytest.mark.usefixtures("one_thread")

TASK = "maze2d-umaze-v1"
METHODS = list(DIFFUSION_METHODS)
TINY_NET = {"dim": 8, "dim_mults": [1, 2], "batch_size": 8, "grad_accumulate": 1, "steps_per_epoch": 5}
TINY = {
    "diffuser": {**TINY_NET, "horizon": 16, "n_diffusion_steps": 4},
    "hd": {**TINY_NET, "jump": 4, "hl_horizon": 16, "hl_diffusion_steps": 3, "ll_diffusion_steps": 3},
    "dd": {**TINY_NET, "horizon": 16, "n_diffusion_steps": 4, "inv_hidden": 16},
}


def planner(method: str, **over: Any) -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = config_for(method, TASK, {**TINY[method], **over})
    return build_planner(method, cfg, 4, 2).eval()


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------------------------------------
# Method table and configs


def test_method_table_registry_and_sourced_configs() -> None:
    for name, m in DIFFUSION_METHODS.items():
        assert m.kind == "diffusion" and m.plans_states and name in registered_methods()
        assert not needs_goal(name)  # usable in track R too
    assert [get_method(m).track for m in METHODS] == ["G", "G", "R"]
    d = config_for("diffuser", TASK)
    assert (d.horizon, d.n_diffusion_steps, d.batch_size, d.learning_rate) == (128, 64, 32, 2e-4)
    assert (d.ema_decay, d.ema_every, d.dim_mults, d.predict_epsilon, d.steps) == (
        0.995,
        10,
        (1, 4, 8),
        False,
        2e6,
    )
    assert [
        (c.horizon, c.n_diffusion_steps)
        for c in (config_for("diffuser", f"maze2d-{m}-v1") for m in ("medium", "large"))
    ] == [(256, 256), (384, 256)]
    hd = config_for("hd", TASK)
    assert (hd.jump, hd.hl_horizon, hd.subgoals, hd.hl_diffusion_steps, hd.ll_diffusion_steps) == (
        15,
        120,
        8,
        64,
        128,
    )
    assert (
        config_for("hd", "maze2d-large-v1").subgoals == 26
        and config_for("hd", "maze2d-medium-v1").subgoals == 17
    )
    dd = config_for("dd", TASK)
    assert (dd.guidance_w, dd.cond_dropout, dd.test_ret, dd.predict_epsilon, dd.dim) == (
        1.2,
        0.25,
        0.9,
        True,
        128,
    )
    for bad in ({"nope": 1}, {"dim": 12}, {"goal_dropout": 2}, {"replan_every": -1}, {"kernel_size": 4}):
        with pytest.raises(ConfigError):
            config_for("diffuser", TASK, bad)
    with pytest.raises(ConfigError, match="hl_horizon"):
        config_for("hd", TASK, {"jump": 15, "hl_horizon": 20})
    with pytest.raises(ConfigError, match="takes a DDConfig"):
        config_for("dd", TASK, config_for("diffuser", TASK))
    with pytest.raises(ConfigError, match="takes a BCConfig"):
        config_for("bc", TASK, config_for("diffuser", TASK))


# ---------------------------------------------------------------------------------------------------------
# The U-Net and the DDPM


def test_unet_depends_on_timestep_and_kept_condition_any_horizon() -> None:
    torch.manual_seed(0)
    net = TemporalUnet(6, dim=8, dim_mults=(1, 2, 4), cond_dim=1).eval()
    x = torch.randn(2, 17, 6)  # 17: not a multiple of 4, padded and cropped
    t0, t9 = torch.zeros(2, dtype=torch.long), torch.full((2,), 9)
    lo, hi, keep, drop = torch.zeros(2, 1), torch.ones(2, 1), torch.ones(2), torch.zeros(2)
    with torch.no_grad():
        out = net(x, t0, lo, keep)
        assert out.shape == x.shape
        assert not torch.allclose(out, net(x, t9, lo, keep), atol=1e-4)  # the diffusion step matters
        assert not torch.allclose(out, net(x, t0, hi, keep), atol=1e-4)  # the kept condition matters
        torch.testing.assert_close(net(x, t0, lo, drop), net(x, t0, hi, drop))  # a dropped one does not
    with pytest.raises(ValueError, match="pass cond_BD"):
        net(x, t0)


def test_inpainting_fixes_the_conditioned_entries_after_every_step() -> None:
    torch.manual_seed(0)
    for eps in (False, True):
        ddpm = GaussianDiffusion(
            TemporalUnet(6, dim=8, dim_mults=(1, 2)), 7, predict_epsilon=eps, temperature=0.7
        )
        s0, goal = torch.randn(3, 4), torch.randn(3, 4)
        known, value = inpaint(
            (3, 12, 6), torch.device("cpu"), [(0, slice(2, 6), s0), (11, slice(2, 6), goal)]
        )
        trace: list[torch.Tensor] = []
        x = ddpm.sample(known, value, generator=gen(), trace=trace)
        assert len(trace) == 7 + 1 and torch.equal(trace[-1], x)
        for x_t in trace:
            assert torch.equal(x_t[:, 0, 2:], s0) and torch.equal(x_t[:, 11, 2:], goal)  # exact, every step
        assert not torch.equal(trace[0][~known], trace[-1][~known])  # the rest was denoised
        loss = ddpm.loss(torch.randn(3, 12, 6), known, torch.ones(12, 6))
        assert loss.ndim == 0 and torch.isfinite(loss)


def test_the_goal_changes_diffusers_plan() -> None:
    p = planner("diffuser")
    obs, g1, g2 = torch.zeros(2, 4), torch.full((2, 4), 0.5), torch.full((2, 4), -0.5)
    a, b, free = p.plan(obs, g1, gen()), p.plan(obs, g2, gen()), p.plan(obs, None, gen())
    assert torch.equal(a.states_BHS[:, -1], g1) and torch.equal(b.states_BHS[:, -1], g2)
    assert torch.equal(a.states_BHS[:, 0], obs) and a.actions_BHA.shape == (2, 16, 2)
    inner = slice(1, -1)  # not only the inpainted end: the states in between follow the goal
    assert (a.states_BHS[:, inner] - b.states_BHS[:, inner]).abs().max() > 1e-3
    assert (a.states_BHS[:, inner] - free.states_BHS[:, inner]).abs().max() > 1e-3


def test_guidance_weight_changes_decision_diffusers_plan() -> None:
    obs, lo, hi = torch.zeros(2, 4), torch.full((2, 1), 0.1), torch.full((2, 1), 0.9)
    plans = {}
    for w in (0.0, 1.0, 1.2, 3.0):
        p = planner("dd", guidance_w=w)
        plans[w] = {
            r: p.plan(obs, None, gen(), returns_B1=ret).states_BHS for r, ret in (("lo", lo), ("hi", hi))
        }
        assert torch.equal(plans[w]["hi"][:, 0], obs)
    torch.testing.assert_close(plans[0.0]["lo"], plans[0.0]["hi"])  # w = 0: the return is ignored
    assert (plans[1.2]["lo"] - plans[1.2]["hi"]).abs().max() > 1e-3  # w > 0: it conditions the plan
    for w in (1.0, 3.0):
        assert (plans[w]["hi"] - plans[1.2]["hi"]).abs().max() > 1e-4  # and w changes the output
    a_BA = planner("dd").inverse(obs, plans[1.2]["hi"][:, 1])
    assert a_BA.shape == (2, 2)


def test_hd_low_level_is_conditioned_on_the_high_levels_subgoals() -> None:
    p = planner("hd")
    obs, goal = torch.zeros(2, 4), torch.full((2, 4), 0.5)
    sub = p.subgoal_plan(obs, goal, gen())
    assert sub.shape == (2, 4, 4) and torch.equal(sub[:, 0], obs) and torch.equal(sub[:, -1], goal)
    plan = p.fill(sub, gen(1))
    assert plan.states_BHS.shape == (2, 13, 4) and plan.actions_BHA.shape == (2, 13, 2)
    torch.testing.assert_close(plan.states_BHS[:, ::4], sub, rtol=0, atol=0)  # every K-th state = a subgoal
    moved = sub.clone()
    moved[:, 2] += 0.3
    other = p.fill(moved, gen(1))
    torch.testing.assert_close(other.states_BHS[:, 8], moved[:, 2], rtol=0, atol=0)
    near = (other.states_BHS - plan.states_BHS).abs().amax(dim=(0, 2))
    assert near[5:8].min() > 1e-4 and near[9:12].min() > 1e-4  # both segments at the moved subgoal changed
    torch.testing.assert_close(other.states_BHS[:, :5], plan.states_BHS[:, :5])  # the first one did not


def test_denoising_loss_falls_when_overfitting(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """One short trajectory family, a tiny Diffuser, lr 1e-3: the logged loss drops well below its start, and
    each logged epoch is also one progress line on stdout (what a sweep's log shows)."""
    t = np.linspace(0, 1, 40, dtype=np.float32)
    base = np.stack([1 + 2 * t, 1 + t**2, np.full_like(t, 2.0), 2 * t], 1)
    obs = np.concatenate([base + 0.01 * k for k in range(4)])
    eps = synthetic_episodes([40] * 4)
    eps.obs_NS[:] = obs
    eps.act_NA[:] = np.clip(np.gradient(obs[:, :2], axis=0) * 10, -1, 1)
    logs: list[tuple[int, dict[str, float]]] = []
    over = {**TINY["diffuser"], "steps_per_epoch": 20, "learning_rate": 1e-3, "batch_size": 16}
    train_baseline(
        "diffuser", over, eps, out_dir=tmp_path / "d", steps=120, log_fn=lambda m, s: logs.append((s, m))
    )
    losses = [m["loss"] for _, m in logs]
    assert [s for s, _ in logs] == [20, 40, 60, 80, 100, 120] and losses[-1] < 0.6 * losses[0], losses
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("[diffuser] step ")]
    assert [ln.split()[2] for ln in lines] == ["20/120", "40/120", "60/120", "80/120", "100/120", "120/120"]
    assert f"loss {losses[-1]:.4f}" in lines[-1] and lines[-1].endswith("about 0 min left")


# ---------------------------------------------------------------------------------------------------------
# Train, save, load through the registry, act through the harness


@pytest.fixture(scope="module")
def trained(tiny_episodes: Episodes, tmp_path_factory: pytest.TempPathFactory):  # noqa: F811
    """Each planner trained 10 steps once per module: (directory, logged (step, metrics))."""
    out: dict[str, tuple[Path, list]] = {}

    def train(method: str) -> tuple[Path, list]:
        if method not in out:
            logs: list[tuple[int, dict[str, float]]] = []
            d = train_baseline(
                method, TINY[method], tiny_episodes, out_dir=tmp_path_factory.mktemp(method) / "run",
                steps=10, dataset=TASK, log_fn=lambda m, s: logs.append((s, m)),
            )  # fmt: skip
            out[method] = (d, logs)
        return out[method]

    return train


PROTOCOLS = [
    EvalProtocol(),
    EvalProtocol(goal="given"),
    EvalProtocol(acting="track"),
    EvalProtocol(goal="given", acting="track", hold=True),  # Diffuser's / HD's published protocol
    EvalProtocol(hold=True),
]


@pytest.mark.parametrize("method", METHODS)
def test_train_save_load_act(method: str, trained, tiny_episodes: Episodes) -> None:  # noqa: F811
    out, logs = trained(method)
    names = ["config.json", "episode_returns.npy", "meta.json", "model.pt", "normalizers.json"]
    assert sorted(p.name for p in out.iterdir()) == names
    assert [s for s, _ in logs] == [5, 10] and all(np.isfinite(v) for _, d in logs for v in d.values())
    loaded = load_diffusion(out)
    assert loaded.meta.kind == "diffusion" and loaded.meta.plans_states and loaded.meta.steps == 10
    if method == "dd":
        assert loaded.config.returns_scale > 0  # resolved from the data and saved
    agent = make_agent(method, str(out), TASK, "cpu", seed=1)
    assert agent.meta.method == method and agent.track == get_method(method).track and agent.plans_states
    obs = np.tile(tiny_episodes.obs_NS[:1], (3, 1))
    goal = np.tile(tiny_episodes.goal_EG[:1], (3, 1))
    agent.reset(3)
    a = agent.act(obs, goal)
    assert a.shape == (3, 2) and np.all(np.abs(a) <= 1.0)
    assert agent.plan_next_state(obs, None).shape == (3, 4)
    with pytest.raises(ValueError, match="observations must be"):
        agent.act(obs[:2])

    runner = ChunkRunner("cpu")
    for (
        proto
    ) in PROTOCOLS:  # a plan every 30 steps keeps this fast; per-step replanning: the agent test, slow
        kw = {"replan_every": 30}
        job = RolloutJob(method, str(out), TASK, 0, None, episodes=2, agent_kwargs=kw, protocol=proto)
        rows, env_steps, _ = runner.run_chunk(job, 0, 2)
        assert len(rows) == 2 and env_steps == 2 * 300
        assert all(r["track"] == proto.track and r["acting"] == proto.acting for r in rows)
        assert all(np.isfinite(r["return"]) for r in rows)
        if proto.hold:
            assert all(r["hold_steps"] >= 0 for r in rows)
    other = next(m for m in METHODS if m != method)
    with pytest.raises(ValueError, match=f"holds baseline '{method}', not '{other}'"):
        make_agent(other, str(out), TASK)
    with pytest.raises(ValueError, match="load it with load_diffusion"):
        make_agent("bc", str(out), TASK)


def test_agent_replans_and_walks_the_plan(trained, tiny_episodes: Episodes) -> None:  # noqa: F811
    """replan_every=0: one plan, waypoints ŝ_1, ŝ_2, ..., then the last state at rest (plan_maze2d.py); the
    own action is the planned a_k (Diffuser) or f(s, ŝ_{k+1}) (DD); replan_every=k plans every k steps."""
    out, _ = trained("diffuser")
    obs = np.tile(tiny_episodes.obs_NS[:1], (2, 1))
    agent = make_agent("diffuser", str(out), TASK, seed=0, replan_every=0)
    agent.reset(2)
    wps = [agent.plan_next_state(obs) for _ in range(18)]
    plan = agent.current_plan()
    assert agent.plans == 1 and plan.shape == (2, 16, 4)
    np.testing.assert_allclose(np.stack(wps[:15], 1), plan[:, 1:], atol=1e-5)
    for wp in wps[15:]:
        np.testing.assert_allclose(wp, np.concatenate([plan[:, -1, :2], np.zeros((2, 2))], 1), atol=1e-5)
    agent.reset(2)
    a0, a1 = agent.act(obs), agent.act(obs)
    acts = agent._actions_BHA * agent._act_div + agent._act_shift
    lo, hi = agent._low.numpy(), agent._high.numpy()
    np.testing.assert_allclose(np.stack([a0, a1], 1), np.clip(acts[:, :2].numpy(), lo, hi), atol=1e-5)
    every3 = make_agent("diffuser", str(out), TASK, seed=0, replan_every=3)
    every3.reset(2)
    for _ in range(7):
        every3.act(obs)
    assert every3.plans == 3  # steps 0, 3, 6

    dd = make_agent("dd", str(trained("dd")[0]), TASK, seed=0)
    dd.reset(2)
    a = dd.act(obs)
    s_n = (torch.as_tensor(obs, dtype=torch.float32) - dd._obs_shift) / dd._obs_div
    a_n = dd.planner.inverse(s_n, dd._states_BHS[:, 1])
    a_ref = (a_n * dd._act_div + dd._act_shift).detach().numpy()
    np.testing.assert_allclose(a, np.clip(a_ref, dd._low.numpy(), dd._high.numpy()), atol=1e-5)
    dd.act(obs)
    assert dd.plans == 2  # DD replans every step by default


def test_baseline_sweep_checks_accept_the_planners() -> None:
    from mage.config import make_config
    from mage.distributed.baselines import prepare_baseline

    cfg = make_config("smoke", {"eval.acting": "track", "eval.goal": "given"})
    for method in METHODS:  # acting=track applies; steps need not be whole epochs
        ecfg, bcfg, n = prepare_baseline(cfg, method, {"dim": 8}, 7)
        assert n == 7 and bcfg.dim == 8 and ecfg.eval.acting == "track"
    with pytest.raises(ConfigError, match="baseline 'hd'.*nope"):
        prepare_baseline(cfg, "hd", {"nope": 1}, 7)
    assert prepare_baseline(make_config("smoke"), "diffuser", {}, 7)[0].eval.goal == "none"  # track R allowed

    from test_sweeps import _ctx

    from sweeps.driver.trial import baseline_overrides, check_trials

    sets = {"baseline.batch_size": "8", "baseline.diffuser.horizon": "64", "baseline.dd.guidance_w": "2"}
    assert baseline_overrides("diffuser", sets) == {"batch_size": "8", "horizon": "64"}
    ctx = _ctx(base_overrides={"eval.acting": "track"}, named_configs={}, baseline_overrides=sets)
    check_trials(ctx, ["mage", *METHODS], ["maze2d-umaze-v1"])  # what main_results / baselines check first
    with pytest.raises(ConfigError, match="no state plan"):
        check_trials(ctx, ["bc"], ["maze2d-umaze-v1"])


@pytest.mark.slow
def test_diffuser_sweep_smoke_on_ray_and_mlflow(tmp_path: Path) -> None:
    """``sweeps/baselines.py --smoke --methods diffuser`` (tiny sizes) on embedded Ray + sqlite MLflow, with the
    published protocol (goal given, tracking, hold)."""
    from test_sweeps import run_sweep_script

    sets = ["baseline.dim=8", "baseline.dim_mults=1,2", "baseline.horizon=32", "baseline.n_diffusion_steps=2"]
    sets += [
        "baseline.grad_accumulate=1",
        "baseline.steps_per_epoch=10",
        "eval.goal=given",
        "eval.acting=track",
        "eval.hold=true",
    ]
    argv = ["--methods", "diffuser", *[a for s in sets for a in ("--set", s)]]
    proc = run_sweep_script("baselines.py", tmp_path, *argv, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    from mage.tracking.query import list_artifacts, search_runs

    uri = f"sqlite:///{tmp_path}/mlruns.db"
    runs = search_runs("mage-baselines", tracking_uri=uri)
    trial = runs[runs["tags.mage.run_type"] == "trial"]
    assert len(trial) == 1 and trial["status"].iloc[0] == "FINISHED"
    row = trial.iloc[0]
    assert (row["tags.mage.method"], row["tags.mage.track"], row["tags.mage.acting"]) == (
        "diffuser",
        "G",
        "track",
    )
    assert row["metrics.baseline/steps"] == 20 and np.isfinite(row["metrics.loss"])
    assert float(row["params.baseline.horizon"]) == 32 and row["metrics.eval/episodes"] == 2
    assert np.isfinite(row["metrics.eval/norm_score"])
    assert "model.pt" in {Path(p).name for p in list_artifacts(row["run_id"], "checkpoint", tracking_uri=uri)}
    assert row["tags.mage.hold"] == "true" and len(runs) == 2  # the sweep and its one trial
