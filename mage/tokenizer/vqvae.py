"""TrajectoryTokenizer: encoder -> multi-scale residual VQ -> condition-guided decoder (stage 1 model).

Windows are built from the generation scheme's channels (RS: [R, s]; RSA: [R, s, a]; S: [s]; A: [a]). The
condition c = (R_0, s_0) drives the decoder's adapters D' and is what L_cond ties the decoded first step to.
L_cond compares the decoded first step's R and s channels with c, so it exists only for schemes that generate
R or s (RS, RSA: (R_0, s_0); S: s_0). Scheme A generates neither: there is no L_cond for it
(``has_cond_loss`` is False), which is a property of the scheme, not a separate "w/o L_cond" switch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mage.config import TokenizerConfig
from mage.schedule import scale_schedule
from mage.tokenizer.networks import Decoder, Encoder
from mage.tokenizer.quantizer import MultiScaleResidualVQ


def scheme_channels(scheme: str, obs_dim: int, act_dim: int) -> int:
    """Ci, the per-step input width of a generation scheme."""
    return {"RS": 1 + obs_dim, "RSA": 1 + obs_dim + act_dim, "S": obs_dim, "A": act_dim}[scheme]


def make_window(
    scheme: str, obs_BHS: torch.Tensor, act_BHA: torch.Tensor, rtg_BH: torch.Tensor
) -> torch.Tensor:
    """x_BHCi in the scheme's channel order (R first, then s, then a)."""
    parts = {
        "RS": (rtg_BH.unsqueeze(-1), obs_BHS),
        "RSA": (rtg_BH.unsqueeze(-1), obs_BHS, act_BHA),
        "S": (obs_BHS,),
        "A": (act_BHA,),
    }
    return torch.cat(parts[scheme], dim=-1)


def masked_mse(rec_BHCi: torch.Tensor, x_BHCi: torch.Tensor, mask_BH: torch.Tensor) -> torch.Tensor:
    """MSE over the real steps of each window (mask 1; the padding past an episode's end is 0): L_rec of stage
    1, and the anchor that keeps D' a decoder while stage 2 trains its adapters."""
    err_BH = F.mse_loss(rec_BHCi, x_BHCi, reduction="none").mean(-1)
    return (err_BH * mask_BH).sum() / mask_BH.sum().clamp_min(1)


def make_cond(obs_BS: torch.Tensor, rtg_B: torch.Tensor) -> torch.Tensor:
    """The condition c = (R_0, s_0), shape (B, 1 + S); shared by the decoder adapters and the transformer."""
    return torch.cat([rtg_B.unsqueeze(-1), obs_BS], dim=-1)


@dataclass
class TokenizerOutput:
    rec_BHCi: torch.Tensor  # reconstruction D'(f_hat, c)
    f_BCh: torch.Tensor  # encoder features (for dead-code restarts)
    idx_list: list[torch.Tensor]  # idx_Bl per scale
    vq_loss: torch.Tensor  # L_vq


