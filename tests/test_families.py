"""The other benchmark families on the one task layer (issue 15): HalfCheetah / Walker2d, AntMaze, Adroit and
Kitchen. Spec values, the real envs through our factory (flat D4RL observations, goal, D4RL's reward and
termination, the AntMaze temp-file cleanup), tiny D4RL-layout datasets through the reader, random-agent
rollouts through ``mage.eval``, ``mage data list``; one slow test trains smoke MAGE and d3rlpy BC on a tiny
AntMaze dataset and evaluates both on the real env."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import numpy as np
import pytest

from mage.cli import main
from mage.config import make_config
from mage.data.d4rl_io import DatasetError, file_names, load_dataset, write_d4rl_hdf5
from mage.data.episodes import split_episodes
from mage.data.generate import generate_dataset
from mage.envs import registry
from mage.envs.antmaze import D4RL_EVAL_MAPS
from mage.envs.make import make_batched_env, make_env
from mage.envs.registry import get_spec, list_specs, normalized_score
from mage.eval.agents import RandomAgent
from mage.eval.jobs import RolloutJob
from mage.eval.protocol import EvalProtocol
from mage.eval.rollout import run_episodes

ANT, PEN, KITCHEN = "antmaze-umaze-v2", "pen-human-v1", "kitchen-complete-v0"
CHEETAH, WALKER = "halfcheetah-random-mage", "walker2d-random-mage"
D4RL_FILES = {  # d4rl/infos.py DATASET_URLS basenames
    ANT: "Ant_maze_u-maze_noisy_multistart_False_multigoal_False_sparse_fixed.hdf5",
    "antmaze-large-diverse-v2": "Ant_maze_hardest-maze_noisy_multistart_True_multigoal_True_sparse_fixed.hdf5",
    PEN: "pen-human-v1.hdf5",
    KITCHEN: "mini_kitchen_microwave_kettle_light_slider-v0.hdf5",
    "kitchen-mixed-v0": "kitchen_microwave_kettle_bottomburner_light-v0.hdf5",
    "halfcheetah-medium-replay-v2": "halfcheetah_medium_replay-v2.hdf5",
}


@pytest.fixture(scope="module")
def envs():
    """One env per task through ``make_env`` (unwrapped: our flat wrapper), made once for the module."""
    made: dict[str, object] = {}

    def get(task: str):
        if task not in made:
            made[task] = make_env(task).unwrapped
        return made[task]

    yield get
    for env in made.values():
        env.close()


def test_specs_of_the_new_families():
    assert {s.family for s in list_specs()} == {"maze2d", "locomotion", "antmaze", "adroit", "kitchen"}
    rows = {  # task: (env id, base env, obs, act, horizon, terminates, goal, refs, recipe)
        CHEETAH: ("HalfCheetah-v5", None, 17, 6, 1000, False, 0, (-280.178953, 12135.0), "random-actions"),
        "walker2d-medium-v2": ("Walker2d-v5", None, 17, 6, 1000, True, 0, (1.629008, 4592.3), None),
        ANT: ("mage/antmaze-umaze-v2", "AntMaze_UMaze-v4", 29, 8, 700, True, 2, (0.0, 1.0), None),
        "antmaze-umaze-diverse-v2": ("mage/antmaze-umaze-v2", "AntMaze_UMaze-v4", 29, 8, 700, True, 2, (0, 1), None),
        "antmaze-medium-play-v2": ("mage/antmaze-medium-v2", "AntMaze_Medium-v4", 29, 8, 1000, True, 2, (0, 1), None),
        "antmaze-large-diverse-v2": ("mage/antmaze-large-v2", "AntMaze_Large-v4", 29, 8, 1000, True, 2, (0, 1), None),
        PEN: ("mage/pen-v1", "AdroitHandPen-v1", 45, 24, 100, True, 0, (96.262799, 3076.8331017826877), None),
        "door-cloned-v1": ("mage/door-v1", "AdroitHandDoor-v1", 39, 28, 200, False, 0, (-56.512833, 2880.5693087298737), None),
        "hammer-expert-v1": ("mage/hammer-v1", "AdroitHandHammer-v1", 46, 26, 200, False, 0, (-274.856578, 12794.134825156867), None),
        "relocate-human-v1": ("mage/relocate-v1", "AdroitHandRelocate-v1", 39, 30, 200, False, 0, (-6.425911, 4233.877797728884), None),
        KITCHEN: ("mage/kitchen-microwave-kettle-light-slider-v0", "FrankaKitchen-v1", 60, 9, 280, True, 0, (0, 4), None),
        "kitchen-partial-v0": ("mage/kitchen-microwave-kettle-light-slider-v0", "FrankaKitchen-v1", 60, 9, 280, True, 0, (0, 4), None),
        "kitchen-mixed-v0": ("mage/kitchen-microwave-kettle-bottomburner-light-v0", "FrankaKitchen-v1", 60, 9, 280, True, 0, (0, 4), None),
    }  # fmt: skip
    for task, want in rows.items():
        s = get_spec(task)
        got = (s.env_id, s.base_env, s.obs_dim, s.act_dim, s.horizon, s.terminates, s.goal_dim,
               (s.d4rl_ref_min, s.d4rl_ref_max), s.recipe)  # fmt: skip
        assert got == want, task
        assert (s.act_low, s.act_high, s.maze, s.dataset) == (-1.0, 1.0, None, task)
    names = {s.name for s in list_specs()}
    for env in ("halfcheetah", "walker2d"):
        assert {
            f"{env}-{k}-v2" for k in ("random", "medium", "medium-replay", "medium-expert", "expert")
        } < names
    assert {
        f"{h}-{k}-v1" for h in ("pen", "door", "hammer", "relocate") for k in ("human", "cloned", "expert")
    } < names
    assert normalized_score(ANT, np.array([0.0, 1.0])).tolist() == [0.0, 100.0]  # 100 x success rate
    assert normalized_score(KITCHEN, 4.0) == pytest.approx(100.0)


def test_d4rl_file_names_of_the_new_families():
    for task, d4rl in D4RL_FILES.items():
        assert file_names(task)[-1] == d4rl and get_spec(task).d4rl_file == d4rl


def test_antmaze_is_d4rls_eval_env(envs, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    rr = __import__("gymnasium_robotics.envs.maze.maps", fromlist=["maps"])
    walls = {"umaze": rr.U_MAZE, "medium": rr.MEDIUM_MAZE, "large": rr.LARGE_MAZE}
    for maze, rows in D4RL_EVAL_MAPS.items():  # D4RL's *_TEST maps have gymnasium-robotics' walls
        assert [[int(c == "1") for c in r] for r in rows] == walls[maze]
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # gymnasium-robotics writes ant_maze*.xml here
    goal_cells = {}
    for task, maze in (
        (ANT, "umaze"),
        ("antmaze-medium-play-v2", "medium"),
        ("antmaze-large-play-v2", "large"),
    ):
        env = make_env(task).unwrapped
        assert env.inner.tmp_xml_file_path.startswith(str(tmp_path))  # it was written there ...
        goal_cells[maze] = env.goal_cell.tolist()
        obs, info = env.reset(seed=7)
        assert obs.shape == (29,) and np.abs(obs[:2]).max() <= 0.1  # D4RL frame: the start cell is (0, 0)
        assert np.all(info["goal"] >= env.goal_cell) and np.all(info["goal"] <= env.goal_cell + 1.5)
        env.close()
    assert list(tmp_path.glob("ant_maze*.xml")) == []  # ... and removed by our factory
    assert goal_cells == {"umaze": [0.0, 8.0], "medium": [20.0, 20.0], "large": [32.0, 24.0]}
    env = envs(ANT)
    ant = env.inner.ant_env
    assert (ant.model.opt.timestep, ant.frame_skip) == (0.02, 5)
    assert (ant.model.actuator_gear[:, 0] == 30).all()
    m, rows = ant.model, D4RL_EVAL_MAPS["umaze"]
    blocks = [i for i in range(m.ngeom) if m.geom(i).name.startswith("block_")]
    got = sorted(tuple(np.round(m.geom_pos[i][:2] + env.offset, 6)) for i in blocks)
    want = sorted((4.0 * j - 4, 4.0 * i - 4) for i, r in enumerate(rows) for j, c in enumerate(r) if c == "1")
    assert got == want  # every wall where D4RL puts it: block (i, j) at 4 (j, i) minus the start cell's
    obs, info = env.reset(seed=3)
    np.testing.assert_allclose(
        obs, np.concatenate([ant.data.qpos[:15], ant.data.qvel[:14]]) + np.r_[env.offset, np.zeros(27)]
    )
    again, info2 = env.reset(seed=3)  # env seed s fixes start and goal
    np.testing.assert_array_equal(again, obs)
    np.testing.assert_array_equal(info2["goal"], info["goal"])
    start = env.reset(seed=1)[0][:2]
    for dx, want in ((0.2, True), (3.0, False)):  # reward 1 and the end within 0.5 of the goal (D4RL eval)
        obs, info = env.reset(seed=1, options={"goal": start + (dx, 0.0)})
        obs, r, terminated, truncated, step_info = env.step(np.zeros(8))
        d = np.linalg.norm(obs[:2] - info["goal"])
        assert (r, terminated, step_info["success"], truncated) == (float(want), want, want, False) and (
            d <= 0.5
        ) == want


def _d4rl_adroit_reward(env) -> float:
    """D4RL's dense reward of the current state (d4rl/hand_manipulation_suite/{door,hammer,relocate}_v0.py)."""
    e, d = env.inner, env.inner.data
    if env.hand == "door":
        door = d.qpos[e.door_hinge_addrs]
        r = -0.1 * np.linalg.norm(d.site_xpos[e.grasp_site_id] - d.site_xpos[e.handle_site_id])
        r += -0.1 * (door - 1.57) ** 2 - 1e-5 * np.sum(d.qvel**2)
        return float(r + 2 * (door > 0.2) + 8 * (door > 1.0) + 10 * (door > 1.35))
    palm, obj = d.site_xpos[e.S_grasp_site_id], d.xpos[e.obj_body_id]
    if env.hand == "hammer":
        tool, nail, goal = (
            d.site_xpos[e.tool_site_id],
            d.site_xpos[e.target_obj_site_id],
            d.site_xpos[e.goal_site_id],
        )
        r = -0.1 * np.linalg.norm(palm - obj) - np.linalg.norm(tool - nail) - 10 * np.linalg.norm(nail - goal)
        r -= 1e-2 * np.linalg.norm(d.qvel)
        r += 2 * (obj[2] > 0.04 and tool[2] > 0.04)
        return float(
            r + 25 * (np.linalg.norm(nail - goal) < 0.02) + 75 * (np.linalg.norm(nail - goal) < 0.01)
        )
    target = d.site_xpos[e.target_obj_site_id]
    r = -0.1 * np.linalg.norm(palm - obj)
    if obj[2] > 0.04:
        r += 1.0 - 0.5 * np.linalg.norm(palm - target) - 0.5 * np.linalg.norm(obj - target)
    dist = np.linalg.norm(obj - target)
    return float(r + 10 * (dist < 0.1) + 20 * (dist < 0.05))


