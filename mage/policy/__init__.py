"""Stage 2 and acting: next-scale planner, latent inverse dynamics, the MAGE agent."""

from mage.policy.model import MagePolicy
from mage.policy.planner import SamplingConfig, plan, sample_tokens

__all__ = ["MagePolicy", "SamplingConfig", "plan", "sample_tokens"]
