"""The layer contract (tests/layer_contract.py): the checker catches each kind of violation on a fake tree, and
the real mage/, sweeps/ and analysis/ have none. Source only (AST), nothing is imported: fast."""

from __future__ import annotations

import textwrap
from pathlib import Path

import layer_contract as lc
import pytest

REPO = Path(__file__).resolve().parents[1]


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, src in files.items():
        f = root / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(textwrap.dedent(src))
    for top in lc.ROOTS:  # every folder a package
        for d in [root / top, *(p for p in (root / top).rglob("*") if p.is_dir())]:
            (d / "__init__.py").touch()
    return root


CLEAN = {
    "mage/config.py": "import dataclasses\n",
    "mage/data/windows.py": "from mage.config import X\nfrom mage.envs import registry\n",
    "mage/envs/registry.py": "SPECS = {}\n",
    "mage/tokenizer/vq.py": "import torch\nfrom mage.data.windows import W\n",
    "mage/transformer/model.py": "from ..tokenizer import vq\n",  # relative, downward: allowed
    "mage/policy/y.py": "from mage.transformer.model import M\nfrom mage.policy import z\n",
    "mage/policy/z.py": "def f():\n    from mage.tokenizer.vq import V\n",
    "mage/eval/scores.py": "SCORES = {}\n",
    "mage/eval/rollout.py": "from mage.policy.y import f\n",
    "mage/tracking/query.py": "import mlflow\nfrom mage.eval import scores\n",
    "mage/distributed/train.py": "import ray\nfrom ray import tune\nfrom mage.tracking.query import q\n",
    "mage/cli/main.py": "def main():\n    from mage.distributed.train import t\n",
    "sweeps/search.py": "import ray\nfrom mage.policy.y import f\nfrom mage.distributed import train\n",
    "analysis/table.py": "import mlflow\nfrom mage.tracking.query import q\nfrom mage.eval.scores import s\n"
    "from mage.envs.registry import SPECS\nfrom analysis import plots\n",
    "analysis/plots.py": "import matplotlib\n",
}


def test_a_clean_tree_passes(tmp_path):
    rep = lc.check(_tree(tmp_path, CLEAN))
    assert rep.violations == [], rep.format()
    assert len(rep.modules) == len(CLEAN) + 12  # + the __init__ files: mage, 9 subpackages, sweeps, analysis


