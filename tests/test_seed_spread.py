"""The seed-spread report's arithmetic: gaps against the spread, paired over the same seeds."""
import math

from benchmarks.seed_spread import gap_rows, report


def test_a_gap_larger_than_the_spread_is_established_and_a_tie_is_not():
    losses = {"dense": {1: 3.50, 2: 3.52, 3: 3.51},
              "moe-4": {1: 3.45, 2: 3.46, 3: 3.44},   # 0.06 below dense, spread 0.01
              "moe-8": {1: 3.46, 2: 3.43, 3: 3.45}}   # 0.003 below moe-4: inside the spread
    first, second = gap_rows(losses, ["dense", "moe-4", "moe-8"])
    assert first["pair"] == "dense - moe-4" and math.isclose(first["gap"], 0.06, abs_tol=1e-9)
    assert math.isclose(first["paired_mean"], 0.06, abs_tol=1e-9) and first["established"]
    assert math.isclose(second["gap"], 0.0033333, abs_tol=1e-6) and not second["established"]
    assert math.isclose(second["spread"], 0.0152753, abs_tol=1e-6)  # moe-8's sample std


def test_one_seed_establishes_nothing_and_the_report_names_every_member():
    losses = {"dense": {1: 3.5}, "moe-4": {1: 3.4}}
    (row,) = gap_rows(losses, ["dense", "moe-4", "moe-8"])
    assert not row["established"]
    text = report(losses, ["dense", "moe-4", "moe-8"], 400, "test machine")
    assert "| dense | 1 | 3.5000" in text and "moe-8" not in text.split("| pair")[0]


def test_the_report_json_reads_back_and_a_member_over_seeds_reads_mean_and_std(tmp_path):
    import json

    from backend.model_card import seed_losses
    from viz.tables import over_seeds

    path = tmp_path / "spread.json"
    assert seed_losses(path) == {}
    path.write_text(json.dumps({"steps": 3000, "losses": {"dense": {1234: 3.4994, 1235: 3.4855}}}))  # JSON keys: strings
    losses = seed_losses(path)
    assert losses == {"dense": {1234: 3.4994, 1235: 3.4855}}
    assert over_seeds(losses["dense"]) == "3.492 ± 0.010 (2)" and over_seeds({1234: 3.5}) == ""


def test_the_report_lists_the_runs_by_the_machine_they_finished_on(tmp_path):
    from benchmarks.seed_spread import MACHINE_FILE, machines

    for name, machine in (("dense-seed1", "AMD EPYC"), ("dense-seed2", None), ("moe-4-seed1", "AMD EPYC"), ("moe-4-seed2", "Xeon")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "eval.json").write_text("{}")
        if machine:
            (tmp_path / name / MACHINE_FILE).write_text(machine + "\n")
    (tmp_path / "moe-8-seed1").mkdir()  # unfinished: no eval.json, not listed
    (tmp_path / "moe-8-seed1" / MACHINE_FILE).write_text("Xeon\n")
    found = machines(tmp_path, ["dense", "moe-4", "moe-8"], [1, 2])
    assert found == {"AMD EPYC": ["dense-seed1", "moe-4-seed1"], "not recorded": ["dense-seed2"], "Xeon": ["moe-4-seed2"]}
    text = report({"dense": {1: 3.5, 2: 3.51}}, ["dense"], 400, "test machine", trained_on=found)
    assert "Where the runs finished: AMD EPYC: dense-seed1, moe-4-seed1; not recorded: dense-seed2; Xeon: moe-4-seed2." in text