def test_adroit_rewards_are_d4rls_and_the_pen_drop_ends_the_episode(envs):
    rng = np.random.default_rng(0)
    for hand, dims in (("door", (39, 28)), ("hammer", (46, 26)), ("relocate", (39, 30))):
        env = envs(f"{hand}-human-v1")
        obs, _ = env.reset(seed=0)
        assert (obs.shape[0], env.action_space.shape[0]) == dims
        for _ in range(5):
            obs, r, terminated, _, info = env.step(rng.uniform(-1, 1, dims[1]))
            assert r == pytest.approx(_d4rl_adroit_reward(env), abs=1e-9) and not terminated
            assert isinstance(info["success"], bool)
    pen = envs(PEN)
    obs, _ = pen.reset(seed=0)
    assert obs.shape == (45,)
    for _ in range(99):
        obs, r, terminated, _, _ = pen.step(rng.uniform(-1, 1, 24))
        if terminated:
            break
    assert terminated and pen.inner.data.xpos[pen.inner.obj_body_id][2] < 0.075  # dropped before step 100


def test_kitchen_observation_is_d4rls_60_dims_and_reward_counts_subtasks(envs):
    import mujoco

    env = envs(KITCHEN)
    obs, _ = env.reset(seed=0)
    d = env.inner.data
    assert obs.shape == (60,) and np.abs(obs[:30] - d.qpos[:30]).max() < 0.05  # qpos + noise (ratio 0.1)
    goal = np.zeros(30)
    goal[[17, 18, 19, 22, 23, 24, 25, 26, 27, 28, 29]] = [
        -0.69,
        -0.05,
        0.37,
        -0.75,
        -0.23,
        0.75,
        1.62,
        0.99,
        0,
        0,
        -0.06,
    ]
    np.testing.assert_array_equal(obs[30:], goal)  # D4RL's task goal: microwave, kettle, light, slide cabinet
    d.qpos[22] = -0.75  # open the microwave
    mujoco.mj_forward(env.inner.model, d)
    obs, r, terminated, _, info = env.step(np.zeros(9))
    assert (r, terminated, info["success"]) == (1.0, False, False)
    assert env.step(np.zeros(9))[1] == 0.0  # a subtask counts once
    d.qpos[[17, 18, 19]] = [-0.69, -0.05, 0.37]
    d.qpos[23:30] = [-0.23, 0.75, 1.62, 0.99, 0, 0, -0.06]
    mujoco.mj_forward(env.inner.model, d)
    obs, r, terminated, _, info = env.step(np.zeros(9))
    assert (r, terminated, info["success"]) == (3.0, True, True)


