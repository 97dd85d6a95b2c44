"""Next-scale transformer: block-causal attention over scales, AdaLN condition, KV-cached generation."""

from mage.transformer.masks import block_causal_mask, level_ids
from mage.transformer.model import NextScaleTransformer

__all__ = ["NextScaleTransformer", "block_causal_mask", "level_ids"]
