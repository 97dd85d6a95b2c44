"""Read Minari datasets a user already has locally into the D4RL dict layout (``minari:<id>`` data paths).

    load_minari("mujoco/hopper/medium-v0", task="hopper-medium-mage")   # or load_dataset("minari:mujoco/...")

The dataset must already be in the local Minari root (``$MINARI_DATASETS_PATH``, else minari's default
``~/.minari/datasets``); it is opened with ``minari.load_dataset(id, download=False)``. Nothing is ever
downloaded: a missing dataset raises ``DatasetNotFoundError`` naming the root and the command that fetches
it (``minari download <id>``, the user's choice).

The result is what ``mage.data.d4rl_io.load_dataset`` returns for a D4RL file, validated by the same checks
(``mage.data.checks.validate_dataset``: keys, dtypes, lengths, the task's dims, finiteness):

- episodes concatenated in the stored order; row t of an episode is (s_t, a_t, r_t, terminal_t, timeout_t);
- ``observations``: each episode's first T observations (Minari stores T + 1: the last one is the final
  next-observation), float32 like D4RL's files; dict observations are flattened by
  ``mage.envs.goal_obs.flatten_goal_obs`` (the task layer's rules, by the dataset's env id: Kitchen to D4RL's
  60-dim vector, AntMaze to its 29, PointMaze to (x, y, vx, vy)) and a maze ``desired_goal`` becomes
  ``infos/goal`` like our maze2d files;
- ``actions``, ``rewards`` float32; ``terminals`` = Minari ``terminations``; ``timeouts`` = ``truncations``
  on the last step of an episode that ended by truncation (a termination wins, as in our hopper recipes). An
  episode stored with no end flag on its last step (not what ``minari.DataCollector`` writes) gets a
  timeout there, so it stays its own episode; an end flag before the last step is refused;
- ``next_observations`` (observations 1..T) for the ``mujoco/`` namespace only: D4RL's gym-mujoco files and
  our hopper files carry it, D4RL's maze, antmaze, kitchen and adroit files do not;
- ``infos/<key>`` for every numeric per-step info array (nested dicts joined with ``/``), first T rows;
- ``metadata/source`` (``minari``), ``metadata/minari_id``, ``metadata/env_id``, ``metadata/minari_version``
  and, when known, ``metadata/task``.

So ``mage.data.episodes.split_episodes`` gives back exactly the Minari episodes. Beyond the dims, the dataset's
env (``env_spec.id``) must be the one the task runs (``TaskSpec.base_env`` or ``env_id``): PointMaze data has
maze2d's dims but is not maze2d's env, and Minari's AntMaze data is recorded in gymnasium-robotics' maze frame
(other maps, start and goal cells: Farama's generation script), not the D4RL frame of our ``antmaze-*`` tasks.

Minari ids known to us (``MINARI_IDS``: our task name -> ids that train as that task), verified against public
sources, not by downloading: ``D4RL/pointmaze/{umaze,medium,large}-v2`` in the folder listing of the
``farama-minari/D4RL`` Hugging Face dataset (``D4RL/pen/human-v2`` too); the other ids by their use in public
code (``minari.load_dataset(...)`` / ``minari download ...`` calls, and a quoted ``list_remote_datasets()``
output naming ``mujoco/hopper/{expert,simple,medium}-v0``): ``D4RL/antmaze/{umaze,umaze-diverse,medium-play,
medium-diverse,large-play,large-diverse}-v1``, ``D4RL/kitchen/{complete,partial,mixed}-v2`` and
``D4RL/{pen,door,hammer,relocate}/{human,cloned,expert}-v2``.

Task rows (``MINARI_IDS``): ``kitchen-{complete,partial,mixed}-v0`` and ``{pen,door,hammer,relocate}-
{human,cloned,expert}-v1``: Minari's versions of D4RL's datasets, recorded on the envs our wrappers run
(``FrankaKitchen-v1``, ``AdroitHand<Hand>-v1``); the Adroit ones match D4RL's sizes (door: 6,729 steps in 25
human episodes, 1M in 5,000 expert ones), the Kitchen ones are not compared with D4RL's files;
``hopper-{medium,expert}-mage`` for ``mujoco/hopper/{medium,expert}-v0``, which is Minari's own Hopper-v5 data
(its own policies), neither D4RL's ``hopper-*-v2`` files nor our ``-mage`` recipes: it is listed under the
``-mage`` task of the nearest quality because all hopper tasks share env, spaces, horizon and refs.
``UNLISTED_IDS`` (``mujoco/hopper/simple-v0``, PointMaze, AntMaze) read with ``load_minari`` / ``mage data
info`` but no task trains on them (no PointMaze task; AntMaze's frame).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mage.data.checks import DatasetError, DatasetNotFoundError, task_shapes, validate_dataset
from mage.envs.goal_obs import FLATTEN_ENVS, flatten_goal_obs

MINARI_PREFIX = "minari:"

MINARI_IDS: dict[str, tuple[str, ...]] = {
    "hopper-medium-mage": ("mujoco/hopper/medium-v0",),
    "hopper-expert-mage": ("mujoco/hopper/expert-v0",),
    **{f"kitchen-{m}-v0": (f"D4RL/kitchen/{m}-v2",) for m in ("complete", "partial", "mixed")},
    **{
        f"{hand}-{kind}-v1": (f"D4RL/{hand}/{kind}-v2",)
        for hand in ("pen", "door", "hammer", "relocate")
        for kind in ("human", "cloned", "expert")
    },
}
# Verified ids no task row lists: readable (load_minari, mage data info), not trainable as any task here.
UNLISTED_IDS = (
    "mujoco/hopper/simple-v0",
    *(f"D4RL/pointmaze/{m}-v2" for m in ("umaze", "medium", "large")),
    *(
        f"D4RL/antmaze/{m}-v1"
        for m in ("umaze", "umaze-diverse", "medium-play", "medium-diverse", "large-play", "large-diverse")
    ),
)


def minari_root() -> Path:
    """The local Minari root: ``$MINARI_DATASETS_PATH``, else ``~/.minari/datasets`` (minari's own rule;
    unlike minari's ``get_dataset_path`` this creates nothing)."""
    env = os.environ.get("MINARI_DATASETS_PATH")
    return Path(env).expanduser() if env else Path.home() / ".minari" / "datasets"


def is_minari(name_or_path: str | os.PathLike[str]) -> bool:
    """Whether a dataset name / ``data.path`` is a ``minari:<dataset_id>`` reference."""
    return str(name_or_path).startswith(MINARI_PREFIX)


def minari_dir(dataset_id: str) -> Path:
    """Where the dataset lives in the local root (``<root>/<id>``; its arrays are under ``data/``)."""
    return minari_root() / dataset_id


def minari_present(dataset_id: str) -> bool:
    """The dataset is in the local root (its ``data`` directory exists: minari's own test)."""
    return (minari_dir(dataset_id) / "data").is_dir()


def task_for(dataset_id: str) -> str | None:
    """Our task name that lists ``dataset_id`` in ``MINARI_IDS`` (None: no task row lists it)."""
    return next((t for t, ids in MINARI_IDS.items() if dataset_id in ids), None)


def local_ids(task: str) -> list[str]:
    """The Minari ids of ``task`` present in the local root (``mage data list``)."""
    return [i for i in MINARI_IDS.get(task, ()) if minari_present(i)]


def load_minari(dataset_id: str, *, task: str | None = None) -> dict[str, Any]:
    """Read and validate a local Minari dataset -> the D4RL dict layout (module docstring).

    ``task``: shapes are checked against its spaces and it becomes ``metadata/task`` (default: the task
    listing the id in ``MINARI_IDS``, when the registry has it; else no dims check, as ``load_dataset`` does
    for a file of no known task). A ``minari:`` prefix on ``dataset_id`` is accepted.
    """
    dataset_id = dataset_id.removeprefix(MINARI_PREFIX)
    _check_id(dataset_id)
    where = minari_dir(dataset_id)
    if not minari_present(dataset_id):
        raise DatasetNotFoundError(
            f"Minari dataset {dataset_id!r} is not in the local Minari root {minari_root()} (no "
            f"{where / 'data'}); MAGE never downloads: fetch it with `minari download {dataset_id}` (your "
            f"choice), or point $MINARI_DATASETS_PATH at the root that holds it"
        )
    import minari

    name = f"Minari dataset {dataset_id!r} ({where})"
    try:
        ds = minari.load_dataset(dataset_id, download=False)
        env_spec = ds.spec.env_spec
        episodes = list(ds.iterate_episodes())
    except Exception as e:  # corrupt files, a dataset written by an unsupported Minari version, ...
        raise DatasetError(
            f"{name} cannot be read by minari {minari.__version__} ({type(e).__name__}: {e}); re-fetch it "
            f"with `minari download {dataset_id}`"
        ) from e
    env_id = env_spec.id if env_spec is not None else None
    _check_spaces(name, ds.observation_space, ds.action_space, env_id)
    raw = _to_d4rl(name, episodes, env_id, next_obs=dataset_id.startswith("mujoco/"))
    from mage.envs.registry import TASKS

    listed = task_for(dataset_id) if task_for(dataset_id) in TASKS else None  # once the registry has it
    task = task or listed
    raw.update(
        {
            "metadata/source": "minari",
            "metadata/minari_id": dataset_id,
            "metadata/env_id": str(env_id),
            "metadata/minari_version": ds.minari_version,
            **({"metadata/task": task} if task else {}),
        }
    )
    if task in TASKS:
        _check_env(name, env_id, TASKS[task])
    obs_shape, act_shape = task_shapes(task) if task else (None, None)
    for key, want in (("observations", obs_shape), ("actions", act_shape)):
        got = tuple(np.shape(raw[key])[1:])
        if want is not None and got != tuple(want):
            how = (
                " after flattening (mage.envs.goal_obs)"
                if key == "observations" and str(env_id).startswith(FLATTEN_ENVS)
                else ""
            )
            fix = (
                f"train it as {listed} (--set data.dataset={listed})"
                if listed
                else "pass the task it was made for (--set data.dataset=...)"
            )
            raise DatasetError(
                f"{name}: {key} have {got} per step{how}, but task {task!r} expects {tuple(want)}; the dataset "
                f"(env {env_id}) belongs to another task — {fix}"
            )
    return validate_dataset(where, raw, obs_shape, act_shape)


def _check_id(dataset_id: str) -> None:
    from minari.dataset.minari_dataset import parse_dataset_id

    try:
        parse_dataset_id(dataset_id)
    except (ValueError, TypeError) as e:
        raise DatasetError(
            f"{dataset_id!r} is not a Minari dataset id ({e}); write minari:<namespace>/<name>-v<version>, "
            f"e.g. minari:mujoco/hopper/medium-v0"
        ) from None


def _check_spaces(name: str, obs_space: Any, act_space: Any, env_id: str | None) -> None:
    import gymnasium as gym

    if not isinstance(act_space, gym.spaces.Box):
        raise DatasetError(
            f"{name}: action space {act_space} is not continuous (Box); MAGE reads continuous-action datasets only"
        )
    if isinstance(obs_space, gym.spaces.Dict):
        if not str(env_id).startswith(FLATTEN_ENVS):
            raise DatasetError(
                f"{name}: dict observations ({', '.join(obs_space.spaces)}) of env {env_id!r} have no flattening "
                f"rule; add one to mage.envs.goal_obs (the env wrapper of that family must use the same rule)"
            )
    elif not isinstance(obs_space, gym.spaces.Box):
        raise DatasetError(
            f"{name}: observation space {obs_space} is neither a Box nor a goal dict; not supported"
        )


def _check_env(name: str, env_id: str | None, spec: Any) -> None:
    """The dataset was recorded on the env the task runs (module docstring); unknown env: not checked."""
    runs = getattr(spec, "base_env", None) or spec.env_id
    if env_id is None:
        return
    if spec.family == "antmaze":
        raise DatasetError(
            f"{name}: recorded on {env_id} in gymnasium-robotics' maze frame (other maps, start and goal cells "
            f"than D4RL's); task {spec.name} runs D4RL's frame (mage.envs.antmaze) and no exact conversion is "
            f"known — train {spec.name} on D4RL's file instead (mage data list names it)"
        )
    if env_id != runs:
        raise DatasetError(
            f"{name}: recorded on {env_id}, but task {spec.name} runs {runs}; the data belongs to another env "
            f"— pass a task of that env (--set data.dataset=...) or a dataset recorded on {runs}"
        )


def _to_d4rl(name: str, episodes: list[Any], env_id: str | None, *, next_obs: bool) -> dict[str, Any]:
    """Concatenate Minari episodes into D4RL rows (module docstring)."""
    cols: dict[str, list[np.ndarray]] = {}

    def add(key: str, arr: np.ndarray) -> None:
        cols.setdefault(key, []).append(arr)

    for ep in episodes:
        T = len(ep.rewards)
        where = f"{name}, episode {ep.id}"
        if T == 0:
            continue  # no transition to read (s_0 only)
        obs, goal = ep.observations, None
        if isinstance(obs, Mapping):
            try:
                obs, goal = flatten_goal_obs(obs, env_id)
            except ValueError as e:
                raise DatasetError(f"{where}: {e}") from None
        obs = np.asarray(obs)
        if len(obs) != T + 1:
            raise DatasetError(
                f"{where}: {len(obs)} observations for {T} steps; Minari stores T + 1 (the last is the final "
                f"next-observation) — the dataset is malformed, re-fetch it with `minari download`"
            )
        term = np.asarray(ep.terminations, dtype=bool).reshape(-1)
        trunc = np.asarray(ep.truncations, dtype=bool).reshape(-1)
        act = np.asarray(ep.actions)
        for key, arr in (("actions", act), ("terminations", term), ("truncations", trunc)):
            if len(arr) != T:
                raise DatasetError(
                    f"{where}: {key} has {len(arr)} rows but rewards has {T}; the dataset is malformed"
                )
        early = np.flatnonzero(term[:-1] | trunc[:-1])
        if len(early):
            raise DatasetError(
                f"{where}: an end flag (termination / truncation) at step {early[0]} of {T}, before the last "
                f"step; a Minari episode ends at its flag — the dataset is malformed, re-fetch it"
            )
        timeouts = np.zeros(T, dtype=bool)
        timeouts[-1] = not term[-1]  # truncated, or stored without an end flag: the episode still ends here
        add("observations", obs[:T].astype(np.float32))
        if next_obs:
            add("next_observations", obs[1:].astype(np.float32))
        add("actions", act.astype(np.float32) if act.dtype.kind == "f" else act)
        add("rewards", np.asarray(ep.rewards, dtype=np.float32).reshape(-1))
        add("terminals", term)
        add("timeouts", timeouts)
        infos = _step_infos(ep.infos or {}, T)
        if goal is not None:  # the flattened dict's desired_goal is the goal, as in our maze2d files
            infos["goal"] = np.asarray(goal)[:T].astype(np.float32)
        for key, arr in infos.items():
            add(f"infos/{key}", arr)
    if not cols:
        raise DatasetError(f"{name} has no episode with a step; nothing to train on")
    counts = {k: len(v) for k, v in cols.items()}
    ragged = [k for k, c in counts.items() if c != counts["rewards"]]
    if ragged:
        raise DatasetError(
            f"{name}: infos {', '.join(ragged)} are not recorded in every episode; the dataset is malformed"
        )
    out = {}
    for key, parts in cols.items():
        try:
            out[key] = np.concatenate(parts)
        except ValueError as e:  # per-step shapes differ between episodes
            raise DatasetError(
                f"{name}: {key} changes shape between episodes ({e}); the dataset is malformed"
            ) from None
    return out


def _step_infos(infos: Mapping[str, Any], T: int, prefix: str = "") -> dict[str, np.ndarray]:
    """Numeric per-step info arrays (T or T + 1 rows: Minari records the reset info first), first T rows,
    nested dicts as ``a/b``; anything else (strings, ragged lists) is left out."""
    out: dict[str, np.ndarray] = {}
    for key, val in infos.items():
        if isinstance(val, Mapping):
            out.update(_step_infos(val, T, f"{prefix}{key}/"))
            continue
        arr = np.asarray(val)
        if arr.ndim >= 1 and arr.dtype.kind in "biuf" and len(arr) in (T, T + 1):
            out[f"{prefix}{key}"] = arr[:T]
    return out
