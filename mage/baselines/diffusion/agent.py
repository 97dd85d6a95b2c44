"""The diffusion planners behind ``mage.agent.Agent`` and ``StatePlanner`` (batched, env units).

Every ``replan_every`` env steps (default 1; 0: once per episode, as Diffuser's ``plan_maze2d.py``) the agent
samples one plan for all B envs from their current observations, with the goal inpainted when the protocol
gives it (Diffuser, HD; DD has no goal input). Between plans it walks the plan: k = steps since the plan.

- ``act`` (acting='own'): Diffuser / HD execute the planned action a_k; DD the inverse dynamics
  f(s_t, ŝ_{k+1}) from the observed state (with k = 0 this is DD's a = f(s_0, ŝ_1)).
- ``plan_next_state`` (acting='track'): ŝ_{k+1}, and past the plan's end its last state with the velocity
  dimensions (2 onward) zeroed: ``plan_maze2d.py``'s waypoint rule, so the tracker holds at the plan's end.

The harness calls exactly one of the two per env step, so each call advances k. Sampling uses the agent's own
``torch.Generator`` (seeded per rollout chunk by the registry), so results do not depend on the actor count.
"""

from __future__ import annotations

import numpy as np
import torch

from mage.baselines.diffusion.checkpoint import LoadedDiffusion
from mage.baselines.diffusion.diffuser import goal_state


class DiffusionAgent:
    plans_states = True

    def __init__(
        self, loaded: LoadedDiffusion, device: str = "cpu", seed: int = 0, replan_every: int | None = None
    ) -> None:
        self.planner = loaded.planner
        self.meta = loaded.meta
        self.track = loaded.meta.track  # the published track (G: Diffuser, HD; R: DD)
        self.device = torch.device(device)
        self.replan_every = loaded.config.replan_every if replan_every is None else int(replan_every)
        if self.replan_every < 0:
            raise ValueError(f"replan_every={self.replan_every} must be >= 0 (0: plan once per episode)")
        n = loaded.normalizers
        self._obs_shift, self._obs_div = (
            torch.as_tensor(v, dtype=torch.float32, device=self.device) for v in (n.obs.shift, n.obs.div)
        )
        self._act_shift, self._act_div = (
            torch.as_tensor(v, dtype=torch.float32, device=self.device) for v in (n.act.shift, n.act.div)
        )
        self._low = torch.as_tensor(loaded.meta.act_low, dtype=torch.float32, device=self.device)
        self._high = torch.as_tensor(loaded.meta.act_high, dtype=torch.float32, device=self.device)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.plans = 0  # plans sampled since the agent was built
        self.reset(1)

    def reset(self, num_envs: int, target_return: float | np.ndarray | None = None) -> None:
        """New episodes; the next call plans. ``target_return`` is not used: DD conditions on its own
        ``test_ret`` (a fraction of the data's best discounted return), Diffuser and HD on no return."""
        self.num_envs = num_envs
        self._states_BHS: torch.Tensor | None = None  # normalised plan
        self._actions_BHA: torch.Tensor | None = None
        self._k = 0

    def observe(self, reward_B: np.ndarray, done_B: np.ndarray) -> None:
        pass

    def _norm_obs(self, obs_BS: np.ndarray) -> torch.Tensor:
        obs_BS_t = torch.as_tensor(np.asarray(obs_BS, dtype=np.float32), device=self.device)
        if obs_BS_t.shape != (self.num_envs, self.meta.obs_dim):
            raise ValueError(
                f"{self.meta.method}: observations must be ({self.num_envs}, {self.meta.obs_dim}) after "
                f"reset({self.num_envs}), got {tuple(obs_BS_t.shape)}"
            )
        return (obs_BS_t - self._obs_shift) / self._obs_div

    def _advance(self, obs_n_BS: torch.Tensor, goal_BG: np.ndarray | None) -> tuple[torch.Tensor, int]:
        """Plan if one is due; returns the plan's normalised states and k, the steps since it was made."""
        if self._states_BHS is None or (self.replan_every > 0 and self._k >= self.replan_every):
            goal_n_BS = None
            if goal_BG is not None and self.meta.track == "G":
                g_BG = torch.as_tensor(np.asarray(goal_BG, dtype=np.float32)[:, :2], device=self.device)
                goal_n_BS = (goal_state(g_BG, self.meta.obs_dim) - self._obs_shift) / self._obs_div
            plan = self.planner.plan(obs_n_BS, goal_n_BS, generator=self.generator)
            self._states_BHS, self._actions_BHA = plan.states_BHS, plan.actions_BHA
            self._k = 0
            self.plans += 1
        states_BHS, k = self._states_BHS, self._k
        assert states_BHS is not None  # planned above
        self._k += 1
        return states_BHS, k

    @torch.no_grad()
    def act(self, obs_BS: np.ndarray, goal_BG: np.ndarray | None = None) -> np.ndarray:
        obs_n_BS = self._norm_obs(obs_BS)
        states_BHS, k = self._advance(obs_n_BS, goal_BG)
        H = states_BHS.shape[1]
        if self._actions_BHA is None:  # DD: inverse dynamics towards the next planned state
            a_n_BA = self.planner.inverse(obs_n_BS, states_BHS[:, min(k + 1, H - 1)])
        else:
            a_n_BA = self._actions_BHA[:, min(k, H - 1)]
        a_BA = a_n_BA * self._act_div + self._act_shift
        return torch.minimum(torch.maximum(a_BA, self._low), self._high).cpu().numpy().astype(np.float64)

    @torch.no_grad()
    def plan_next_state(self, obs_BS: np.ndarray, goal_BG: np.ndarray | None = None) -> np.ndarray:
        states_BHS, k = self._advance(self._norm_obs(obs_BS), goal_BG)
        H = states_BHS.shape[1]
        wp_BS = states_BHS[:, min(k + 1, H - 1)] * self._obs_div + self._obs_shift
        if k + 1 >= H:
            wp_BS[:, 2:] = 0.0  # past the plan's end: its last position at rest
        return wp_BS.cpu().numpy().astype(np.float64)

    def current_plan(self) -> np.ndarray | None:
        """The current plan's states (B, H, S) in env units (None before the first plan)."""
        if self._states_BHS is None:
            return None
        return (self._states_BHS * self._obs_div + self._obs_shift).cpu().numpy()
