"""`oms bench`'s flags: the scaling mode's levels and the open-orders mode."""

import argparse
import os
from pathlib import Path

import pytest

from starter.bench.options import add_arguments, from_args
from starter.bench.runner import bench_stack
from starter.settings import get_settings


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_defaults_run_the_workloads_without_the_scaling_mode() -> None:
    options = from_args(_parse())
    assert (options.orders, options.concurrency, options.open_orders) == (300, 30, 0)
    assert not options.scaling
    assert (options.scale_lines, options.scale_locations) == ([1, 10, 50], [10, 200])


def test_the_scaling_mode_takes_its_levels_and_an_empty_list_skips_one() -> None:
    # given the make target's flags, with order sizes turned off
    options = from_args(_parse("--scale", "10,30,60", "--scale-lines", "", "--scale-locations", "10"))
    # then
    assert options.scaling and options.scale == [10, 30, 60]
    assert (options.scale_lines, options.scale_locations) == ([], [10])
    assert from_args(_parse("--scale", "")).scale == []


def test_the_open_orders_mode_takes_a_count() -> None:
    assert from_args(_parse("--open-orders", "10000", "--concurrency", "100")).open_orders == 10_000


def test_a_run_without_the_relay_leaves_it_out_of_the_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the bench's stack sets its ports and folder in the environment: this test's copy of it only
    monkeypatch.setattr(os, "environ", dict(os.environ))
    # given the flag
    options = from_args(_parse("--without-relay"))
    # when the bench builds its stack
    stack = bench_stack(options.window_s, tmp_path, options.without_relay)
    # then the relay is not among its parts, and the rest are
    assert {p.name for p in stack.programs()} == {"temporal", "worker", "simulators", "api"}
    assert "relay" in {p.name for p in bench_stack(2.0, tmp_path).programs()}
    get_settings.cache_clear()  # the next test reads its own settings


@pytest.mark.parametrize("bad", ["10,x", "0", "5,-1"])
def test_levels_that_are_not_positive_whole_numbers_are_refused(bad: str) -> None:
    with pytest.raises(SystemExit):
        _parse("--scale", bad)
