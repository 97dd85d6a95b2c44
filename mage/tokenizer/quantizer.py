"""VAR-style multi-scale residual quantiser over time, with ONE codebook shared by all scales.

Feature maps are channels-first ``f_BCh`` (h = H / downsample latent steps); tokens are ``idx_Bl`` per scale.
The four operations and the stage that uses each (VAR's ``quant.py`` contract):

- ``forward``                   stage 1 (tokenizer training): quantise, STE, VQ loss, usage counts
- ``f_to_idx``                  stage 2 data: ground-truth indices per scale
- ``codes_to_fhat``             stage 2 / inference: (hard or Gumbel-soft) codes per scale -> f_hat
- ``teacher_forcing_inputs``    stage 2: transformer inputs for scales 2..K from ground-truth indices
- ``next_scale_input``          inference: accumulate f_hat and give the next scale's input
- ``inference_tables``          the planner's "fast" backend (plan_fast): the same maps as cached matrices
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MultiScaleResidualVQ", "Phi"]


class Phi(nn.Conv1d):
    """phi(h) = (1 - r) h + r conv3(h): refines an upsampled code map (VAR's ``Phi``, 1-D)."""

    def __init__(self, code_dim: int, resi_ratio: float):
        super().__init__(code_dim, code_dim, kernel_size=3, padding=1)
        self.resi_ratio = abs(resi_ratio)

    def forward(self, h_BCh: torch.Tensor) -> torch.Tensor:
        return h_BCh.mul(1 - self.resi_ratio) + super().forward(h_BCh).mul_(self.resi_ratio)


def _resample(x_BCl: torch.Tensor, length: int, mode: str) -> torch.Tensor:
    if x_BCl.shape[-1] == length:
        return x_BCl
    return F.interpolate(
        x_BCl, size=length, mode=mode, **({"align_corners": False} if mode == "linear" else {})
    )


@dataclass
class ScaleTables:
    """One scale's inference maps in time-major layout (f_hat_BhC), derived from the weights at runtime.

    phi_k(up(z)) = (G_3hl @ z_BlC).view(B, h, 3C) @ W_3CC + b_C: G stacks the linear upsampling shifted by the
    three conv taps (row t*3 + j = up at t + j - 1, zero padded), W folds (1 - r) I + r conv. down_lh is the
    area downsampling of f_hat to the NEXT scale (None after the last). G0_3l / rows0: the same for t = 0 only
    (the action needs f_hat[:, :, 0]); rows0 = how many leading tokens reach t = 0.
    """

    G_3hl: torch.Tensor
    W_3CC: torch.Tensor
    b_C: torch.Tensor
    down_lh: torch.Tensor | None
    G0_3l: torch.Tensor
    rows0: int


class MultiScaleResidualVQ(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        code_dim: int,
        schedule: Sequence[int],
        beta: float = 0.25,
        quant_resi: float = 0.5,
        num_phi: int = 4,
        usage_ema: float = 0.99,
    ):
        super().__init__()
        self.vocab_size, self.code_dim, self.beta = vocab_size, code_dim, beta
        self.schedule = tuple(schedule)
        self.h = self.schedule[-1]
        K = len(self.schedule)
        # min(num_phi, K) convs, scale k uses phi[floor(k * n / K)]: a contiguous partition like VAR's
        # nearest-tick rule, but every phi is used by some scale (no unused parameters under DDP).
        n = min(num_phi, K)
        self.phis = nn.ModuleList(Phi(code_dim, quant_resi) for _ in range(n))
        self.phi_of_scale = [k * n // K for k in range(K)]
        self.codebook = nn.Embedding(vocab_size, code_dim)
        nn.init.uniform_(self.codebook.weight, -1 / vocab_size, 1 / vocab_size)
        self.usage_ema = usage_ema
        self.register_buffer(
            "usage_V", torch.full((vocab_size,), 0.1), persistent=False
        )  # EMA of codes hit per step
        self._tables: tuple[tuple, list[ScaleTables]] | None = None  # runtime cache, not in the state_dict

    @property
    def num_scales(self) -> int:
        return len(self.schedule)

    def phi(self, k: int, h_BCh: torch.Tensor) -> torch.Tensor:
        return self.phis[self.phi_of_scale[k]](h_BCh)

    def lookup(self, x_BlC: torch.Tensor) -> torch.Tensor:
        """Nearest code (L2) for every vector: the single lookup used by every path."""
        with torch.autocast(x_BlC.device.type, enabled=False):  # bf16 distances would tie and flip codes
            x_BlC, w_VC = x_BlC.float(), self.codebook.weight.float()
            d_BlV = x_BlC.pow(2).sum(-1, keepdim=True) - 2 * x_BlC @ w_VC.T + w_VC.pow(2).sum(-1)
        return d_BlV.argmin(-1)

    def upsample_code(self, k: int, z_BlC: torch.Tensor) -> torch.Tensor:
        """phi_k(up(z_k)): a scale's contribution to f_hat, shape (B, C, h)."""
        return self.phi(k, _resample(z_BlC.transpose(1, 2), self.h, "linear"))

    def _quantise(self, f_BCh: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        """Residual quantisation coarse to fine -> (f_hat, idx per scale, VQ loss); f_hat carries no STE yet."""
        f_nograd = f_BCh.detach()
        rest_BCh = f_nograd.clone()
        f_hat = torch.zeros_like(f_nograd)
        idx_list: list[torch.Tensor] = []
        vq_loss = f_BCh.new_zeros(())
        for k, lk in enumerate(self.schedule):
            idx_Bl = self.lookup(_resample(rest_BCh, lk, "area").transpose(1, 2))
            h_BCh = self.upsample_code(k, self.codebook(idx_Bl))
            f_hat = f_hat + h_BCh
            rest_BCh = rest_BCh - h_BCh
            idx_list.append(idx_Bl)
            # VAR: commitment beta * ||sg(f_hat) - f||^2 + codebook ||f_hat - sg(f)||^2, averaged over scales.
            vq_loss = vq_loss + self.beta * F.mse_loss(f_hat.detach(), f_BCh) + F.mse_loss(f_hat, f_nograd)
        return f_hat, idx_list, vq_loss / self.num_scales

    def forward(self, f_BCh: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        """Stage 1: (f_hat with straight-through gradient to f, idx per scale, VQ loss); updates usage EMA."""
        f_hat, idx_list, vq_loss = self._quantise(f_BCh)
        if self.training:
            with torch.no_grad():
                hits_V = torch.zeros_like(self.usage_V)
                for idx_Bl in idx_list:
                    hits_V.index_add_(
                        0, idx_Bl.flatten(), torch.ones_like(idx_Bl.flatten(), dtype=hits_V.dtype)
                    )
                self.usage_V.mul_(self.usage_ema).add_(hits_V, alpha=1 - self.usage_ema)
        return (f_hat.detach() - f_BCh.detach()) + f_BCh, idx_list, vq_loss

    @torch.no_grad()
    def f_to_idx(self, f_BCh: torch.Tensor) -> list[torch.Tensor]:
        """Stage 2 data: ground-truth token maps idx_Bl for k = 1..K."""
        return self._quantise(f_BCh)[1]

    def codes_to_fhat(self, z_list: Sequence[torch.Tensor]) -> torch.Tensor:
        """f_hat = sum_k phi_k(up(z_k)) from code vectors z_BlC per scale (hard lookups or Gumbel-soft mixtures)."""
        f_hat = self.upsample_code(0, z_list[0])
        for k in range(1, len(z_list)):
            f_hat = f_hat + self.upsample_code(k, z_list[k])
        return f_hat

    def idx_to_fhat(self, idx_list: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.codes_to_fhat([self.codebook(idx_Bl) for idx_Bl in idx_list])

    def teacher_forcing_inputs(self, idx_list: Sequence[torch.Tensor]) -> torch.Tensor:
        """Stage 2: x_BLC for scales 2..K (L - l_1 tokens): scale k+1 sees area(f_hat_<=k, l_{k+1})."""
        B = idx_list[0].shape[0]
        f_hat = self.codebook.weight.new_zeros(B, self.code_dim, self.h)
        xs: list[torch.Tensor] = []
        for k in range(self.num_scales - 1):
            f_hat = f_hat + self.upsample_code(k, self.codebook(idx_list[k]))
            xs.append(_resample(f_hat, self.schedule[k + 1], "area").transpose(1, 2))
        if not xs:
            return f_hat.new_zeros(B, 0, self.code_dim)
        return torch.cat(xs, dim=1)

    def next_scale_input(
        self, k: int, f_hat_BCh: torch.Tensor | None, z_BlC: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Inference: add scale k's codes to f_hat; return (f_hat, input x_BlC of scale k+1, None after the last)."""
        h_BCh = self.upsample_code(k, z_BlC)
        f_hat_BCh = h_BCh if f_hat_BCh is None else f_hat_BCh + h_BCh
        if k + 1 == self.num_scales:
            return f_hat_BCh, None
        return f_hat_BCh, _resample(f_hat_BCh, self.schedule[k + 1], "area").transpose(1, 2)

    def train(self, mode: bool = True) -> MultiScaleResidualVQ:
        self._tables = None
        return super().train(mode)

    @torch.no_grad()
    def inference_tables(self) -> list[ScaleTables]:
        """Per-scale matrices for ``next_scale_input`` as matmuls; rebuilt when a phi weight changes (in-place
        updates bump ``_version``, load_state_dict / .to() too), so a cached table is never stale."""
        params = [p for phi in self.phis for p in (phi.weight, phi.bias)]
        key = tuple((p.data_ptr(), p._version, p.dtype) for p in params)
        if self._tables is not None and self._tables[0] == key:
            return self._tables[1]
        w = params[0]
        h, C = self.h, self.code_dim
        tables: list[ScaleTables] = []
        for k, lk in enumerate(self.schedule):
            # The ops applied to an identity give their exact matrices (up: linear, down: area).
            up_lh = _resample(torch.eye(lk, dtype=w.dtype, device=w.device).unsqueeze(0), h, "linear")[0]
            pad_lh = F.pad(up_lh, (1, 1))
            G_3hl = (
                torch.stack([pad_lh[:, j : j + h] for j in range(3)], dim=-1)
                .permute(1, 2, 0)
                .reshape(3 * h, lk)
            )
            phi = self.phis[self.phi_of_scale[k]]
            r = phi.resi_ratio
            W_CCj = phi.weight * r
            W_CCj[:, :, 1] += (1 - r) * torch.eye(C, dtype=w.dtype, device=w.device)
            W_3CC = W_CCj.permute(2, 1, 0).reshape(3 * C, C)  # row j*C + c_in, column c_out
            down = None
            if k + 1 < self.num_scales:
                eye_h = torch.eye(h, dtype=w.dtype, device=w.device).unsqueeze(0)
                down = _resample(eye_h, self.schedule[k + 1], "area")[0].T.contiguous()  # (l_next, h)
            G0_3l = G_3hl[:3]
            nz = G0_3l.abs().sum(0).nonzero()
            rows0 = int(nz.max()) + 1 if nz.numel() else 1
            tables.append(
                ScaleTables(
                    G_3hl.contiguous(),
                    W_3CC.contiguous(),
                    phi.bias * r,
                    down,
                    G0_3l[:, :rows0].contiguous(),
                    rows0,
                )
            )
        self._tables = (key, tables)
        return tables

    @torch.no_grad()
    def restart_dead_codes(self, feats_NC: torch.Tensor, threshold: float = 0.01) -> int:
        """Re-seed codes whose usage EMA fell below ``threshold`` with random recent encoder features (plus a
        little noise so re-seeded twins split). Returns how many were restarted."""
        return self._reseed(self.usage_V < threshold, feats_NC)

    @torch.no_grad()
    def init_codebook(self, feats_NC: torch.Tensor) -> None:
        """Data-dependent init (``tokenizer.codebook_init='data'``): every code a random encoder feature, so the
        codes start at the features' scale. VAR's U(+-1/V) starts them hundreds of times smaller; with one scale (K = 1)
        only a few codes are then used until the first dead-code restarts replace most of the codebook at once."""
        self._reseed(torch.ones_like(self.usage_V, dtype=torch.bool), feats_NC)

    def _reseed(self, mask_V: torch.Tensor, feats_NC: torch.Tensor) -> int:
        n = int(mask_V.sum())
        if n == 0 or feats_NC.shape[0] == 0:
            return 0
        pick = torch.randint(0, feats_NC.shape[0], (n,), device=feats_NC.device)
        new_NC = feats_NC[pick] + 0.01 * feats_NC.std() * torch.randn_like(feats_NC[pick])
        self.codebook.weight.data[mask_V] = new_NC.to(self.codebook.weight.dtype)
        self.usage_V[mask_V] = 0.1  # grace period before the code can be declared dead (again)
        return n
