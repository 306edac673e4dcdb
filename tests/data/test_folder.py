"""The folder dataset: classes.json, palette/gray/RGB masks, splits, ignore 0 and 255, and every bad input."""

import io
import json
import os

import numpy as np
import pytest
from PIL import Image

from deeplab_tf.data import dataset_info, folder, read_split, validate_split
from deeplab_tf.data.convert import write_tfrecords
from deeplab_tf.errors import ConfigError, DataError

COLORS = [[0, 0, 0], [200, 30, 30], [30, 200, 30]]


def png(array, mode, palette=None):
    picture = Image.fromarray(np.asarray(array), mode=mode)
    if palette is not None:
        picture.putpalette(np.asarray(palette, np.uint8).ravel().tolist())
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def blocks(height, width, num_values, seed):
    """Stored mask values: a grid of blocks cycling through 0..num_values-1 (every value occurs)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    offset = int(rng.integers(0, num_values))
    return ((y // 4 * 7 + x // 4 + offset) % num_values).astype(np.uint8)


def write_folder(root, masks, classes, images=None, splits=None, image_ext=".jpg"):
    """A folder dataset: `masks` {name: PNG bytes}, images of the masks' sizes unless given."""
    os.makedirs(os.path.join(root, "images"), exist_ok=True)
    os.makedirs(os.path.join(root, "masks"), exist_ok=True)
    with open(os.path.join(root, "classes.json"), "w") as file:
        json.dump(classes, file)
    for name, data in masks.items():
        with open(os.path.join(root, "masks", name + ".png"), "wb") as file:
            file.write(data)
    if images is None:
        images = {}
        for index, (name, data) in enumerate(masks.items()):
            width, height = Image.open(io.BytesIO(data)).size
            rgb = np.random.default_rng(index).integers(0, 255, (height, width, 3), dtype=np.uint8)
            buffer = io.BytesIO()
            Image.fromarray(rgb).save(buffer, format="JPEG" if image_ext == ".jpg" else "PNG")
            images[name + image_ext] = buffer.getvalue()
    for filename, data in images.items():
        with open(os.path.join(root, "images", filename), "wb") as file:
            file.write(data)
    for split, names in (splits or {}).items():
        with open(os.path.join(root, split + ".txt"), "w") as file:
            file.write("".join(n + "\n" for n in names))
    return str(root)


def labels_of(root, split, **kwargs):
    return {e["filename"].decode(): e["label"] for e in read_split("folder", root, split, **kwargs).as_numpy_iterator()}


@pytest.mark.parametrize("kind", ["palette", "gray", "rgb"])
def test_palette_gray_and_rgb_masks_read_as_class_ids(tmp_path, kind):
    values = {f"img{i}": blocks(12, 16, 3, i) for i in range(3)}
    values["img0"][0, :3] = 255  # ignored pixels
    if kind == "palette":  # a palette that is not VOC's: the indices are the classes
        palette = np.zeros((256, 3), np.uint8)
        palette[:3] = [[9, 9, 9], [250, 250, 0], [0, 0, 250]]
        masks = {n: png(v, "P", palette) for n, v in values.items()}
        classes = {"names": ["bg", "a", "b"]}
    elif kind == "gray":
        masks = {n: png(v, "L") for n, v in values.items()}
        classes = {"names": ["bg", "a", "b"]}
    else:
        table = np.zeros((256, 3), np.uint8)
        table[:3] = COLORS
        table[255] = [255, 255, 255]
        masks = {n: png(table[v], "RGB") for n, v in values.items()}
        classes = {"names": ["bg", "a", "b"], "colors": COLORS, "ignore_color": [255, 255, 255]}
    root = write_folder(tmp_path, masks, classes, splits={"train": sorted(values)})
    assert dataset_info("folder", root).num_classes == 3
    read = labels_of(root, "train")
    assert sorted(read) == sorted(values)
    for name, expected in values.items():
        np.testing.assert_array_equal(read[name], expected)
    report = validate_split("folder", root, "train")
    assert report.ok and report.num_usable == 3
    assert report.ignore_pixel_count == 3


def test_rgb_mask_with_an_unlisted_colour_names_file_colour_and_pixel(tmp_path):
    rgb = np.zeros((8, 10, 3), np.uint8)
    rgb[2, 5] = [1, 2, 3]
    root = write_folder(tmp_path, {"a": png(rgb, "RGB"), "b": png(np.zeros((8, 10, 3), np.uint8), "RGB")},
                        {"names": ["bg", "x", "y"], "colors": COLORS}, splits={"train": ["a", "b"]})
    report = validate_split("folder", root, "train")
    assert report.bad_examples == ["a"]
    (problem,) = report.problems
    assert problem.filename.endswith(os.path.join("masks", "a.png"))
    assert "[1, 2, 3]" in problem.fault and "x=5, y=2" in problem.fault
    with pytest.raises(Exception, match=r"a\.png.*\[1, 2, 3\]"):  # without validation: when read
        list(read_split("folder", root, "train").as_numpy_iterator())
    assert list(labels_of(root, "train", skip_bad_examples=True)) == ["b"]


