"""Scoring throughput: 100,000 bank-marketing leads scored with exact contributions and reasons.

Trains the product's model on the demo history (the sandbox's closed leads, as in
bench/model_quality.py), then times ``ScoringModel.score`` on 100,000 leads drawn from the file
in order (repeating it), features to reason text included. Prints one JSON object.

The bound is 10 s for a tree model and 2 s for a linear one. ``--trees`` restricts the
candidates to the tree ones, to measure a tree model where the product would pick a linear one.

Run: ``.venv/bin/python bench/scoring.py [--trees]``
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model_quality import MAPPING, bank_leads  # noqa: E402

from connector.mapping import load_mapping  # noqa: E402
from connector.model import load_model, train_model  # noqa: E402
from connector.model.candidates import LinearCandidate, default_candidates  # noqa: E402

LEADS = 100_000
BOUND_S = {"tree": 10.0, "linear": 2.0}


def main() -> None:
    mapping = load_mapping(MAPPING)
    leads, _ = bank_leads()
    history = leads[: int(len(leads) * 0.8)]
    batch = [leads[i % len(leads)] for i in range(LEADS)]
    with tempfile.TemporaryDirectory() as folder:
        trees = [c for c in default_candidates() if not isinstance(c, LinearCandidate)]
        train_model(history, mapping, model_dir=Path(folder), force=True,
                    candidates=trees if "--trees" in sys.argv else None)
        model = load_model(Path(folder))
        started, cpu = time.perf_counter(), time.process_time()
        scored = model.score(batch)
        seconds = time.perf_counter() - started
        # CPU seconds too: on a shared machine the wall clock also counts other processes.
        cpu_seconds = time.process_time() - cpu
    assert len(scored) == LEADS and all(s.reason for s in scored[:100])
    kind = "linear" if isinstance(model.estimator, LinearCandidate) else "tree"
    print(json.dumps({"leads": LEADS, "seconds": round(seconds, 2),
                      "cpu_seconds": round(cpu_seconds, 2), "with_reasons": True,
                      "model": model.card["chosen"], "bound_s": BOUND_S[kind],
                      "ratio_to_bound": round(seconds / BOUND_S[kind], 3),
                      "example_reason": scored[0].reason}, ensure_ascii=False))


if __name__ == "__main__":
    main()
