"""`oms bench`'s flags: the scaling mode's levels and the open-orders mode."""

import argparse

import pytest

from starter.bench.options import add_arguments, from_args


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


@pytest.mark.parametrize("bad", ["10,x", "0", "5,-1"])
def test_levels_that_are_not_positive_whole_numbers_are_refused(bad: str) -> None:
    with pytest.raises(SystemExit):
        _parse("--scale", bad)
