"""`oms bench`'s flags and what a run is asked to do. Kept light: the command line imports it to build its parser."""

import argparse
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class BenchOptions:
    orders: int
    concurrency: int
    rate: float | None
    out: Path
    window_s: float
    scale: list[int]
    cancels: int
    profile: bool = False
    # the scaling mode (on with `scale`): order sizes run through the API, network sizes timed by routing alone
    scale_lines: list[int] = field(default_factory=lambda: [1, 10, 50])
    scale_locations: list[int] = field(default_factory=lambda: [10, 200])
    open_orders: int = 0  # > 0: the open-orders mode instead of the throughput workloads
    without_relay: bool = False  # the stack runs no relay: what events out cost, against a release before them

    @property
    def scaling(self) -> bool:
        return bool(self.scale)


def _levels(text: str) -> list[int]:
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"a comma-separated list of whole numbers, not {text!r}") from err
    if any(level <= 0 for level in levels):
        raise argparse.ArgumentTypeError(f"every level must be above 0: {text!r}")
    return levels


def add_arguments(bench: argparse.ArgumentParser) -> None:
    bench.add_argument("--orders", type=int, default=300, help="orders per workload")
    bench.add_argument("--concurrency", type=int, default=30, help="orders in flight")
    bench.add_argument(
        "--rate", type=float, default=None, help="target arrivals per second (default: as fast as possible)"
    )
    bench.add_argument("--window", type=float, default=2.0, help="return window in seconds")
    bench.add_argument(
        "--scale",
        type=_levels,
        default=[],
        help="the scaling mode: also run these concurrency levels, e.g. 10,25,50, and the order and network sizes",
    )
    bench.add_argument(
        "--scale-lines",
        type=_levels,
        default=[1, 10, 50],
        help="in the scaling mode, order sizes (lines per order) run at --concurrency (default 1,10,50)",
    )
    bench.add_argument(
        "--scale-locations",
        type=_levels,
        default=[10, 200],
        help="in the scaling mode, network sizes (locations) to time routing on (default 10,200)",
    )
    bench.add_argument("--cancels", type=int, default=50, help="orders placed and canceled to time the cancel update")
    bench.add_argument(
        "--open-orders",
        type=int,
        default=0,
        metavar="N",
        help="instead of the workloads: place N orders that stay open, then report the order worker's memory,"
        " its sticky cache and each order's history, and what 1,000,000 open orders would need",
    )
    bench.add_argument(
        "--without-relay",
        action="store_true",
        help="run the stack without the relay (no events out, no customer mail): what they cost per order",
    )
    bench.add_argument("--profile", action="store_true", help="sample the worker with py-spy during the oms workload")
    bench.add_argument("--out", default="bench-out", help="folder for bench.json and bench.png")


def from_args(args: argparse.Namespace) -> BenchOptions:
    return BenchOptions(
        orders=args.orders,
        concurrency=args.concurrency,
        rate=args.rate,
        out=Path(args.out),
        window_s=args.window,
        scale=args.scale,
        cancels=args.cancels,
        profile=args.profile,
        scale_lines=args.scale_lines,
        scale_locations=args.scale_locations,
        open_orders=args.open_orders,
        without_relay=args.without_relay,
    )


def main(args: argparse.Namespace) -> int:
    """Run the bench as the flags say, print its figures, and say where the files are."""
    from starter.bench.report import render
    from starter.bench.runner import bench

    options = from_args(args)
    result = bench(options)
    print(render(result), end="")
    print(f"figures in {options.out / 'bench.json'}, plot in {options.out / 'bench.png'}")
    return 0
