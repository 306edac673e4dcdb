"""A split's statistics: stats.json's numbers and the warnings that catch the all-black failure."""

import json

import numpy as np
import pytest

from deeplab_tf.data import DatasetInfo, Problem, ValidationReport
from deeplab_tf.data import ade20k, cityscapes, palettes, statistics


def _report(pixels, ignored, images=(1, 1, 1)):
    report = ValidationReport("folder", "train", DatasetInfo("folder", 3, class_names=("bg", "cat", "dog")),
                              num_examples=2)
    report.class_pixel_counts[:] = pixels
    report.class_image_counts[:] = images
    report.class_image_pixels[:] = [sum(pixels)] * 3
    report.ignore_pixel_count = ignored
    report.min_size, report.max_size = (10, 20), (30, 40)
    return report


def test_stats_document_holds_shares_counts_sizes_and_weights(tmp_path):
    stats = statistics.write_stats(_report([60, 30, 10], 25, images=(2, 1, 1)), str(tmp_path / "stats.json"))
    assert json.loads((tmp_path / "stats.json").read_text()) == stats
    assert [c["pixel_share"] for c in stats["classes"]] == pytest.approx([0.6, 0.3, 0.1])
    assert [c["images"] for c in stats["classes"]] == [2, 1, 1]
    assert stats["ignored_share"] == pytest.approx(0.2)
    assert stats["image_size"] == {"min": [10, 20], "max": [30, 40]}
    assert stats["median_frequency_weights"] == pytest.approx([0.5, 1.0, 3.0])
    assert stats["warnings"] == []


def test_warnings_name_a_class_that_never_occurs_and_a_mostly_ignored_split():
    # 0/255 binary masks: the object class is ignored everywhere, "cat" never occurs.
    found = statistics.warnings(_report([30, 0, 0], 70, images=(2, 0, 0)))
    assert len(found) == 2
    assert "1 'cat', 2 'dog' never occur" in found[0]
    assert "70.0% of all pixels have the ignore label 255" in found[1] and "all-black" in found[1]


def test_a_palette_note_becomes_a_warning():
    report = _report([60, 30, 10], 0)
    report.notes.append(Problem("masks/a.png", "palette mask: ... (do they come from another palette?)"))
    (warning,) = statistics.warnings(report)
    assert "1 palette mask(s)" in warning and "masks/a.png" in warning


def test_each_dataset_gets_its_own_palette():
    assert len(cityscapes.COLORS) == 19 and len(ade20k.COLORS) == 150
    city = palettes.palette_for(DatasetInfo("cityscapes", 19))
    assert tuple(city[0]) == (128, 64, 128) and tuple(city[255]) == (224, 224, 192)  # road; ignore in VOC's cream
    assert tuple(palettes.palette_for(DatasetInfo("ade20k", 150))[0]) == (120, 120, 120)  # wall
    assert tuple(palettes.palette_for(DatasetInfo("voc2012", 21))[1]) == (128, 0, 0)
    own = palettes.palette_for(DatasetInfo("folder", 2, palette=((1, 2, 3), (4, 5, 6))))
    assert tuple(own[1]) == (4, 5, 6)
    generated = palettes.class_colors(DatasetInfo("folder", 40))
    assert len(set(generated)) == 40 and generated[0] == (0, 0, 0)
    assert np.asarray(generated).dtype.kind == "i"