def _random_rollout(env, task: str, steps: int, cap: int, seed: int = 0) -> dict[str, np.ndarray]:
    """D4RL-layout arrays of uniform random actions on the real env: an episode ends at termination
    (``terminals``) or after ``cap`` steps (``timeouts``); antmaze also stores ``infos/goal`` as D4RL's files."""
    spec, rng = get_spec(task), np.random.default_rng(seed)
    obs, info = env.reset(seed=seed)
    out: dict[str, list] = {
        k: [] for k in ("observations", "actions", "rewards", "terminals", "timeouts", "goal")
    }
    t = 0
    for _ in range(steps):
        a = rng.uniform(-1, 1, spec.act_dim)
        out["observations"].append(obs)
        out["actions"].append(a)
        out["goal"].append(info.get("goal", np.zeros(2)))
        obs, r, terminated, _, _ = env.step(a)
        t += 1
        out["rewards"].append(r)
        out["terminals"].append(terminated)
        out["timeouts"].append(not terminated and t >= cap)
        if terminated or t >= cap:
            (obs, info), t = env.reset(), 0
    arrays = {
        k: np.asarray(v, np.float32) for k, v in out.items() if k not in ("terminals", "timeouts", "goal")
    }
    arrays.update(terminals=np.asarray(out["terminals"]), timeouts=np.asarray(out["timeouts"]))
    if spec.has_goal:
        arrays["infos/goal"] = np.asarray(out["goal"], np.float32)
    return arrays