def test_rgb_mask_without_colors_in_classes_json_is_refused(tmp_path):
    root = write_folder(tmp_path, {"a": png(np.zeros((4, 4, 3), np.uint8), "RGB")}, {"names": ["bg", "x"]},
                        splits={"train": ["a"]})
    (problem,) = validate_split("folder", root, "train").problems
    assert "lists no \"colors\"" in problem.fault


def test_without_split_files_the_split_by_name_is_seeded_disjoint_and_complete(tmp_path):
    names = [f"n{i:02d}" for i in range(30)]
    root = write_folder(tmp_path, {n: png(blocks(8, 8, 2, i), "L") for i, n in enumerate(names)},
                        {"names": ["bg", "fg"]}, splits={"notes": []})  # not a split: no train.txt or val.txt
    assert folder.list_splits(root) == ["train", "val"]
    train, val = labels_of(root, "train"), labels_of(root, "val")
    assert len(val) == 3 and not set(train) & set(val) and set(train) | set(val) == set(names)
    assert labels_of(root, "val").keys() == val.keys()  # the same split every time
    assert len(labels_of(root, "val", val_fraction=0.5)) == 15
    # The split depends on each name alone: a new image moves at most one old name.
    again_train, again_val = folder.split_by_name(names + ["n99"], 0.1)
    assert len(set(val) ^ set(again_val)) <= 2
    with pytest.raises(ConfigError, match="val_fraction"):
        folder.list_examples(root, "val", 1.5)


def test_split_files_take_precedence_and_a_missing_split_names_the_file(tmp_path):
    root = write_folder(tmp_path, {"a": png(blocks(8, 8, 2, 0), "L"), "b": png(blocks(8, 8, 2, 1), "L")},
                        {"names": ["bg", "fg"]}, splits={"train": ["a"], "val": ["b.jpg"]})
    assert list(labels_of(root, "train")) == ["a"] and list(labels_of(root, "val")) == ["b"]
    with pytest.raises(DataError, match=r"test\.txt: split file not found \(splits here: train, val\)"):
        read_split("folder", root, "test")


def test_ignore_label_zero_shifts_the_classes_and_ignores_zero(tmp_path):
    stored = blocks(8, 12, 4, 0)  # 0 = "other" (ignored), 1..3 = the classes
    root = write_folder(tmp_path, {"a": png(stored, "L")},
                        {"names": ["other", "road", "car", "sky"], "ignore_label": 0}, splits={"train": ["a"]})
    info = dataset_info("folder", root)
    assert (info.num_classes, info.class_names, info.ignore_label) == (3, ("road", "car", "sky"), 255)
    label = labels_of(root, "train")["a"]
    np.testing.assert_array_equal(label, np.where(stored == 0, 255, stored - 1))
    report = validate_split("folder", root, "train")
    assert report.ok and report.ignore_pixel_count == int((stored == 0).sum())


def test_ignore_label_zero_works_for_tfrecord_shards_through_dataset_json(tmp_path):
    from deeplab_tf.data import image_io, tfrecord

    stored = blocks(8, 12, 4, 0)
    image = np.zeros((8, 12, 3), np.uint8)
    example = tfrecord.make_example("x", image_io.encode_jpeg(image), "jpeg", 8, 12, image_io.encode_index_png(stored))
    tfrecord.write_split([example], str(tmp_path), "val", 1, 1)
    (tmp_path / "dataset.json").write_text(json.dumps({"num_classes": 4, "ignore_label": 0}))
    info = dataset_info("tfrecord", str(tmp_path))
    assert (info.num_classes, info.zero_is_ignore) == (3, True)
    (element,) = read_split("tfrecord", str(tmp_path), "val").as_numpy_iterator()
    np.testing.assert_array_equal(element["label"], np.where(stored == 0, 255, stored - 1))
    assert validate_split("tfrecord", str(tmp_path), "val").ok


def test_a_two_class_and_a_forty_class_set(tmp_path):
    two = write_folder(tmp_path / "two", {"a": png(blocks(8, 8, 2, 0) * 1, "L")}, {"names": ["bg", "fg"]},
                       splits={"train": ["a"]})
    assert validate_split("folder", two, "train").class_pixel_counts.tolist() == [32, 32]
    colors = [[i * 6, 255 - i * 6, (i * 37) % 256] for i in range(40)]
    stored = blocks(24, 40, 40, 3)
    forty = write_folder(tmp_path / "forty", {"a": png(np.asarray(colors, np.uint8)[stored], "RGB")},
                         {"names": [f"c{i}" for i in range(40)], "colors": colors}, splits={"train": ["a"]})
    info = dataset_info("folder", forty)
    assert info.num_classes == 40 and info.palette[39] == tuple(colors[39])
    np.testing.assert_array_equal(labels_of(forty, "train")["a"], stored)
    assert (validate_split("folder", forty, "train").class_image_counts == 1).all()


