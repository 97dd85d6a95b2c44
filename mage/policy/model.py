"""MagePolicy: the next-scale transformer plus the action head, and the stage-2 losses.

The tokenizer is passed in (not owned): it is frozen in stage 2 except its D' adapters, and the agent and
the checkpoint keep it as a separate module.

Action readouts (``policy.action_source``), all returning a normalised a_0 that the agent unnormalises:

- ``latent`` (MAGE): a_0 = I(f_hat[:, :, 0], s_0), the inverse-dynamics head on the aggregated latent.
- ``decoded`` (Decision Diffuser): a_0 = f(s_0, s_1), s_1 from the decoded plan; f trained on real pairs.
- ``generated`` (schemes RSA / A): a_0 = the decoded plan's action channel at t = 0, D'(f_hat, c)[:, 0, a].
  No head of its own; L_inv is the same MSE on this readout of the soft plan (into the transformer through
  the Gumbel tokens, and into D' when its adapters train).

D' in stage 2: its adapters train (``stage2_trains_adapters``) on L_cond, which reads only the decoded first
step. Alone, that moves the adapters to fit step 0 at the cost of the rest of the window: on maze2d-umaze the
decoded plan's position error grew from 0.004 to 0.31 (normalised MSE) in 400 steps, worse than repeating s_0,
and ``acting='track'`` follows that plan (docs/results.md). ``policy.lambda_rec`` keeps stage 1's L_rec on the
ground-truth codes in the objective, so the adapters stay a decoder; 0 is the L_cond-only objective.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mage.config import PolicyConfig, TransformerConfig
from mage.policy.inverse_dynamics import LatentInverseDynamics, StateInverseDynamics
from mage.policy.planner import GREEDY, SamplingConfig, plan, plan_fast
from mage.tokenizer.vqvae import TrajectoryTokenizer, make_cond, masked_mse
from mage.transformer.model import NextScaleTransformer

GREEDY_REFERENCE = SamplingConfig(backend="reference")  # argmax plans in train or eval mode (validation)
NEAR_STEPS = 8  # plan steps of pol/val_plan_mse_near: the default eval.track_lookahead


def stage2_trains_adapters(tokenizer: TrajectoryTokenizer, pcfg: PolicyConfig) -> bool:
    """Whether stage 2 trains D''s adapters: there is a D' and L_cond is on (``lambda_cond > 0``)."""
    return tokenizer.cond_mlp is not None and pcfg.lambda_cond > 0


