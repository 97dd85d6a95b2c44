"""Stage 1: the multi-scale trajectory tokenizer (encoder, residual quantiser, condition-guided decoder)."""

from mage.schedule import scale_schedule
from mage.tokenizer.quantizer import MultiScaleResidualVQ
from mage.tokenizer.vqvae import TrajectoryTokenizer, scheme_channels

__all__ = ["MultiScaleResidualVQ", "TrajectoryTokenizer", "scale_schedule", "scheme_channels"]
