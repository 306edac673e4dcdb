"""A split's statistics from its validation: class shares, `stats.json`, warnings, class weights."""

import json

import numpy as np

from deeplab_tf.files import write_atomically

STATS_FILE = "stats.json"

# Above this share of ignored pixels, the ignore label probably holds a class
# (binary masks saved as 0/255 are the usual case).
IGNORED_SHARE_WARNING = 0.5


def warnings(report):
    """Remarks on a split that trains badly although every file is usable."""
    found = []
    counts = report.class_pixel_counts
    labelled = int(counts.sum())
    total = labelled + int(report.ignore_pixel_count)
    if report.num_usable and total:
        absent = [f"{i} {name!r}" for i, (name, count) in enumerate(zip(report.info.class_names, counts))
                  if count == 0]
        if absent:
            found.append(f"class(es) {', '.join(absent)} never occur in split {report.split!r}: "
                         "the model cannot learn them (wrong label values, or a split without them?)")
        share = report.ignore_pixel_count / total
        if share > IGNORED_SHARE_WARNING:
            found.append(
                f"{100 * share:.1f}% of all pixels have the ignore label {report.info.ignore_label}: if the "
                "masks store an object as 255 (binary 0/255 masks), it is ignored, and the model learns "
                "to predict only the other classes (the all-black failure); store class ids 0, 1, ..."
            )
    palettes = [note for note in report.notes if "another palette" in note.fault]
    if palettes:
        found.append(f"{len(palettes)} palette mask(s) whose colours disagree with classes.json, e.g. "
                     f"{palettes[0]}")
    return found


def dataset_stats(report):
    """The `stats.json` document of a `ValidationReport`."""
    counts = report.class_pixel_counts
    labelled = int(counts.sum())
    total = labelled + int(report.ignore_pixel_count)
    usable = report.num_usable
    classes = [
        {
            "index": index,
            "name": name,
            "pixels": int(count),
            "pixel_share": float(count) / labelled if labelled else 0.0,
            "images": int(images),
            "image_share": float(images) / usable if usable else 0.0,
        }
        for index, (name, count, images) in enumerate(
            zip(report.info.class_names, counts, report.class_image_counts)
        )
    ]
    return {
        "dataset": report.dataset,
        "split": report.split,
        "num_examples": report.num_examples,
        "num_usable": usable,
        "num_problems": len(report.problems),
        "image_size": {
            "min": list(report.min_size) if report.min_size else None,
            "max": list(report.max_size) if report.max_size else None,
        },
        "labelled_pixels": labelled,
        "ignore_label": report.info.ignore_label,
        "ignored_pixels": int(report.ignore_pixel_count),
        "ignored_share": float(report.ignore_pixel_count) / total if total else 0.0,
        "classes": classes,
        "median_frequency_weights": median_frequency_weights(report),
        "warnings": warnings(report),
    }


def write_stats(report, path):
    """Writes `dataset_stats(report)` as JSON to `path` (atomically); returns the document."""
    stats = dataset_stats(report)
    write_atomically(path, json.dumps(stats, indent=2) + "\n")
    return stats


def median_frequency_weights(report):
    """Median-frequency balancing (Eigen & Fergus, ICCV 2015): weight_c = median(freq) / freq_c.

    freq_c is class c's pixels over the labelled pixels of the images in
    which c occurs; the median is over the classes that occur. A class that
    never occurs gets weight 1 (it never enters the loss).
    """
    present = report.class_image_pixels > 0
    if not present.any():
        return [1.0] * report.info.num_classes
    frequency = np.divide(report.class_pixel_counts, report.class_image_pixels,
                          out=np.zeros(report.info.num_classes), where=present)
    median = float(np.median(frequency[present]))
    weights = np.where(present, median / np.where(present, frequency, 1.0), 1.0)
    return [round(float(w), 6) for w in weights]