def test_every_bad_example_is_named_and_skip_bad_examples_leaves_them_out(tmp_path):
    good = png(blocks(8, 8, 3, 0), "L")
    masks = {"good": good, "no_image": good, "small": png(blocks(6, 6, 3, 0), "L"),
             "out_of_range": png(np.full((8, 8), 7, np.uint8), "L"), "corrupt_mask": good[:40]}
    images = {}
    rgb = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(rgb, format="JPEG")
    for name in ("good", "small", "out_of_range", "corrupt_mask", "no_mask"):
        images[name + ".jpg"] = rgb.getvalue()
    images["corrupt_image.jpg"] = rgb.getvalue()[:30]
    masks["corrupt_image"] = good
    root = write_folder(tmp_path, masks, {"names": ["a", "b", "c"]}, images=images,
                        splits={"train": sorted(set(masks) | {"no_mask"})})
    report = validate_split("folder", root, "train")
    faults = {os.path.basename(p.filename): p.fault for p in report.problems}
    assert "mask without an image" in faults["no_image.png"]
    assert "image without a mask" in faults["no_mask.jpg"]
    assert "label is 6x6 but its image" in faults["small.png"]
    assert "mask values 7 are not classes" in faults["out_of_range.png"]
    assert "unreadable mask" in faults["corrupt_mask.png"]
    assert "corrupt or truncated image" in faults["corrupt_image.jpg"]
    assert sorted(report.bad_examples) == sorted((set(masks) | {"no_mask"}) - {"good"})
    with pytest.raises(DataError, match=r"no_image\.png: mask without an image.*--skip_bad_examples"):
        read_split("folder", root, "train")
    assert list(labels_of(root, "train", skip_bad_examples=True)) == ["good"]


def test_an_empty_split_is_an_error_naming_it(tmp_path):
    root = write_folder(tmp_path, {"a": png(blocks(8, 8, 2, 0), "L")}, {"names": ["bg", "fg"]},
                        splits={"train": ["a"], "val": []})
    with pytest.raises(DataError, match=r"val\.txt: split 'val' has no examples"):
        read_split("folder", root, "val")
    (problem,) = validate_split("folder", root, "val").problems
    assert problem.filename.endswith("val.txt")


@pytest.mark.parametrize("classes, message", [
    ({"names": ["a", "b", "c"], "colors": [[0, 0, 0], [1, 1, 1]]}, "3 names but 2 colors"),
    ({"names": ["a"]}, "1 classes; a folder dataset has 2 to 1000"),
    ({"names": ["a", "b"], "ignore_label": 1}, "\"ignore_label\" 1 is a class"),
    ({"names": ["a", "b"], "colors": [[0, 0, 0], [0, 0, 300]]}, r"colors\[1\] must be \[r, g, b\]"),
    ({"names": ["a", "a"]}, "lists a more than once"),
    ({"names": ["a", "b"], "colours": []}, "unknown key"),
])
def test_a_malformed_classes_json_is_an_error_naming_it(tmp_path, classes, message):
    root = write_folder(tmp_path, {"a": png(blocks(8, 8, 2, 0), "L")}, classes)
    with pytest.raises(DataError, match=message) as raised:
        dataset_info("folder", root)
    assert "classes.json" in str(raised.value)


def test_a_missing_classes_json_or_folder_says_what_is_expected(tmp_path):
    with pytest.raises(DataError, match=r"classes\.json: missing"):
        dataset_info("folder", str(tmp_path))
    (tmp_path / "classes.json").write_text(json.dumps({"names": ["a", "b"]}))
    with pytest.raises(DataError, match=r"images: missing"):
        read_split("folder", str(tmp_path), "train")


def test_build_tfrecords_from_a_folder_dataset_reads_back_the_same(tmp_path):
    table = np.zeros((256, 3), np.uint8)
    table[:3] = COLORS
    values = {f"i{k}": blocks(8, 10, 3, k) for k in range(4)}
    root = write_folder(tmp_path / "folder", {n: png(table[v], "RGB") for n, v in values.items()},
                        {"names": ["bg", "a", "b"], "colors": COLORS}, splits={"train": sorted(values)[:3],
                                                                              "val": sorted(values)[3:]})
    out = str(tmp_path / "shards")
    assert write_tfrecords("folder", root, out, 2) == {"train": 3, "val": 1}
    meta = json.loads(open(os.path.join(out, "dataset.json")).read())
    assert meta["class_names"] == ["bg", "a", "b"] and meta["palette"] == COLORS
    shards = {e["filename"].decode(): e["label"] for e in read_split("tfrecord", out, "train").as_numpy_iterator()}
    for name, label in labels_of(root, "train").items():
        np.testing.assert_array_equal(shards[name], label)