class MagePolicy(nn.Module):
    def __init__(
        self,
        tcfg: TransformerConfig,
        pcfg: PolicyConfig,
        tokenizer: TrajectoryTokenizer,
        goal_dim: int = 0,
    ):
        super().__init__()
        self.tcfg, self.pcfg = tcfg, pcfg
        self.obs_dim, self.act_dim = tokenizer.obs_dim, tokenizer.act_dim
        self.goal_dim = goal_dim if tcfg.use_goal else 0
        if tcfg.use_goal and goal_dim == 0:
            raise ValueError(
                "transformer.use_goal=True but the data has no goal_G; set transformer.use_goal=False"
            )
        tk = tokenizer.cfg
        self.transformer = NextScaleTransformer(
            tcfg, tokenizer.schedule, tk.code_dim, tk.codebook_size, tokenizer.cond_dim + self.goal_dim
        )
        self.inv: nn.Module | None
        if pcfg.action_source == "latent":
            self.inv = LatentInverseDynamics(
                tk.code_dim, self.obs_dim, self.act_dim, pcfg.inv_hidden, pcfg.inv_use_state
            )
        elif pcfg.action_source == "decoded":
            tokenizer.obs_slice()  # raises for scheme A
            self.inv = StateInverseDynamics(self.obs_dim, self.act_dim, pcfg.inv_hidden)
        elif pcfg.action_source == "generated":
            tokenizer.act_slice()  # raises for schemes RS and S
            self.inv = None  # the decoder's action channel is the readout
        else:
            raise ValueError(f"policy.action_source={pcfg.action_source!r} is not a known action readout")

    def condition(
        self, obs_BS: torch.Tensor, rtg_B: torch.Tensor, goal_BG: torch.Tensor | None
    ) -> torch.Tensor:
        """Transformer condition (R, s[, goal]), all normalised."""
        cond = make_cond(obs_BS, rtg_B)
        if self.goal_dim:
            if goal_BG is None:
                raise ValueError("this policy was trained with transformer.use_goal=True; pass goal_BG")
            cond = torch.cat([cond, goal_BG], dim=-1)
        return cond

    def action(
        self,
        tokenizer: TrajectoryTokenizer,
        f_hat_BCh: torch.Tensor,
        obs_BS: torch.Tensor,
        rtg_B: torch.Tensor,
    ) -> torch.Tensor:
        """Normalised a_0 from a plan f_hat, by ``policy.action_source``."""
        if self.pcfg.action_source == "latent":
            return self.inv(f_hat_BCh, obs_BS)
        return self.action_from_decoded(
            tokenizer, tokenizer.decode(f_hat_BCh, make_cond(obs_BS, rtg_B)), obs_BS
        )

    def action_from_decoded(
        self, tokenizer: TrajectoryTokenizer, rec_BHCi: torch.Tensor, obs_BS: torch.Tensor
    ) -> torch.Tensor:
        """The ``decoded`` / ``generated`` readouts of a decoded plan D'(f_hat, c)."""
        if self.pcfg.action_source == "generated":
            return rec_BHCi[:, 0, tokenizer.act_slice()]
        return self.inv(obs_BS, rec_BHCi[:, 1, tokenizer.obs_slice()])

    def act(
        self,
        tokenizer: TrajectoryTokenizer,
        obs_BS: torch.Tensor,
        rtg_B: torch.Tensor,
        goal_BG: torch.Tensor | None = None,
        sampling: SamplingConfig | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Inference on normalised inputs: plan K scales with ``sampling.backend``, then a_0 (normalised)."""
        sampling = sampling or GREEDY
        cond = self.condition(obs_BS, rtg_B, goal_BG)
        if sampling.backend == "fast" and self.pcfg.action_source == "latent":  # I reads only f_hat[:, :, 0]
            self._check_fast(tokenizer)
            z0_BC = plan_fast(
                self.transformer, tokenizer.quantizer, cond, sampling, generator, first_step_only=True
            )
            return self.inv.from_first_step(z0_BC, obs_BS)
        return self.action(tokenizer, self._plan(tokenizer, cond, sampling, generator), obs_BS, rtg_B)

    def _check_fast(self, tokenizer: TrajectoryTokenizer) -> None:
        if self.training or tokenizer.training:
            raise RuntimeError(
                "SamplingConfig.backend='fast' is eval-only (no dropout, no autograd): call .eval() on the "
                "policy and the tokenizer, or use backend='reference'"
            )

    def _plan(
        self,
        tokenizer: TrajectoryTokenizer,
        cond: torch.Tensor,
        sampling: SamplingConfig,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        """f_hat of all K scales with the chosen backend."""
        if sampling.backend == "reference":
            return plan(self.transformer, tokenizer.quantizer, cond, sampling, generator)[0]
        self._check_fast(tokenizer)
        return plan_fast(self.transformer, tokenizer.quantizer, cond, sampling, generator)

    @torch.inference_mode()
    def plan_states(
        self,
        tokenizer: TrajectoryTokenizer,
        obs_BS: torch.Tensor,
        rtg_B: torch.Tensor,
        goal_BG: torch.Tensor | None = None,
        sampling: SamplingConfig | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """The decoded state plan (B, H, S), normalised: plan all K scales, decode with D'(Z, R0, s0).
        What ``acting='track'`` follows (its index 1 is the planned next state)."""
        sampling = sampling or GREEDY
        cond = self.condition(obs_BS, rtg_B, goal_BG)
        f_hat_BCh = self._plan(tokenizer, cond, sampling, generator)
        rec_BHCi = tokenizer.decode(f_hat_BCh, make_cond(obs_BS, rtg_B))
        return rec_BHCi[:, :, tokenizer.obs_slice()]

    def losses(
        self, tokenizer: TrajectoryTokenizer, batch: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Stage 2: L_CE (teacher forced, 1/L per token) + lambda_inv L_inv + lambda_cond L_cond
        + lambda_rec L_rec.

        L_inv and L_cond see Gumbel-softmax soft tokens, so their gradients reach the transformer. L_cond is
        an exact 0 where it does not exist (no D', scheme A: ``tokenizer.has_cond_loss``) or lambda_cond = 0.
        L_rec is stage 1's masked reconstruction of D'(f_gt, c) on the ground-truth codes, reported for every
        row and in the loss only where the adapters train (``stage2_trains_adapters``), the only parameters
        its gradient reaches.
        """
        obs_BHS, act_BHA, rtg_BH = batch["obs_HS"], batch["act_HA"], batch["rtg_H"]
        q = tokenizer.quantizer
        with torch.no_grad():
            x_BHCi = tokenizer.make_window(obs_BHS, act_BHA, rtg_BH)
            idx_list = tokenizer.encode(x_BHCi)
            x_BLC = q.teacher_forcing_inputs(idx_list)
            f_gt_BCh = q.idx_to_fhat(idx_list)
        cond_tok = make_cond(obs_BHS[:, 0], rtg_BH[:, 0])
        logits_BLV = self.transformer(self.condition(obs_BHS[:, 0], rtg_BH[:, 0], batch.get("goal_G")), x_BLC)
        tgt_BL = torch.cat(idx_list, dim=1)
        ce = F.cross_entropy(logits_BLV.flatten(0, 1), tgt_BL.flatten())
        acc = (logits_BLV.detach().argmax(-1) == tgt_BL).float().mean()

        y_BLV = F.gumbel_softmax(logits_BLV, tau=self.pcfg.gumbel_tau, hard=self.pcfg.gumbel_hard)
        z_list = list((y_BLV @ q.codebook.weight).split(list(q.schedule), dim=1))
        f_soft_BCh = q.codes_to_fhat(z_list)
        a0_BA, s0_BS = act_BHA[:, 0], obs_BHS[:, 0]
        use_cond = tokenizer.has_cond_loss and self.pcfg.lambda_cond > 0
        generated = self.pcfg.action_source == "generated"
        # D'(f_soft, c): the decoded soft plan, once, for the terms that read it
        rec_soft = tokenizer.decode(f_soft_BCh, cond_tok) if use_cond or generated else None
        if self.pcfg.action_source == "latent":
            # I learns on ground-truth latents (clean targets) and on the soft plan (gradient into the transformer).
            inv = 0.5 * (
                F.mse_loss(self.inv(f_gt_BCh, s0_BS), a0_BA) + F.mse_loss(self.inv(f_soft_BCh, s0_BS), a0_BA)
            )
        elif generated:
            # No head to fit: the readout itself on the soft plan (gradient into the transformer and D').
            inv = F.mse_loss(self.action_from_decoded(tokenizer, rec_soft, s0_BS), a0_BA)
        else:
            inv = F.mse_loss(
                self.inv(s0_BS, obs_BHS[:, 1]), a0_BA
            )  # Decision Diffuser: f on real (s_t, s_t+1)
        if use_cond:
            cond = tokenizer.cond_loss(rec_soft, cond_tok)
        else:
            cond = ce.new_zeros(())
        # Always measured (``pol/val_rec`` shows whether the plans decode); it trains only D''s adapters.
        rec = masked_mse(tokenizer.decode(f_gt_BCh, cond_tok), x_BHCi, batch["mask_H"])
        loss = ce + self.pcfg.lambda_inv * inv + self.pcfg.lambda_cond * cond
        if stage2_trains_adapters(tokenizer, self.pcfg):
            loss = loss + self.pcfg.lambda_rec * rec
        out = {"loss": loss, "ce": ce, "inv": inv, "cond": cond, "rec": rec, "acc": acc}
        if not self.training and tokenizer.cfg.scheme != "A":  # validation only: K forward passes per batch
            out.update(self.plan_errors(tokenizer, batch))
        return out

    @torch.no_grad()
    def plan_errors(
        self, tokenizer: TrajectoryTokenizer, batch: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """How far the greedy plan from (s_0, R_0) lands from the window's real states (normalised masked MSE,
        states only): ``plan_mse`` over the window, ``plan_mse_near`` over steps 1..NEAR_STEPS (what
        ``acting='track'`` follows at its default lookahead), and ``plan_mse_s0`` for the plan that repeats s_0.

        L_CE averages over every token of every scale, so its value depends on K (K = 8 has many fine-scale
        tokens, K = 1 only full-resolution ones) and cannot compare depths; these errors are in state space,
        on the same windows for every K."""
        obs_BHS, mask_BH = batch["obs_HS"], batch["mask_H"]
        s0_BS, r0_B = obs_BHS[:, 0], batch["rtg_H"][:, 0]
        plan_BHS = self.plan_states(tokenizer, s0_BS, r0_B, batch.get("goal_G"), GREEDY_REFERENCE)
        still_BHS = s0_BS.unsqueeze(1).expand_as(obs_BHS)
        near = slice(1, NEAR_STEPS + 1)
        return {
            "plan_mse": masked_mse(plan_BHS, obs_BHS, mask_BH),
            "plan_mse_near": masked_mse(plan_BHS[:, near], obs_BHS[:, near], mask_BH[:, near]),
            "plan_mse_s0": masked_mse(still_BHS, obs_BHS, mask_BH),
        }
