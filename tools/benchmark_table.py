"""Renders tools.benchmark JSON files as one Markdown table (the tables of docs/performance.md).

    python -m tools.benchmark_table runs/bench/suite/*.json
"""

import json
import sys

from deeplab_tf.benchmarking.table import markdown


def main(paths):
    if not paths:
        print("usage: python -m tools.benchmark_table BENCHMARK.json ...", file=sys.stderr)
        return 2
    results = []
    for path in paths:
        try:
            with open(path) as file:
                results.append(json.load(file))
        except (OSError, json.JSONDecodeError) as error:
            print(f"benchmark_table: error: cannot read {path}: {error}", file=sys.stderr)
            return 1
    print(markdown(results), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
