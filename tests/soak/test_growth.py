"""The soak's verdicts (bench/soak/growth.py) on series built to grow and to level off."""

from __future__ import annotations

from bench.soak.growth import climbing, rss_growth, trend, unsettled_lag

MIB = 2**20
WARMUP = 5


def test_rss_that_keeps_growing_past_twenty_percent_fails_naming_the_figures():
    # Warm-up climbs to 100 MiB, then 1.5 MiB a minute for 25 minutes: +37 %.
    series: list[float] = [60 * MIB, 80 * MIB, 90 * MIB, 95 * MIB, 98 * MIB]
    series += [(100 + 1.5 * minute) * MIB for minute in range(26)]
    finding = rss_growth("dispatch-email", series, WARMUP)
    assert finding is not None
    assert str(finding).startswith("dispatch-email: RSS ends at 136 MiB, +36% above 100 MiB")


def test_rss_that_grows_during_warm_up_then_plateaus_passes():
    series: list[float] = [40 * MIB, 70 * MIB, 90 * MIB, 98 * MIB, 99 * MIB]
    series += [(100 + (minute % 3)) * MIB for minute in range(26)]
    assert rss_growth("intake", series, WARMUP) is None


def test_one_collection_peak_at_the_end_is_not_the_level():
    series = [100 * MIB] * 10 + [100 * MIB, 130 * MIB, 101 * MIB]
    assert rss_growth("resolver", series, WARMUP) is None


def test_rss_growing_less_than_the_limit_passes_and_more_fails():
    steady = [100 * MIB] * WARMUP
    assert rss_growth("vault", steady + [100 * MIB, 110 * MIB, 119 * MIB, 119 * MIB], 5) is None
    assert rss_growth("vault", steady + [100 * MIB, 110 * MIB, 121 * MIB, 122 * MIB], 5)


def test_open_files_climbing_one_by_one_fail():
    series = [20, 24, 25, 25, 26] + [26 + minute for minute in range(20)]
    finding = climbing("callback-relay", "open fds", series, WARMUP, min_rise=3)
    assert finding is not None
    assert "climbs from 26 to 45" in str(finding)


def test_a_noisy_climb_still_fails():
    series = [10] * WARMUP + [10, 12, 11, 13, 12, 14, 13, 15, 14, 16, 15, 17]
    assert climbing("events", "connections", series, WARMUP, min_rise=3)


def test_a_pool_filling_to_its_size_then_levelling_off_passes():
    series = [2] * WARMUP + [3, 5, 7, 9, 10, 10, 10, 10, 10, 10, 10, 10]
    assert climbing("events", "connections", series, WARMUP, min_rise=3) is None


def test_counts_that_wander_around_a_level_pass():
    series = [30] * WARMUP + [31, 29, 33, 30, 32, 29, 31, 33, 30, 31, 32, 30]
    assert climbing("intake", "open fds", series, WARMUP, min_rise=3) is None


def test_a_rise_smaller_than_the_minimum_is_noise():
    series = [30] * WARMUP + [30, 30, 31, 31, 31, 32, 32]
    assert climbing("intake", "open fds", series, WARMUP, min_rise=3) is None


def test_trend_is_one_for_a_rise_and_minus_one_for_a_fall():
    assert trend([1, 2, 3, 4]) == 1.0
    assert trend([4, 3, 2, 1]) == -1.0
    assert trend([5, 5, 5]) == 0.0


def test_lag_back_to_a_commit_marker_per_partition_is_settled():
    assert unsettled_lag("resolver", [1, 0, 1, 1, 0, 0, 1, 1]) is None
    finding = unsettled_lag("resolver", [1, 0, 250, 1, 0, 0, 1, 1])
    assert finding is not None
    assert str(finding) == (
        "resolver: consumer lag is 254 records at the end (1 partition(s) more than 1 behind)"
    )
