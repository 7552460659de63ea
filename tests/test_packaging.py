"""The package's metadata: CPU-only XGBoost on Linux (no 470 MB of NCCL), an SPDX licence."""

import tomllib
from pathlib import Path

from packaging.requirements import Requirement

PYPROJECT = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())


def _xgboost_for(system: str) -> list[str]:
    """The XGBoost distributions the dependencies select on ``system``."""
    wanted = []
    for line in PYPROJECT["project"]["dependencies"]:
        requirement = Requirement(line)
        applies = requirement.marker is None or requirement.marker.evaluate(
            {"platform_system": system})
        if requirement.name.startswith("xgboost") and applies:
            wanted.append(requirement.name)
    return wanted


def test_linux_gets_the_cpu_only_xgboost_and_other_systems_the_full_one():
    assert _xgboost_for("Linux") == ["xgboost-cpu"]
    assert _xgboost_for("Darwin") == ["xgboost"] and _xgboost_for("Windows") == ["xgboost"]


def test_the_licence_is_an_spdx_expression_with_a_build_backend_that_reads_it():
    assert PYPROJECT["project"]["license"] == "MIT"
    setuptools = next(Requirement(r) for r in PYPROJECT["build-system"]["requires"]
                      if r.startswith("setuptools"))
    assert setuptools.specifier.contains("77.0") and not setuptools.specifier.contains("76.9")


def test_xgboost_imports_and_trains():
    import numpy as np
    import xgboost

    rng = np.random.default_rng(0)
    features = rng.normal(size=(400, 3))
    labels = (features[:, 0] > 0).astype(int)
    model = xgboost.XGBClassifier(n_estimators=10, max_depth=2).fit(features, labels)
    assert model.score(features, labels) > 0.9
