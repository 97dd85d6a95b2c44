"""D4RL's Adroit and Kitchen eval envs on gymnasium-robotics 1.3.1: ``AdroitTaskEnv`` (``mage/<hand>-v1``) and
``KitchenTaskEnv`` (``mage/kitchen-<tasks>-v0``), flat observations in D4RL's layout.

**Adroit** (``AdroitHand{Pen,Door,Hammer,Relocate}-v1``, dense reward; D4RL: ``d4rl/hand_manipulation_suite/
{pen,door,hammer,relocate}_v0.py``, the envs its v1 datasets are evaluated on). The observation vectors
(45 / 39 / 46 / 39) and actions ([-1, 1], scaled to the actuator ranges) are D4RL's. Two fixes:

- reward: since gymnasium-robotics 1.2.1 the door, hammer and relocate rewards start with
  ``+0.1 * |palm - X|`` (X: door handle, hammer, object) where D4RL's start with ``-0.1 * |palm - X|``
  (Gymnasium-Robotics PR 220; fixed only in its v2 envs of 1.4.3). The wrapper subtracts ``0.2 * |palm - X|``
  after each step, which gives D4RL's reward exactly;
- pen: D4RL ends the episode when the pen drops (object z < 0.075; its -5 penalty is in both);
  gymnasium-robotics never ends it. The wrapper terminates there.

``info["success"]`` is gymnasium-robotics' ``goal_achieved`` of the step (D4RL's ``evaluate_success`` wants it
on more than 20 / 25 steps of an episode; the normalised score does not use either).

**Kitchen** (``FrankaKitchen-v1``; D4RL: ``d4rl/kitchen/kitchen_envs.py``, ``adept_envs/franka/
kitchen_multitask_v0.py``). D4RL's observation is ``[robot qpos (9), object qpos (21), goal (30)]`` where the
goal is zero except D4RL's target values of the episode's four subtasks at their indices
(``OBS_ELEMENT_INDICES`` / ``OBS_ELEMENT_GOALS``, identical in both). gymnasium-robotics' ``observation`` is
``[robot qpos 9, robot qvel 9, object qpos 21, object qvel 20]``, so the wrapper returns
``observation[0:9] ++ observation[18:39] ++ goal``. Observation noise: ratio 0.1 on robot and objects
(D4RL's ``robot_noise_ratio``, which its ``get_obs`` applies to both; gymnasium-robotics defaults to 0.01 and
0.0005); the per-joint amplitudes are gymnasium-robotics' ``franka_config.xml``. Reward: subtasks completed
on this step (a subtask counts once), the episode ends when all are done (both). One difference is left:
gymnasium-robotics judges a subtask (distance < 0.3) on the noise-free joint positions, D4RL on the noisy
observation. ``info["success"]``: all subtasks done.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from mage.envs.goal_obs import kitchen_flat, kitchen_goal
from mage.envs.robotics import robotics_module

_ADROIT = {  # hand -> (module, class, (site of the palm, attribute naming X, X is a site?)) for the reward fix
    "pen": ("adroit_pen", "AdroitHandPenEnv", None),
    "door": ("adroit_door", "AdroitHandDoorEnv", ("grasp_site_id", "handle_site_id", True)),
    "hammer": ("adroit_hammer", "AdroitHandHammerEnv", ("S_grasp_site_id", "obj_body_id", False)),
    "relocate": ("adroit_relocate", "AdroitHandRelocateEnv", ("S_grasp_site_id", "obj_body_id", False)),
}
PEN_DROP_Z = 0.075  # D4RL PenEnvV0: the pen has dropped below this height
KITCHEN_NOISE = 0.1  # D4RL KitchenV0.robot_noise_ratio (robot and objects)


class AdroitTaskEnv(gym.Env):
    """D4RL's ``<hand>-v0`` env on gymnasium-robotics' ``AdroitHand<Hand>-v1`` (module docstring)."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, hand: str = "pen") -> None:
        if hand not in _ADROIT:
            raise ValueError(f"hand={hand!r} must be one of {', '.join(_ADROIT)}")
        module, cls, self._fix = _ADROIT[hand]
        self.hand = hand
        env_cls = getattr(robotics_module(f"gymnasium_robotics.envs.adroit_hand.{module}"), cls)
        self.inner = env_cls(reward_type="dense")
        self.observation_space = self.inner.observation_space
        self.action_space = self.inner.action_space

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        obs, _ = self.inner.reset(seed=seed)
        return obs, {"success": False}

    def d4rl_reward_correction(self) -> float:
        """D4RL's reward minus gymnasium-robotics' in the current state: ``-0.2 * |palm - X|`` (0 for pen)."""
        if self._fix is None:
            return 0.0
        palm_attr, x_attr, x_is_site = self._fix
        data = self.inner.data
        palm = data.site_xpos[getattr(self.inner, palm_attr)]
        x = (data.site_xpos if x_is_site else data.xpos)[getattr(self.inner, x_attr)]
        return -0.2 * float(np.linalg.norm(palm - x))

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, reward, _, _, info = self.inner.step(action)
        reward = float(reward) + self.d4rl_reward_correction()
        dropped = self.hand == "pen" and self.inner.data.xpos[self.inner.obj_body_id][2] < PEN_DROP_Z
        return obs, reward, bool(dropped), False, {"success": bool(info["success"])}

    def close(self) -> None:
        self.inner.close()


class KitchenTaskEnv(gym.Env):
    """D4RL's kitchen env (its four subtasks ``tasks``) on gymnasium-robotics' ``FrankaKitchen-v1``."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self, tasks: Sequence[str] = ("microwave", "kettle", "light switch", "slide cabinet")
    ) -> None:
        kitchen = robotics_module("gymnasium_robotics.envs.franka_kitchen.kitchen_env")
        self.tasks = tuple(tasks)
        self.inner = kitchen.KitchenEnv(
            tasks_to_complete=list(self.tasks),
            terminate_on_tasks_completed=True,
            remove_task_when_completed=True,
            object_noise_ratio=KITCHEN_NOISE,
            robot_noise_ratio=KITCHEN_NOISE,
        )
        self.goal = kitchen_goal({t: kitchen.OBS_ELEMENT_GOALS[t] for t in self.tasks})  # D4RL _get_task_goal
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(60,), dtype=np.float64)
        self.action_space = self.inner.action_space

    def _flat(self, obs: dict[str, Any]) -> np.ndarray:
        return kitchen_flat(obs["observation"], self.goal)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        obs, _ = self.inner.reset(seed=seed)
        return self._flat(obs), {"success": False}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, _, info = self.inner.step(action)
        done = len(info["episode_task_completions"]) == len(self.tasks)
        return self._flat(obs), float(reward), bool(terminated), False, {"success": done}

    def close(self) -> None:
        self.inner.close()