@pytest.fixture(scope="module")
def family_dirs(tmp_path_factory: pytest.TempPathFactory, envs) -> Path:
    """Tiny datasets: generated halfcheetah / walker2d random-actions files in ``data/`` and D4RL-layout
    random rollouts of antmaze (300 steps), pen (200) and kitchen (120) under D4RL's file names in ``d4rl/``."""
    root = tmp_path_factory.mktemp("families")
    (root / "d4rl").mkdir()
    generate_dataset(CHEETAH, steps=1200, seed=0, out=root / "data" / f"{CHEETAH}.hdf5", progress=False)
    generate_dataset(WALKER, steps=600, seed=0, out=root / "data" / f"{WALKER}.hdf5", progress=False)
    for task, steps, cap in ((ANT, 300, 100), (PEN, 200, 50), (KITCHEN, 120, 40)):
        write_d4rl_hdf5(root / "d4rl" / D4RL_FILES[task], _random_rollout(envs(task), task, steps, cap))
    return root


@pytest.fixture
def family_env(family_dirs: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MAGE_DATA_DIR", str(family_dirs / "data"))
    monkeypatch.setenv("D4RL_DATASET_DIR", str(family_dirs / "d4rl"))
    return family_dirs


def test_tiny_datasets_load_through_the_reader(family_env: Path):
    for task, n, ends in (
        (ANT, 300, 3),
        (PEN, 200, None),
        (KITCHEN, 120, 3),
        (CHEETAH, 1200, 1),
        (WALKER, 600, None),
    ):
        spec = get_spec(task)
        d = load_dataset(task)  # found under D4RL's file name, checked against the spec's dims
        assert d["observations"].shape == (n, spec.obs_dim) and d["actions"].shape == (n, spec.act_dim)
        eps = split_episodes(d)
        assert eps.num_episodes == int((d["terminals"] | d["timeouts"])[:-1].sum()) + 1
        if ends is not None:
            assert int((d["terminals"] | d["timeouts"]).sum()) == ends
    assert load_dataset(ANT)["infos/goal"].shape == (300, 2)
    assert load_dataset(WALKER)["terminals"].sum() > 5  # random walkers fall: episodes end early
    with pytest.raises(DatasetError, match=r"task's space has \(45,\)"):
        load_dataset(family_env / "d4rl" / D4RL_FILES[ANT], task=PEN)
    with pytest.raises(
        DatasetError, match="put D4RL's kitchen_microwave_kettle_bottomburner_light-v0.hdf5 in"
    ):
        load_dataset("kitchen-mixed-v0")


class _Seer(RandomAgent):
    """A random agent that records the goals it is given."""

    def __init__(self, task: str) -> None:
        super().__init__(task=task, seed=0)
        self.goals: list = []

    def act(self, obs_BS, goal_BG=None):
        self.goals.append(None if goal_BG is None else goal_BG.copy())
        return super().act(obs_BS, goal_BG)


class _Zero(RandomAgent):
    def act(self, obs_BS, goal_BG=None):
        return np.zeros((len(obs_BS), self.act_dim))


def _short(monkeypatch: pytest.MonkeyPatch, task: str, horizon: int) -> None:
    """Evaluate ``task`` with a shorter horizon (the harness counts it from the spec)."""
    monkeypatch.setitem(registry.TASKS, task, dataclasses.replace(get_spec(task), horizon=horizon))


def test_random_rollouts_through_the_harness(monkeypatch: pytest.MonkeyPatch):
    _short(monkeypatch, ANT, 30)
    _short(monkeypatch, KITCHEN, 12)
    seer = _Seer(ANT)
    res = run_episodes(seer, ANT, episodes=2, num_envs=2, seed=5, protocol=EvalProtocol(goal="given"))
    assert [r.env_seed for r in res] == [5, 6] and all(r.length <= 30 for r in res)
    assert all(r.ret == float(r.success) and r.norm_score == 100 * r.ret for r in res)  # sparse, ends at goal
    env = make_env(ANT).unwrapped
    np.testing.assert_array_equal(seer.goals[0][1], env.reset(seed=6)[1]["goal"])  # the goal of env seed 6
    env.close()
    for task, n in ((PEN, 2), (KITCHEN, 1), (CHEETAH, 2), (WALKER, 2)):
        res = run_episodes(RandomAgent(task=task, seed=0), task, episodes=2, num_envs=n, seed=0)
        h = get_spec(task).horizon
        assert len(res) == 2 and all(1 <= r.length <= h and np.isfinite(r.norm_score) for r in res), task
        if task == CHEETAH:
            assert all(r.length == 1000 for r in res)  # never terminates
        if task in (PEN, WALKER):
            assert all(r.length < h for r in res), task  # random hands drop the pen, random walkers fall
    one, two = (run_episodes(_Zero(task=WALKER), WALKER, 3, n, seed=4) for n in (1, 2))
    assert [(r.env_seed, r.length) for r in one] == [
        (r.env_seed, r.length) for r in two
    ]  # seed + i, any batch
    assert [r.ret for r in one] == pytest.approx([r.ret for r in two], rel=1e-12)


def test_protocol_switches_on_the_new_families():
    for task in (PEN, KITCHEN, CHEETAH):
        with pytest.raises(ValueError, match="has no goal"):
            RolloutJob("random", None, task, 0, None, 1, protocol=EvalProtocol(goal="given"))
    RolloutJob("random", None, ANT, 0, None, 1, protocol=EvalProtocol(goal="given"))  # AntMaze has a goal
    with pytest.raises(ValueError, match="hold drives maze2d's point mass"):
        RolloutJob("random", None, ANT, 0, None, 1, protocol=EvalProtocol(goal="given", hold=True))
    with pytest.raises(ValueError, match="acting='own'"):
        RolloutJob("random", None, ANT, 0, None, 1, protocol=EvalProtocol(acting="track"))
    venv = make_batched_env(ANT, 1)
    _, goal_BG = venv.reset([0], goals_BG=np.array([[4.0, 0.5]]))
    assert goal_BG.tolist() == [[4.0, 0.5]]
    venv.close()


def test_dataset_defaults_of_the_new_families():
    for dataset, horizon in (
        (WALKER, 32),
        (ANT, 256),
        ("antmaze-large-play-v2", 512),
        (PEN, 32),
        (KITCHEN, 32),
    ):
        data = make_config("cpu", {"data.dataset": dataset}).data
        assert (data.horizon, data.diffuser_resplit) == (horizon, False), dataset


def test_mage_data_list_shows_the_new_families(family_env: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["data", "list"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert set(rows) == {s.name for s in list_specs()}
    assert (
        str(family_env / "d4rl" / D4RL_FILES[ANT]) in rows[ANT] and str(family_env / "data") in rows[CHEETAH]
    )
    for task in ("antmaze-large-diverse-v2", "kitchen-mixed-v0", "halfcheetah-medium-replay-v2"):
        assert "D4RL file only" in rows[task] and f"put D4RL's {D4RL_FILES[task]} in" in rows[task]
    assert "missing (mage data generate walker2d-random-mage)" not in rows[WALKER]
    assert "antmaze" in rows[ANT] and "yes  yes" in rows[ANT]  # terminates, has a goal


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_smoke_mage_and_bc_train_on_tiny_antmaze_and_evaluate_on_the_real_env(
    family_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from mage.baselines.train import train_d3rlpy
    from mage.data.prepare import load_episodes
    from mage.eval.jobs import run_jobs
    from mage.pipeline import run_local
    from mage.policy.checkpoint import load_checkpoint

    tiny = {"data.horizon": 16, "tokenizer.num_scales": 3, "tokenizer.downsample": 2,
            "tokenizer.codebook_size": 32, "tokenizer.code_dim": 8, "tokenizer.hidden": 16,
            "transformer.depth": 1, "transformer.width": 32, "transformer.heads": 2, "policy.inv_hidden": 32,
            "train.batch_size": 16, "train.tokenizer_epochs": 1, "train.policy_epochs": 1,
            "train.steps_per_epoch": 3, "train.warmup_steps": 1, "train.val_batches": 1, "train.device": "cpu",
            "data.dataset": ANT}  # fmt: skip
    cfg = make_config("smoke", tiny)
    ck = run_local(cfg, tmp_path / "mage")
    assert (load_checkpoint(ck).meta.obs_dim, load_checkpoint(ck).meta.act_dim) == (29, 8)
    monkeypatch.chdir(tmp_path)  # d3rlpy writes nothing else, but keep the cwd clean anyway
    eps, _ = load_episodes(cfg.data)
    bc = train_d3rlpy("bc", {"batch_size": 16, "steps_per_epoch": 10, "hidden": [16, 16]}, eps, steps=20,
                      seed=0, out_dir=tmp_path / "bc", dataset=ANT)  # fmt: skip
    jobs = [
        RolloutJob(m, str(p), ANT, seed=0, target_return=None, episodes=2)
        for m, p in (("mage", ck), ("bc", bc))
    ]
    jobs.append(RolloutJob("bc", str(bc), ANT, 0, None, 2, protocol=EvalProtocol(goal="given")))
    df = run_jobs(jobs, num_envs=2, progress=False)
    assert len(df) == 6 and set(df["method"]) == {"mage", "bc"} and (df["length"] <= 700).all()
    assert (df["return"] == df["success"].astype(float)).all() and np.isfinite(df["norm_score"]).all()
    assert df["track"].tolist() == ["R"] * 4 + ["G"] * 2
