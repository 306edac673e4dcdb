"""SBD + VOC → SegmentationClassAug/ and train_aug = SBD train ∪ SBD val ∪ VOC train − VOC val."""

import os

import numpy as np
import scipy.io
from PIL import Image

from deeplab_tf.data import read_split
from deeplab_tf.data.sbd import read_sbd_label, train_aug_names

VOC_TRAIN, VOC_VAL = ["a", "b", "c"], ["d", "e"]
SBD_TRAIN, SBD_VAL = ["b", "d", "f"], ["c", "g", "h"]
EXPECTED = ["a", "b", "c", "f", "g", "h"]


def _write_mat(path, segmentation):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    scipy.io.savemat(path, {"GTcls": {
        "Segmentation": segmentation,
        "CategoriesPresent": np.unique(segmentation[segmentation > 0]).astype(np.uint8),
    }})


def test_split_arithmetic():
    assert train_aug_names(SBD_TRAIN, SBD_VAL, VOC_TRAIN, VOC_VAL) == EXPECTED


def test_reads_sbd_class_maps(tmp_path):
    segmentation = np.arange(12, dtype=np.uint8).reshape(3, 4) % 21
    _write_mat(str(tmp_path / "x.mat"), segmentation)
    np.testing.assert_array_equal(read_sbd_label(str(tmp_path / "x.mat")), segmentation)


def test_build_voc_aug_tool_on_a_tree_in_the_real_formats(tmp_path, data_helpers):
    size = (12, 14)
    voc_labels = {n: data_helpers.make_label(*size, seed=i) for i, n in enumerate("abcde")}
    sbd_labels = {n: np.full(size, 3 + i, np.uint8) for i, n in enumerate("bcdfgh")}
    examples = {n: (data_helpers.jpeg(data_helpers.make_image(*size, seed=i)),
                    data_helpers.palette_png(voc_labels[n]) if n in voc_labels else None)
                for i, n in enumerate("abcdefgh")}
    voc_root = data_helpers.write_voc(tmp_path / "VOCdevkit" / "VOC2012", examples,
                                      {"train": VOC_TRAIN, "val": VOC_VAL,
                                       "trainval": VOC_TRAIN + VOC_VAL})
    sbd_root = tmp_path / "benchmark_RELEASE" / "dataset"
    for name, segmentation in sbd_labels.items():
        _write_mat(str(sbd_root / "cls" / f"{name}.mat"), segmentation)
    (sbd_root / "train.txt").write_text("\n".join(SBD_TRAIN) + "\n")
    (sbd_root / "val.txt").write_text("\n".join(SBD_VAL) + "\n")

    output = tmp_path / "aug"
    result = data_helpers.run_tool("build_voc_aug", f"--voc_dir={tmp_path / 'VOCdevkit'}",
                                   f"--sbd_dir={tmp_path / 'benchmark_RELEASE'}",
                                   f"--output_dir={output}")
    assert result.returncode == 0, result.stderr
    split = (output / "ImageSets" / "Segmentation" / "train_aug.txt").read_text().split()
    assert split == EXPECTED
    written = sorted(p[:-4] for p in os.listdir(output / "SegmentationClassAug"))
    assert written == sorted(set(EXPECTED) | set(VOC_VAL))
    for name in written:
        label = Image.open(output / "SegmentationClassAug" / f"{name}.png")
        assert label.mode == "L"  # index PNG
        expected = voc_labels[name] if name in voc_labels else sbd_labels[name]
        np.testing.assert_array_equal(np.asarray(label), expected)
    # The output reads as a VOC dataset on its own.
    examples = list(read_split("voc2012", str(output), "train_aug").as_numpy_iterator())
    assert [e["filename"].decode() for e in examples] == EXPECTED
    np.testing.assert_array_equal(examples[3]["label"], sbd_labels["f"])
    assert len(list(read_split("voc2012", str(output), "val").as_numpy_iterator())) == 2
