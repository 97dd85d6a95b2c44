"""MAGE: Multi-scale Autoregressive GEneration for offline RL.

Kept free of heavy imports so `analysis/` and the CLI start fast; import submodules directly.
"""

__version__ = "0.1.0"
