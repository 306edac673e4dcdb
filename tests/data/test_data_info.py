"""Dataset names, their label spaces, and the errors for unknown or inconsistent ones."""

import json

import pytest

from deeplab_tf.data import DatasetInfo, dataset_info
from deeplab_tf.errors import ConfigError, DataError


def test_fixed_datasets_carry_their_classes():
    voc = dataset_info("voc2012", "/nowhere")
    assert (voc.num_classes, voc.ignore_label) == (21, 255)
    assert voc.class_names[0] == "background" and voc.class_names[20] == "tvmonitor"
    cityscapes = dataset_info("cityscapes", "/nowhere")
    assert cityscapes.num_classes == 19 and cityscapes.class_names[18] == "bicycle"
    ade = dataset_info("ade20k", "/nowhere")
    assert ade.num_classes == 150 and ade.class_names[0] == "wall" and ade.class_names[-1] == "flag"


def test_unknown_name_is_a_config_error_on_dataset():
    with pytest.raises(ConfigError) as raised:
        dataset_info("x", "/nowhere")
    assert raised.value.field == "dataset"
    assert "unknown dataset 'x'" in str(raised.value) and "voc2012" in str(raised.value)


def test_tfrecord_needs_num_classes_or_metadata(tmp_path):
    with pytest.raises(ConfigError) as raised:
        dataset_info("tfrecord", str(tmp_path))
    assert raised.value.field == "num_classes"
    assert dataset_info("tfrecord", str(tmp_path), num_classes=7).num_classes == 7
    meta = {"num_classes": 3, "class_names": ["a", "b", "c"]}
    (tmp_path / "dataset.json").write_text(json.dumps(meta))
    assert dataset_info("tfrecord", str(tmp_path)).class_names == ("a", "b", "c")
    with pytest.raises(ConfigError):
        dataset_info("tfrecord", str(tmp_path), num_classes=4)


def test_synthetic_reads_its_metadata(tmp_path):
    with pytest.raises(DataError, match="dataset.json"):
        dataset_info("synthetic", str(tmp_path))
    (tmp_path / "dataset.json").write_text(
        json.dumps({"num_classes": 2, "ignore_label": 255, "class_names": ["bg", "thing"]})
    )
    expected = DatasetInfo("synthetic", 2, 255, ("bg", "thing"))
    assert dataset_info("synthetic", str(tmp_path)) == expected


def test_num_classes_must_agree_with_a_fixed_dataset():
    with pytest.raises(ConfigError, match="21"):
        dataset_info("voc2012", "/nowhere", num_classes=20)
    assert dataset_info("voc2012", "/nowhere", num_classes=21).num_classes == 21
