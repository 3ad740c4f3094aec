"""The reliability verdict: competing load, spread of repetitions and calibration drift, each with its reason."""
import pytest

from backend.reliability import (MAX_CALIBRATION_DRIFT, Watch, calibration_drift, relative_spread,
                                 unreliable_because)


def test_relative_spread_is_the_interquartile_range_over_the_median_or_min_max_for_few_samples():
    assert relative_spread([1.0, 2.0, 3.0, 4.0, 5.0]) == pytest.approx((4.0 - 2.0) / 3.0)
    assert relative_spread([2.0, 3.0]) == pytest.approx(0.4)  # min-max over the median 2.5
    assert relative_spread([7.0]) == 0.0


def test_calibration_drift_is_the_largest_paired_change_over_the_larger_rate():
    assert calibration_drift([100.0, 20.0], [80.0, 20.0]) == pytest.approx(0.2)
    assert calibration_drift([60.0], [100.0]) == pytest.approx(0.4)  # a faster machine afterwards counts too
    assert calibration_drift([], []) == 0.0


def test_each_cause_gives_its_own_reason_and_a_quiet_run_none():
    assert unreliable_because(0.1, 2, 0.1, 0.05) == []
    assert len(unreliable_because(1.2, 2, 0.1)) == 1 and "1.2 of this machine's 2 cores" in unreliable_because(1.2, 2, 0.1)[0]
    assert "37%" in unreliable_because(0.0, 2, 0.37)[0]
    drift = unreliable_because(0.0, 2, 0.1, MAX_CALIBRATION_DRIFT + 0.1)
    assert len(drift) == 1 and "30% apart" in drift[0] and "changed speed" in drift[0]
    assert len(unreliable_because(1.2, 2, 0.5, 0.5)) == 3


def test_a_watch_turns_other_processes_cpu_time_into_competing_cores():
    # 10 s of wall time, the machine busy 15 CPU-seconds, this process 5: others kept one core busy
    w = Watch(start_wall=0.0, start_busy=100.0, start_own=1.0, end_wall=10.0, end_busy=115.0, end_own=6.0)
    verdict = w.verdict([0.05, 0.1], drift=0.25)
    assert verdict.competing_cores == pytest.approx(1.0) and verdict.worst_spread == pytest.approx(0.1)
    assert not verdict.reliable and len(verdict.reasons) == 2 and verdict.calibration_drift == 0.25
    no_proc = Watch(start_busy=None, end_busy=None, load_average=1.5)  # no /proc/stat: the load average minus this process
    assert no_proc.competing_cores() == pytest.approx(0.5)
