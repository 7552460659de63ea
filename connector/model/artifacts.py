"""Versioned model directories that load without executing code.

    model_dir/
      current            text file naming the live version, e.g. "v0003" (replaced atomically)
      v0001/ v0002/ ...  one directory per training run
        card.json        the model card (data window, counts, candidates, choice, cut points...)
        encoder.json     feature specs and learned vocabulary
        model.json       estimator parameters, calibration, reference quantiles, tier cuts
        booster.ubj      tree candidates only: the XGBoost model as UBJSON
        holdout.json     holdout outcomes and probabilities, for the report's charts
        profile.json     binned shares of the training inputs and scores, for the report's drift

Nothing is pickled: JSON and XGBoost's own UBJSON format only, so a model file from elsewhere
cannot run code when loaded. A version directory is written under a temporary name and renamed
into place, so a crash never leaves a half-written version behind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from connector.errors import ModelMissingError
from connector.model.features import FeatureEncoder
from connector.model.candidates import from_state
from connector.model.profile import FORMAT as PROFILE_FORMAT
from connector.model.scoring import ScoringModel

_VERSION = re.compile(r"^v(\d{4,})$")


def versions(model_dir: Path) -> list[str]:
    """Saved versions, oldest first."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    found = [p.name for p in model_dir.iterdir() if p.is_dir() and _VERSION.match(p.name)]
    return sorted(found, key=lambda name: int(name[1:]))


def next_version(model_dir: Path) -> str:
    """The name the next saved version will get."""
    existing = versions(model_dir)
    return f"v{int(existing[-1][1:]) + 1 if existing else 1:04d}"


def current_version(model_dir: Path) -> str | None:
    """The live version named by the ``current`` pointer, or None."""
    pointer = Path(model_dir) / "current"
    if not pointer.is_file():
        return None
    name = pointer.read_text(encoding="utf-8").strip()
    return name if _VERSION.match(name) and (Path(model_dir) / name).is_dir() else None


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=1, sort_keys=True, allow_nan=False), "utf-8")


def save_version(model_dir: Path, model: ScoringModel) -> str:
    """Write ``model`` as a new version directory and return its name (``model.version``)."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    final = model_dir / model.version
    staging = model_dir / f".{model.version}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    state, blob = model.estimator.to_state()
    _write_json(staging / "card.json", model.card)
    _write_json(staging / "encoder.json", model.encoder.to_dict())
    _write_json(staging / "model.json", {
        "family": model.estimator.family, "estimator": state,
        "calibration": list(model.calibration), "scale": model.scale,
        "reference": model.reference, "cuts": [list(c) for c in model.cuts],
        "reason_count": model.reason_count, "separator": model.separator,
        "reason_length": model.reason_length})
    if blob is not None:
        (staging / "booster.ubj").write_bytes(blob)
    os.replace(staging, final)
    return model.version


def set_current(model_dir: Path, version: str) -> None:
    """Point ``current`` at ``version`` atomically."""
    pointer = Path(model_dir) / "current"
    temporary = pointer.with_name("current.partial")
    temporary.write_text(version + "\n", encoding="utf-8")
    os.replace(temporary, pointer)


def load_version(model_dir: Path, version: str) -> ScoringModel:
    """Load one saved version."""
    folder = Path(model_dir) / version
    if not _VERSION.match(version) or not (folder / "model.json").is_file():
        raise ModelMissingError(f"no saved model version {version!r} in {model_dir}",
                                f"pick one of: {', '.join(versions(model_dir)) or 'none yet'}")
    spec = json.loads((folder / "model.json").read_text("utf-8"))
    blob_path = folder / "booster.ubj"
    blob = blob_path.read_bytes() if blob_path.is_file() else None
    return ScoringModel(
        version=version, card=json.loads((folder / "card.json").read_text("utf-8")),
        encoder=FeatureEncoder.from_dict(json.loads((folder / "encoder.json").read_text("utf-8"))),
        estimator=from_state(spec["family"], spec["estimator"], blob),
        calibration=tuple(spec["calibration"]), scale=spec["scale"],
        reference=spec["reference"], cuts=[tuple(c) for c in spec["cuts"]],
        reason_count=spec["reason_count"], separator=spec["separator"],
        reason_length=spec["reason_length"])


def load_model(model_dir: Path) -> ScoringModel:
    """Load the live (``current``) model; raise ModelMissingError if there is none."""
    version = current_version(model_dir)
    if version is None:
        raise ModelMissingError(f"no trained model in {model_dir}")
    return load_version(model_dir, version)


def restore_model(model_dir: Path, version: str) -> ScoringModel:
    """Make an earlier ``version`` live again (after checking it loads) and return it."""
    model = load_version(model_dir, version)
    set_current(model_dir, version)
    return model


HOLDOUT_FILE = "holdout.json"


def save_holdout(model_dir: Path, version: str, y, p) -> None:
    """Keep the holdout's outcomes and calibrated probabilities beside a version (for the
    report's ROC, gain and calibration charts). Numbers only: no ids, no field values."""
    _write_json(model_dir / version / HOLDOUT_FILE,
                {"y": [int(v) for v in y], "p": [round(float(v), 6) for v in p]})


def load_holdout(version_dir: Path) -> tuple[list[int], list[float]]:
    """The holdout saved by :func:`save_holdout`, or two empty lists for an older version."""
    path = version_dir / HOLDOUT_FILE
    if not path.is_file():
        return [], []
    data = json.loads(path.read_text(encoding="utf-8"))
    return data["y"], data["p"]


PROFILE_FILE = "profile.json"


def save_profile(model_dir: Path, version: str, profile: dict) -> None:
    """Keep the training profile (:func:`connector.model.profile.build_profile`) beside a
    version. It holds bin edges, known category labels and shares only."""
    _write_json(Path(model_dir) / version / PROFILE_FILE, profile)


def load_profile(version_dir: Path) -> dict | None:
    """The profile saved by :func:`save_profile`, or None for a version saved before profiles
    existed (or in a format this code does not read)."""
    path = Path(version_dir) / PROFILE_FILE
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if data.get("format") == PROFILE_FORMAT else None
