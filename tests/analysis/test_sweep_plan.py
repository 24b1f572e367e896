"""Planning a sweep: the Cartesian grid, stable point names, the manifest, and --set parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from econdsl.analysis.sweep import Plan, Sweep, SweepError, parse_ablations, parse_sets, plan, train_command


def test_grid_is_the_cartesian_product_times_seeds() -> None:
    p = plan(["models/m.econ"], parse_sets(["a=1,2,3", "b=x,y"]), seeds=2, preset="quick")
    assert len(p.points) == 3 * 2 * 2
    assert len(p.variants()) == 6
    assert len({pt.id for pt in p.points}) == 12
    first = p.points[0]
    assert first.overrides == (("a", "1"), ("b", "x")) and first.seed == 0
    assert first.variant == "m__a=1__b=x"
    assert first.run_dir == "runs/m__a=1__b=x/seed0"
    assert first.label == "m a=1 b=x"


def test_single_values_are_shared_flags_not_grid_dimensions() -> None:
    p = plan(["m.econ"], parse_sets(["a=1,2", "lr=0.01"]), seeds=1)
    assert [pt.variant for pt in p.points] == ["m__a=1", "m__a=2"]
    assert p.train_args == ["--set", "lr=0.01"]


def test_ablations_change_one_thing_at_a_time_against_the_unchanged_point() -> None:
    abl = parse_ablations(["obs_norm=running", "epochs=1 minibatches=4"])
    p = plan(["m.econ"], parse_sets(["curriculum=off", "q=1,2"]), seeds=2, ablations=abl)
    assert p.variants() == ["m__q=1", "m__q=1__obs_norm=running", "m__q=1__epochs=1__minibatches=4",
                            "m__q=2", "m__q=2__obs_norm=running", "m__q=2__epochs=1__minibatches=4"]
    assert len(p.points) == 6 * 2 and p.train_args == ["--set", "curriculum=off"]
    assert p.points[4].overrides == (("q", "1"), ("epochs", "1"), ("minibatches", "4"))
    for bad in (["a"], ["a=1,2"], [""], ["a=1 a=2"]):
        with pytest.raises(SweepError):
            parse_ablations(bad)
    with pytest.raises(SweepError):  # a grid dimension cannot also be ablated
        plan(["m.econ"], parse_sets(["q=1,2"]), seeds=1, ablations=parse_ablations(["q=3"]))


def test_compare_of_files_and_duplicate_stems() -> None:
    p = plan(["a/m.econ", "b/m.econ", "c/n.econ"], [], seeds=1)
    assert [pt.variant for pt in p.points] == ["0-m", "1-m", "n"]


def test_bad_sets_are_errors() -> None:
    for bad in (["a"], ["a="], ["=1"], ["a=1", "a=2"]):
        with pytest.raises(SweepError):
            parse_sets(bad)
    with pytest.raises(SweepError):
        plan(["m.econ"], [], seeds=0)


def test_manifest_round_trips_and_train_command(tmp_path: Path) -> None:
    p = plan(["m.econ"], parse_sets(["θ=0.5,1"]), seeds=1, preset="quick", train_args=["--iterations", "3"])
    assert Plan.from_json(p.to_json()).points == p.points
    sw = Sweep(tmp_path / "sw", p)
    sw.prepare()
    assert (tmp_path / "sw" / "sweep.json").exists()
    cmd = train_command(p.points[1], p, tmp_path / "run", resume=True)
    assert cmd[3:5] == ["train", "m.econ"]
    assert "--resume" in cmd and ["--set", "θ=1"] == cmd[cmd.index("--set"):cmd.index("--set") + 2]
    assert cmd[cmd.index("--preset") + 1] == "quick" and "--iterations" in cmd
    assert not any(a.startswith("threads=") for a in cmd)  # the preset's own `threads` setting stays in force
    # A second plan with other training options may not reuse the same directory.
    other = plan(["m.econ"], parse_sets(["θ=0.5,1"]), seeds=1, preset=None)
    with pytest.raises(SweepError):
        Sweep(tmp_path / "sw", other).prepare()


def test_tally_counts_runs_and_estimates_the_rest(tmp_path: Path, monkeypatch) -> None:
    import time as _time

    p = plan(["m.econ"], parse_sets(["a=1,2,3,4,5"]), seeds=1)
    sw = Sweep(tmp_path, p, jobs=2)
    sw._done_before = 1  # one finished by an earlier invocation
    assert sw.tally() == "1/5 done, 0 running"  # no pace yet: no ETA
    now = _time.time()
    monkeypatch.setattr(_time, "time", lambda: now)
    sw._finished = [100.0]
    monkeypatch.setattr(sw.engine, "running", lambda: {p.points[2].id: now - 40.0})  # running for 40 s of ~100
    # left: 60 s of the running one + 2 queued × 100 s, over 2 jobs = 130 s
    assert sw.tally() == "2/5 done, 1 running, eta 0:02:10"


def _disk_full_on_fsync(monkeypatch) -> None:
    import errno
    import os

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)


def test_the_manifest_is_replaced_durably_or_not_at_all(tmp_path: Path, monkeypatch) -> None:
    """sweep.json is written, fsync'd and renamed (fileio.write_atomic): a disk that fills up while it is
    written is an error naming it, the previous manifest stays and no temporary is left. (It was written and
    renamed without an fsync, so a crash could leave an empty manifest.)"""
    from econdsl.trainer.fileio import FileWriteError

    sw = Sweep(tmp_path / "sw", plan(["m.econ"], parse_sets(["a=1,2"]), seeds=1))
    sw.prepare()
    before = (tmp_path / "sw" / "sweep.json").read_text(encoding="utf-8")
    _disk_full_on_fsync(monkeypatch)
    with pytest.raises(FileWriteError, match=r"sweep\.json.*disk full"):
        Sweep(tmp_path / "sw", plan(["m.econ"], parse_sets(["a=1,2,3"]), seeds=1)).prepare()
    assert (tmp_path / "sw" / "sweep.json").read_text(encoding="utf-8") == before
    assert sorted(f.name for f in (tmp_path / "sw").iterdir()) == ["logs", "status", "sweep.json"]


def test_a_status_file_is_written_durably_and_a_full_disk_stops_the_sweep(tmp_path: Path, monkeypatch) -> None:
    """A point's status file (it marks the point finished) is written through fileio.write_atomic; if it
    cannot be written the sweep stops its other training runs and reports the file."""
    from econdsl.analysis import runs
    from econdsl.trainer.fileio import FileWriteError

    p = plan(["m.econ"], parse_sets(["a=1,2"]), seeds=1)

    class Engine:  # the first run finishes at once, the second keeps running until stopped
        slots, started, stopped, reported = 2, [], False, False

        def has_room(self):
            return len(self.started) < 2

        def start(self, point, plan_, run_dir, log, resume):
            self.started.append(point)

        def finished(self, timeout):
            if self.reported or not self.started:
                return []
            self.reported = True
            return [(self.started[0], 0)]

        def running(self):  # point id -> when it started
            return {q.id: 0.0 for q in self.started[int(self.reported):]}

        def busy(self):
            return not self.stopped and not self.reported  # (ends the sweep when the status write is not checked)

        def stop(self):
            self.stopped = True
            return [(self.started[1], None)]

    engine = Engine()
    sw = Sweep(tmp_path / "sw", p, engine=engine)
    monkeypatch.setattr(runs, "is_finished", lambda rd: True)
    sw.prepare()
    _disk_full_on_fsync(monkeypatch)
    monkeypatch.setattr(sw, "prepare", lambda: None)
    with pytest.raises(FileWriteError, match=r"status.*\.json.*disk full"):
        sw.run()
    assert engine.stopped, "the other training run was left running"
    assert sorted(f.name for f in (tmp_path / "sw" / "status").iterdir()) == []


def _effective_sets(cmd: list[str]) -> dict[str, str]:
    """What `econdsl train` runs with: its last --set of each name wins."""
    out: dict[str, str] = {}
    for flag, value in zip(cmd, cmd[1:], strict=False):
        if flag == "--set":
            name, _, v = value.partition("=")
            out[name] = v
    return out


def test_an_ablation_overrides_a_one_valued_set_of_the_same_name(tmp_path: Path) -> None:
    # `--set N_a=60 --ablate "N_a=40 D_decay=15"`: the ablated point must run N_a = 40 (it once ran 60, under
    # the label N_a=40), and the unchanged point 60
    p = plan(["m.econ"], parse_sets(["N_a=60", "D_decay=22", "lr[Government]=0.0005"]), seeds=1,
             train_args=["--iterations", "300"], ablations=parse_ablations(["N_a=40 D_decay=15"]))
    base, ablated = p.points
    assert _effective_sets(train_command(base, p, tmp_path, resume=False)) == \
        {"N_a": "60", "D_decay": "22", "lr[Government]": "0.0005"}
    cmd = train_command(ablated, p, tmp_path, resume=False)
    assert _effective_sets(cmd) == {"N_a": "40", "D_decay": "15", "lr[Government]": "0.0005"}
    assert sum(a.startswith("N_a=") for a in cmd) == 1 and cmd[cmd.index("--iterations") + 1] == "300"


def test_a_name_fixed_by_a_flag_cannot_be_varied() -> None:
    for sets, abl in ((["iterations=10,20"], []), ([], ["iterations=10"]), ([], ["envs=4 lr=0.1"])):
        with pytest.raises(SweepError, match="fixed for every run"):
            plan(["m.econ"], parse_sets(sets), seeds=1, train_args=["--iterations", "300", "--envs", "8"],
                 ablations=parse_ablations(abl))
    plan(["m.econ"], [], seeds=1, train_args=["--iterations", "300"], ablations=parse_ablations(["envs=4"]))
