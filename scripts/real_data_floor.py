"""The real-data floor of the LeNet metrics: real test images scored as if generated, against
training images (what a perfect generator would get with the same sample counts).

    OMP_NUM_THREADS=1 python scripts/real_data_floor.py --data-dir ../shared/data --n 10000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gankit.metrics.images import real_data_floor  # noqa: E402


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("datasets", nargs="*", default=["mnist", "fashion-mnist"])
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--n", type=int, nargs="+", default=[10_000], help="sample counts (each side)")
    args = p.parse_args(argv)
    for name in args.datasets:
        for n in args.n:
            t0 = time.perf_counter()
            out = real_data_floor(name, args.data_dir, n=n)
            out["seconds"] = round(time.perf_counter() - t0, 1)
            print(json.dumps({"dataset": name, **out}), flush=True)


if __name__ == "__main__":
    main()