def test_each_violation_is_reported(tmp_path):
    bad = {
        # layers: upward at module level, in a function, relative, and mage -> sweeps
        "mage/tokenizer/x.py": "from mage.policy.y import f\n",
        "mage/data/up.py": "class C:\n    def m(self):\n        import mage.eval.scores\n",
        "mage/transformer/rel.py": "from ..policy import y\n",
        "mage/tracking/s.py": "def f():\n    from sweeps import search\n",
        "mage/newpkg/thing.py": "X = 1\n",  # not in the layer map
        # confinement
        "mage/data/z.py": "import ray\n",
        "mage/eval/m.py": "def log():\n    from mlflow.tracking import MlflowClient\n",
        "sweeps/uses_mlflow.py": "import mlflow\n",
        # a two-module cycle through function-level imports, and a three-module one through packages
        "mage/envs/a.py": "def f():\n    from mage.envs.b import g\n",
        "mage/envs/b.py": "def g():\n    from mage.envs import a\n",
        "mage/eval/c1.py": "from mage.eval import c2\n",
        "mage/eval/c2.py": "def f():\n    import mage.eval.c3\n",
        "mage/eval/c3.py": "from . import c1\n",
        # sweeps / analysis
        "sweeps/reads_analysis.py": "from analysis.table import T\n",
        "analysis/models.py": "import torch\nfrom mage.policy.y import f\nfrom mage.data import windows\n",
        "analysis/indirect.py": "from mage.tracking.query import q\n",  # allowed, but query loads model code
        "analysis/lazy.py": "def f():\n    import torch\n",  # function level counts too
        "mage/tracking/heavy.py": "import torch\n",
        "analysis/via_tracking.py": "from mage.tracking import heavy\n",  # allowed module, but loads torch
    }
    files = {**CLEAN, **bad, "mage/tracking/query.py": "import mlflow\nfrom mage.policy import y\n"}
    rep = lc.check(_tree(tmp_path, files))
    text = rep.format()
    by_rule: dict[str, list[str]] = {}
    for v in rep.violations:
        by_rule.setdefault(v.rule, []).append(v.message)
    expected = {
        "layer": [
            "mage/tokenizer/x.py:1: mage.tokenizer.x imports mage.policy.y",
            "mage/data/up.py:3: mage.data.up imports mage.eval.scores",
            "mage/transformer/rel.py:1: mage.transformer.rel imports mage.policy.y",
            "mage/tracking/s.py:2: mage.tracking.s imports sweeps.search",
        ],
        "unmapped": ["mage.newpkg "],
        "confinement": [
            "mage/data/z.py:1: mage.data.z imports ray",
            "mage/eval/m.py:2: mage.eval.m imports mlflow.tracking",
            "sweeps/uses_mlflow.py:1: sweeps.uses_mlflow imports mlflow",
        ],
        "cycle": [
            "mage.envs.a -> mage.envs.b -> mage.envs.a",
            "mage.eval.c1 -> mage.eval.c2 -> mage.eval.c3 -> mage.eval.c1",
        ],
        "sweeps": ["sweeps/reads_analysis.py:1: sweeps.reads_analysis imports analysis.table"],
        "analysis": [
            "analysis/models.py:1: analysis.models imports torch",
            "analysis/models.py:2: analysis.models imports mage.policy.y",
            "analysis/models.py:3: analysis.models imports mage.data.windows",
            "analysis/lazy.py:2: analysis.lazy imports torch",
            "importing analysis.indirect loads model code: analysis.indirect -> mage.tracking.query -> mage.policy",
            "importing analysis.via_tracking loads torch: analysis.via_tracking -> mage.tracking.heavy "
            "(mage/tracking/heavy.py:1)",
        ],
    }
    for rule, needles in expected.items():
        for needle in needles:
            assert any(needle in m for m in by_rule.get(rule, [])), f"missing [{rule}] {needle!r} in:\n{text}"
    assert len(by_rule["cycle"]) == 2 and len(by_rule["layer"]) == 4, text
    assert "mage.tokenizer.x" in text and "layer 2 'tokenizer' may not import layer 4" in text


def test_large_files_are_warnings_not_violations(tmp_path):
    rep = lc.check(_tree(tmp_path, {**CLEAN, "mage/policy/big.py": "x = 1\n" * (lc.MAX_LINES + 1)}))
    assert rep.violations == [] and rep.large_files == [("mage/policy/big.py", lc.MAX_LINES + 1)]
    assert "[warning] mage/policy/big.py: 401 lines" in rep.format()


@pytest.mark.parametrize(
    "mod, layer",
    [
        ("mage", 0),
        ("mage.loop", 0),
        ("mage.checkpoint", 0),
        ("mage.data.prepare", 1),
        ("mage.envs", 1),
        ("mage.tokenizer.quantizer", 2),
        ("mage.transformer.fast", 3),
        ("mage.policy.checkpoint", 4),
        ("mage.pipeline", 4),
        ("mage.baselines.dt", 4),
        ("mage.eval.registry", 5),
        ("mage.tracking.query", 6),
        ("mage.cli.train", 7),
        ("mage.__main__", 7),
        ("mage.configs", None),  # prefixes match whole dotted parts only
    ],
)
def test_layer_map(mod, layer):
    assert lc.mage_layer(mod) == layer


def test_the_repo_keeps_the_layer_contract():
    rep = lc.check(REPO)
    print(rep.format())  # pytest -s shows the large-file warnings too
    assert not rep.violations, "layer contract violations (tests/layer_contract.py):\n" + "\n".join(
        map(str, rep.violations)
    )
