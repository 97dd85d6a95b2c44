"""Offline-RL baselines from d3rlpy 2.8.1, wrapped, not re-written (docs/baselines.md).

- ``methods``: the method table (``bc`` ... ``dt``, ``bc-goal``, ``iql-goal``, ``dt-goal``); no d3rlpy import.
- ``configs``: one typed config per algorithm, defaults with their sources (CORL maze2d, d3rlpy reproductions).
- ``dataset``: our ``Episodes`` -> ``d3rlpy.dataset.MDPDataset`` (optionally with hindsight goals).
- ``train``: ``train_d3rlpy`` fits and saves one baseline directory (``checkpoint``).
- ``agent``: the ``mage.agent.Agent`` over a loaded baseline (batched; DT with RTG bookkeeping).

d3rlpy is imported only inside the functions that need it (``import d3rlpy`` takes seconds), so importing this
package, or ``mage.eval.registry`` which registers the methods, stays cheap.
"""

from mage.baselines.methods import METHODS, BaselineMethod, get_method

__all__ = ["METHODS", "BaselineMethod", "get_method"]