class TrajectoryTokenizer(nn.Module):
    def __init__(self, cfg: TokenizerConfig, obs_dim: int, act_dim: int, horizon: int):
        super().__init__()
        self.cfg, self.obs_dim, self.act_dim, self.horizon = cfg, obs_dim, act_dim, horizon
        self.schedule = scale_schedule(horizon, cfg.num_scales, cfg.downsample, cfg.scale_schedule)
        self.in_ch = scheme_channels(cfg.scheme, obs_dim, act_dim)
        self.cond_dim = 1 + obs_dim
        self.encoder = Encoder(self.in_ch, cfg.hidden, cfg.code_dim, cfg.downsample, cfg.num_res_blocks)
        self.quantizer = MultiScaleResidualVQ(
            cfg.codebook_size,
            cfg.code_dim,
            self.schedule,
            cfg.beta,
            cfg.quant_resi,
            cfg.num_phi,
            cfg.dead_code_ema,
        )
        cond_width = cfg.hidden if cfg.cond_decoder else 0
        self.cond_mlp = (
            nn.Sequential(nn.Linear(self.cond_dim, cond_width), nn.SiLU(), nn.Linear(cond_width, cond_width))
            if cfg.cond_decoder
            else None
        )
        self.decoder = Decoder(
            self.in_ch, cfg.hidden, cfg.code_dim, cfg.downsample, cfg.num_res_blocks, cond_width
        )

    # -- channels -------------------------------------------------------------------------------------------
    def make_window(self, obs_BHS: torch.Tensor, act_BHA: torch.Tensor, rtg_BH: torch.Tensor) -> torch.Tensor:
        return make_window(self.cfg.scheme, obs_BHS, act_BHA, rtg_BH)

    def obs_slice(self) -> slice:
        """Where s lives in x (for decoded-state action extraction); errors for the A scheme."""
        if self.cfg.scheme == "A":
            raise ValueError(
                "tokenizer.scheme='A' has no state channels; policy.action_source='decoded' needs RS, RSA or S"
            )
        start = 0 if self.cfg.scheme == "S" else 1
        return slice(start, start + self.obs_dim)

    def act_slice(self) -> slice:
        """Where a lives in x (for the generated-action readout); errors for schemes without actions."""
        if self.cfg.scheme not in ("RSA", "A"):
            raise ValueError(
                f"tokenizer.scheme={self.cfg.scheme!r} generates no actions; "
                "policy.action_source='generated' needs scheme RSA or A"
            )
        start = 0 if self.cfg.scheme == "A" else 1 + self.obs_dim
        return slice(start, start + self.act_dim)

    @property
    def has_cond_loss(self) -> bool:
        """Whether L_cond exists: D' is there and the scheme generates R or s (not scheme A)."""
        return self.cond_mlp is not None and self.cfg.scheme != "A"

    def adapter_parameters(self) -> list[nn.Parameter]:
        """Parameters of D' (condition MLP + FiLM adapters): trainable again in stage 2."""
        if self.cond_mlp is None:
            return []
        params = list(self.cond_mlp.parameters())
        for m in self.decoder.modules():
            if hasattr(m, "adapter") and m.adapter is not None:
                params += list(m.adapter.parameters())
        return params

    # -- stage 1 --------------------------------------------------------------------------------------------
    def forward(self, x_BHCi: torch.Tensor, cond_BCc: torch.Tensor) -> TokenizerOutput:
        """Stage 1: encode, quantise (STE), decode with D'."""
        f_BCh = self.encoder(x_BHCi)
        f_hat_BCh, idx_list, vq_loss = self.quantizer(f_BCh)
        return TokenizerOutput(self.decode(f_hat_BCh, cond_BCc), f_BCh, idx_list, vq_loss)

    def cond_loss(self, rec_BHCi: torch.Tensor, cond_BCc: torch.Tensor) -> torch.Tensor:
        """L_cond = ||D'(Z, R_0)_0 - (R_0, s_0)||^2 on the condition channels present in the scheme; an exact
        0 for scheme A, whose reconstruction has neither R nor s channels (L_cond is undefined there)."""
        scheme = self.cfg.scheme
        if scheme in ("RS", "RSA"):
            return F.mse_loss(rec_BHCi[:, 0, : self.cond_dim], cond_BCc)
        if scheme == "S":
            return F.mse_loss(rec_BHCi[:, 0, : self.obs_dim], cond_BCc[:, 1:])
        return rec_BHCi.new_zeros(())  # scheme A carries neither R nor s

    # -- stage 2 and inference ------------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, x_BHCi: torch.Tensor) -> list[torch.Tensor]:
        """Ground-truth tokens idx_Bl per scale (stage 2 targets)."""
        return self.quantizer.f_to_idx(self.encoder(x_BHCi))

    def decode(self, f_hat_BCh: torch.Tensor, cond_BCc: torch.Tensor) -> torch.Tensor:
        c_BW = self.cond_mlp(cond_BCc) if self.cond_mlp is not None else None
        return self.decoder(f_hat_BCh, c_BW)
