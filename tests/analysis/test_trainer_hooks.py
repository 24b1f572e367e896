"""The trainer hooks analysis relies on: a read-only ``load_run``, the architecture and code version in
config.json, and the state timing stated in eval.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from econdsl.analysis import runs
from econdsl.trainer import session
from econdsl.trainer.run import RunError

RBC = str(Path(__file__).resolve().parents[2] / "models" / "rbc_open.econ")  # has states, horizon 10


# Under pytest-xdist the module's tests share one worker, so the module's trained run is trained once.
pytestmark = pytest.mark.xdist_group("trainer_hooks")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hooks") / "run"
    s = session.prepare(RBC, str(out), preset="quick", flags={"iterations": 2, "envs": 4, "seed": 2},
                        sets={"threads": "1", "eval_envs": "2"})
    session.train(s)
    return out


def _snapshot(run: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(run)): (p.read_bytes(), p.stat().st_mtime_ns) for p in run.rglob("*") if p.is_file()}


def test_load_run_restores_the_policies_and_writes_nothing(trained: Path) -> None:
    before = _snapshot(trained)
    trainer = session.load_run(trained)
    assert _snapshot(trained) == before
    assert not list(trained.parent.glob("*.partial"))
    state = torch.load(trained / "checkpoint.pt", weights_only=True)["state"]
    assert trainer.iteration == 2
    for a, pol in trainer.policies.items():
        for k, v in pol.state_dict().items():
            assert torch.equal(v, state["policies"][a][k]), (a, k)
        assert float(pol.norm.count) > 0  # the observation normaliser's statistics came back too


def test_config_records_code_version_and_architecture(trained: Path) -> None:
    info = json.loads((trained / "config.json").read_text())
    assert info["econdsl"]["version"]
    assert "git_commit" in info["econdsl"]
    arch = info["architecture"]
    assert arch["hidden"] == list(info["config"]["hidden"]) and arch["activation"] == info["config"]["activation"]
    assert set(arch["types"]) == {"Consumer", "Firm", "Government"}
    for t in arch["types"].values():
        assert t["obs_dim"] > 0 and t["action_nvec"]


def _copy_run(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for p in src.iterdir():
        if p.is_file():
            (dst / p.name).write_bytes(p.read_bytes())
    return dst


def test_a_checkpoint_of_another_architecture_is_refused(trained: Path, tmp_path: Path) -> None:
    # the recorded activation differs from what the config builds: torch would load the weights silently
    run = _copy_run(trained, tmp_path / "act")
    info = json.loads((run / "config.json").read_text())
    info["architecture"]["activation"] = "tanh"
    (run / "config.json").write_text(json.dumps(info))
    with pytest.raises(RunError, match="architecture differs.*activation: run 'tanh', now 'relu'"):
        session.load_run(run)
    # an older run without a recorded architecture, whose config no longer matches the weights' shapes
    run = _copy_run(trained, tmp_path / "shape")
    info = json.loads((run / "config.json").read_text())
    del info["architecture"]
    info["config"]["hidden"] = [7]
    (run / "config.json").write_text(json.dumps(info))
    with pytest.raises(RunError, match="does not fit the networks"):
        session.load_run(run)


def test_eval_json_states_the_timing_and_analysis_reads_it(trained: Path, tmp_path: Path) -> None:
    ev = json.loads((trained / "eval.json").read_text())
    assert ev["state_timing"] == "pre_step"
    with np.load(trained / "eval.npz") as z:
        states = {k[7:]: z[k] for k in z.files
                  if k.startswith("series/") and ev["series"][k[7:]]["kind"] == "state"}
    # a state whose last entry moves its mean, so that the legacy case below distinguishes the conventions
    name, arr = next((n, a) for n, a in states.items()
                     if float(np.mean(a)) != pytest.approx(float(np.mean(a[:-1])), rel=1e-3))
    assert runs.load_run(trained).evaluation["series"][name]["mean"] == pytest.approx(float(np.mean(arr)))
    # a legacy run recorded after each step: its last entry (the next episode's reset) is left out
    legacy = _copy_run(trained, tmp_path / "legacy")
    ev["state_timing"] = "post_step"
    (legacy / "eval.json").write_text(json.dumps(ev))
    got = runs.load_run(legacy).evaluation["series"][name]["mean"]
    assert got == pytest.approx(float(np.mean(arr[:-1])))


def test_load_run_uses_the_model_as_trained(trained: Path, tmp_path: Path) -> None:
    # the source file named in config.json is gone (or changed): the run's own flat model.econ is the game
    run = _copy_run(trained, tmp_path / "moved")
    info = json.loads((run / "config.json").read_text())
    info["model_path"] = str(tmp_path / "no-such-model.econ")
    (run / "config.json").write_text(json.dumps(info))
    assert session.load_run(run).iteration == 2
