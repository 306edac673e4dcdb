"""Every reader shares a split across input pipelines before decoding: disjoint, complete, own share decoded only."""

import os
import types

import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf.data import read_split, synthetic, tfrecord
from deeplab_tf.errors import DataError
from deeplab_tf.training.config import TrainConfig
from deeplab_tf.training.inputs import distributed_dataset
from tests.data.test_folder import blocks, png, write_folder

PIPELINES = 2


def context(index, count=PIPELINES):
    return tf.distribute.InputContext(num_input_pipelines=count, input_pipeline_id=index,
                                      num_replicas_in_sync=count)


def filenames(dataset):
    return [e["filename"].decode() for e in dataset.as_numpy_iterator()]


def shares(name, root, split, seed=None, **kwargs):
    """The example ids each of the two pipelines reads; with `seed`, each shuffles with seed + index (as the trainer)."""
    return [filenames(read_split(name, root, split, input_context=context(i), **kwargs,
                                 **({} if seed is None else {"shuffle_files": True, "seed": seed + i})))
            for i in range(PIPELINES)]


def assert_shared(shares_, split_names):
    """Disjoint, together the split, about half each."""
    first, second = (set(s) for s in shares_)
    assert not first & second
    assert first | second == set(split_names)
    assert sorted(len(s) for s in shares_) == [len(split_names) // 2, (len(split_names) + 1) // 2]


def assert_only_own_share_decoded(name, root, split, bad, **kwargs):
    """Pipeline 0 reads its whole share; pipeline 1 (whose share holds `bad`) fails naming it."""
    assert bad not in filenames(read_split(name, root, split, input_context=context(0), **kwargs))
    with pytest.raises(tf.errors.InvalidArgumentError, match=bad):
        filenames(read_split(name, root, split, input_context=context(1), **kwargs))


def voc_with_a_bad_example(data_helpers, root, num):
    """A VOC tree of `num` train examples; the fourth one's label is smaller than its image."""
    names = [f"2007_{i:06d}" for i in range(num)]
    root, _ = data_helpers.simple_voc(root, num=num, size=(12, 16), splits={"train": names})
    bad = names[3]
    data_helpers.write(os.path.join(root, "SegmentationClass", bad + ".png"),
                       data_helpers.palette_png(np.zeros((6, 8), np.uint8)))
    return root, names, bad


def test_voc_layout_is_shared_by_example_and_decodes_only_its_share(tmp_path, data_helpers):
    root, names, bad = voc_with_a_bad_example(data_helpers, tmp_path, num=7)
    good = [n for n in names if n != bad]
    with open(os.path.join(root, "ImageSets", "Segmentation", "good.txt"), "w") as f:
        f.write("".join(n + "\n" for n in good))
    assert_shared(shares("voc2012", root, "good"), good)
    assert_shared(shares("voc2012", root, "good", seed=3), good)
    assert_only_own_share_decoded("voc2012", root, "train", bad)


def test_skip_bad_examples_leaves_them_out_before_sharing(tmp_path, data_helpers):
    root, names, bad = voc_with_a_bad_example(data_helpers, tmp_path, num=7)
    assert_shared(shares("voc2012", root, "train", skip_bad_examples=True), [n for n in names if n != bad])


def test_the_generated_set_is_shared_by_example(tmp_path):
    synthetic.generate_dataset(str(tmp_path), num_train=5, num_val=1, image_size=32, log_every=0)
    assert_shared(shares("synthetic", str(tmp_path), "train", seed=0),
                  [f"train_{i:05d}" for i in range(5)])


def test_a_folder_dataset_is_shared_by_example_and_decodes_only_its_share(tmp_path):
    names = [f"img_{i}" for i in range(6)]
    masks = {name: png(blocks(8, 8, 2, i), "L") for i, name in enumerate(names)}
    root = write_folder(tmp_path, masks, {"names": ["bg", "fg"]}, splits={"train": names, "val": names[:1]})
    assert_shared(shares("folder", root, "train", seed=1), names)
    with open(os.path.join(root, "masks", "img_3.png"), "wb") as f:
        f.write(masks["img_3"][:40])  # truncated: pipeline 1's share
    assert_only_own_share_decoded("folder", root, "train", "img_3")


def write_records(data_helpers, directory, split, num, num_shards, bad=None):
    """`num` examples in `num_shards` official shards; example `bad`'s label is smaller than its image."""
    examples = []
    for i in range(num):
        image = data_helpers.make_image(12, 16, seed=i)
        label = data_helpers.make_label(*((6, 8) if i == bad else (12, 16)), seed=i)
        examples.append(tfrecord.make_example(f"ex_{i}", data_helpers.jpeg(image), "jpeg", 12, 16,
                                              data_helpers.index_png(label)))
    tfrecord.write_split(examples, str(directory), split, num, num_shards, log_every=0)
    return [f"ex_{i}" for i in range(num)]


@pytest.mark.parametrize("num_shards", [3, 1])
def test_tfrecords_are_shared_by_file_or_by_record_and_decode_only_their_share(tmp_path, data_helpers,
                                                                               num_shards):
    names = write_records(data_helpers, tmp_path, "train", 7, num_shards, bad=3)
    names = write_records(data_helpers, tmp_path, "good", 7, num_shards)
    got = shares("tfrecord", str(tmp_path), "good", num_classes=21, seed=0)
    first, second = (set(s) for s in got)
    assert not first & second and first | second == set(names)
    if num_shards == 3:  # shards of 3, 3 and 1 examples: files 0 and 2 to pipeline 0, file 1 to pipeline 1
        assert second == {"ex_3", "ex_4", "ex_5"}
    else:  # every other record
        assert_shared(got, names)
        assert second == {"ex_1", "ex_3", "ex_5"}
    assert_only_own_share_decoded("tfrecord", str(tmp_path), "train", "ex_3", num_classes=21)


def test_fewer_examples_than_pipelines_is_a_one_line_error_naming_split_and_counts(tmp_path, data_helpers):
    root, _ = data_helpers.simple_voc(tmp_path / "voc", num=3, splits={"tiny": ["2007_000000"]})
    with pytest.raises(DataError, match=r"tiny\.txt: split 'tiny' has 1 example\(s\), fewer than the 2 input"):
        read_split("voc2012", root, "tiny", input_context=context(0))
    write_records(data_helpers, tmp_path / "one", "train", 1, 1)
    with pytest.raises(DataError, match=r"split 'train' has 1 example\(s\), fewer than the 2 input pipelines"):
        read_split("tfrecord", str(tmp_path / "one"), "train", num_classes=21, input_context=context(1))
    write_records(data_helpers, tmp_path / "empty_shard", "train", 1, 2)  # the second shard is empty
    with pytest.raises(DataError, match=r"shard file\(s\) of input pipeline 1 \(of 2\) of split 'train' hold no"):
        read_split("tfrecord", str(tmp_path / "empty_shard"), "train", num_classes=21, input_context=context(1))
    write_records(data_helpers, tmp_path / "thin", "train", 3, 2)  # 2 + 1 records, 3 pipelines
    with pytest.raises(DataError, match=r"3 examples in 2 shard file\(s\), none with 3 or more"):
        read_split("tfrecord", str(tmp_path / "thin"), "train", num_classes=21, input_context=context(2, 3))


def ade20k_val(data_helpers, root, num):
    ade = root / "downloads" / "manual" / "ADEChallengeData2016"
    label = (np.arange(48, dtype=np.uint8).reshape(6, 8) * 3)
    for folder, prefix, count in (("training", "ADE_train", 2), ("validation", "ADE_val", num)):
        for i in range(count):
            data_helpers.write(str(ade / "images" / folder / f"{prefix}_{i:08d}.jpg"),
                               data_helpers.jpeg(data_helpers.make_image(6, 8, seed=i)))
            data_helpers.write(str(ade / "annotations" / folder / f"{prefix}_{i:08d}.png"),
                               data_helpers.index_png(label))
    return [f"ADE_val_{i:08d}" for i in range(num)]


@pytest.mark.parametrize("num_shards", [None, 2])
def test_tfds_sets_are_shared_by_file_or_by_even_split(tmp_path, data_helpers, num_shards):
    import tensorflow_datasets as tfds

    from deeplab_tf.data import ade20k

    names = ade20k_val(data_helpers, tmp_path, 5)
    builder = ade20k.builder_class()(data_dir=str(tmp_path))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=str(tmp_path / "downloads" / "manual"), num_shards=num_shards))
    assert builder.info.splits["validation"].num_shards == (num_shards or 1)
    got = shares("ade20k", str(tmp_path), "val", seed=0)
    assert_shared(got, names)
    with pytest.raises(DataError, match=r"split 'train' has 2 example\(s\), fewer than the 3 input pipelines"):
        read_split("ade20k", str(tmp_path), "train", input_context=context(0, 3))


def test_the_trainer_hands_each_pipeline_its_context(tmp_path, data_helpers):
    root, names, bad = voc_with_a_bad_example(data_helpers, tmp_path, num=7)
    config = TrainConfig(dataset="voc2012", dataset_dir=root, train_split="train", batch_size=2,
                         crop_size=(8, 8), shuffle_buffer=1)
    strategy = types.SimpleNamespace(distribute_datasets_from_function=lambda fn: [fn(context(i))
                                                                                 for i in range(PIPELINES)])
    info = types.SimpleNamespace(num_classes=21, ignore_label=255)
    first, second = distributed_dataset(strategy, config, info, seed=0)
    assert len(list(first.take(8))) == 8  # two passes over its 4 examples, batches of 1 per replica
    with pytest.raises(tf.errors.InvalidArgumentError, match=bad):
        list(second.take(8))
