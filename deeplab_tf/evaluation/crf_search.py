"""The dense CRF's parameter search: a grid of w1, θα, θβ, its table of mIoU, and the best setting.

DeepLab v2 (Chen et al., TPAMI 2017) set the appearance kernel's weight and
widths by cross-validation on val images (w1 in [3, 6], θα in [30, 100], θβ in
[3, 6], with w2 = 3 and θγ = 3 fixed); `tools.evaluate --crf
--crf_search` does the same, running every setting's CRF on one network pass.
The result goes to `eval/crf_search.json` (and a markdown table beside it), which
`tools.export --crf` reads for its parameters (`read_best`).
"""

import dataclasses
import itertools
import json
import os

from deeplab_tf.errors import InputError
from deeplab_tf.files import write_atomically
from deeplab_tf.metrics import compute_metrics
from deeplab_tf.postprocess import CRFParams

SEARCH_FILE = "crf_search.json"
TABLE_FILE = "crf_search.md"
# The grid's axes: the CRFParams fields the paper cross-validated.
SEARCHED = ("bilateral_weight", "bilateral_xy_std", "bilateral_rgb_std")


def search_grid(base, bilateral_weights, bilateral_xy_stds, bilateral_rgb_stds):
    """Every combination of the three lists, the other parameters (w2, θγ, iterations) from `base`."""
    return [
        dataclasses.replace(base, bilateral_weight=w, bilateral_xy_std=xy, bilateral_rgb_std=rgb)
        for w, xy, rgb in itertools.product(bilateral_weights, bilateral_xy_stds, bilateral_rgb_stds)
    ]


def search_document(grid, confusions, miou_without_crf, settings):
    """The JSON document: mIoU per setting, in grid order, and the best one (the first of equals)."""
    rows = []
    for params, confusion in zip(grid, confusions):
        metrics = compute_metrics(confusion)
        rows.append({"params": dataclasses.asdict(params), "miou": metrics["miou"],
                     "pixel_accuracy": metrics["pixel_accuracy"]})
    best = max(rows, key=lambda row: row["miou"])
    return {"searched": list(SEARCHED), "results": rows, "best": best,
            "miou_without_crf": miou_without_crf, "settings": settings}


def search_table(document):
    """The markdown table of a search document, the best row marked."""
    lines = ["| w1 | θα | θβ | mIoU % | |", "|---:|---:|---:|---:|---|"]
    for row in document["results"]:
        params = row["params"]
        mark = "best" if row == document["best"] else ""
        lines.append(f"| {params['bilateral_weight']:g} | {params['bilateral_xy_std']:g} | "
                     f"{params['bilateral_rgb_std']:g} | {100 * row['miou']:.2f} | {mark} |")
    lines.append(f"\nWithout the CRF: {100 * document['miou_without_crf']:.2f}% mIoU.")
    return "\n".join(lines) + "\n"


def write_search(eval_dir, document):
    """Writes `crf_search.json` and `crf_search.md` in `eval_dir`; returns their paths."""
    os.makedirs(eval_dir, exist_ok=True)
    paths = os.path.join(eval_dir, SEARCH_FILE), os.path.join(eval_dir, TABLE_FILE)
    write_atomically(paths[0], json.dumps(document, indent=2) + "\n")
    write_atomically(paths[1], search_table(document))
    return paths


def read_best(path):
    """(the best setting as a `CRFParams`, its mIoU) from a `crf_search.json`."""
    try:
        with open(path) as file:
            best = json.load(file)["best"]
        return CRFParams(**best["params"]), best["miou"]
    except (OSError, ValueError, KeyError, TypeError, InputError) as error:
        raise InputError(f"{path}: not a CRF search result ({error})") from None
