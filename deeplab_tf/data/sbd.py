"""SBD (Hariharan et al.) and the train_aug split (SBD train ∪ SBD val ∪ VOC train − VOC val)."""

import os
import shutil

import numpy as np
import scipy.io
import tensorflow as tf
from absl import logging

from deeplab_tf.data import image_io, voc
from deeplab_tf.errors import DataError


def find_root(sbd_dir):
    """SBD's `dataset/` folder (holding `cls/`, `train.txt`, `val.txt`) in or at `sbd_dir`."""
    return voc.find_release_root(sbd_dir, ("", "dataset", os.path.join("benchmark_RELEASE", "dataset")),
                                 ("cls",), "an SBD release")


def read_sbd_label(path):
    """The class map of one SBD `.mat` file (`GTcls.Segmentation`) as uint8 [H, W].

    Raises:
        DataError: unreadable file or no `GTcls.Segmentation` in it.
    """
    try:
        mat = scipy.io.loadmat(path, struct_as_record=False, squeeze_me=True)
        segmentation = mat["GTcls"].Segmentation
    except (OSError, ValueError, KeyError, AttributeError, TypeError) as error:
        raise DataError(
            f"{path}: not an SBD class file with GTcls.Segmentation ({error})"
        ) from None
    segmentation = np.asarray(segmentation)
    if segmentation.ndim != 2 or segmentation.min() < 0 or segmentation.max() > 255:
        raise DataError(f"{path}: GTcls.Segmentation is not a 2-D uint8 class map")
    return segmentation.astype(np.uint8)


def train_aug_names(sbd_train, sbd_val, voc_train, voc_val):
    """SBD train ∪ SBD val ∪ VOC train − VOC val, sorted (10,582 ids on the real data)."""
    return sorted((set(sbd_train) | set(sbd_val) | set(voc_train)) - set(voc_val))


def _split(path):
    if not os.path.isfile(path):
        raise DataError(f"{path}: split file not found")
    return voc.read_split_file(path)


def build_voc_aug(voc_dir, sbd_dir, output_dir=None, *, log_every=1000):
    """Writes `SegmentationClassAug/` index PNGs and the `train_aug` split.

    Labels: VOC's own annotation (with its 255 boundaries) for the images VOC
    annotates, SBD's `.mat` class map for the others; written as 8-bit index
    PNGs for every id of train_aug ∪ VOC val (12,031 on the real data). The
    split goes to `ImageSets/Segmentation/train_aug.txt` in `output_dir`. When
    `output_dir` is not the VOC folder, VOC's split files are copied and its
    `JPEGImages/` and `SegmentationClass/` linked, so `output_dir` reads as
    `--dataset=voc2012` on its own.

    Returns:
        {"train_aug": number of ids, "labels_written": PNGs written,
         "from_voc": of those, taken from VOC, "from_sbd": taken from SBD}.
    """
    voc_root = voc.find_root(voc_dir)
    sbd_root = find_root(sbd_dir)
    output_dir = output_dir or voc_root
    split_dir = os.path.join(voc_root, voc.SPLIT_DIR)
    voc_train = _split(os.path.join(split_dir, "train.txt"))
    voc_val = _split(os.path.join(split_dir, "val.txt"))
    sbd_train = _split(os.path.join(sbd_root, "train.txt"))
    sbd_val = _split(os.path.join(sbd_root, "val.txt"))
    names = train_aug_names(sbd_train, sbd_val, voc_train, voc_val)

    voc_annotated = set(voc_train) | set(voc_val)
    wanted = sorted(set(names) | set(voc_val))
    missing_images = [n for n in wanted if not os.path.isfile(voc.image_path(voc_root, n))]
    if missing_images:
        raise DataError(
            f"{os.path.join(voc_root, voc.IMAGE_DIR)}: {len(missing_images)} image(s) of "
            f"train_aug/val missing, e.g. {', '.join(missing_images[:5])}"
        )

    label_dir = os.path.join(output_dir, voc.AUG_LABEL_DIR)
    os.makedirs(label_dir, exist_ok=True)
    from_voc = 0
    for count, name in enumerate(wanted, 1):
        if name in voc_annotated:
            path = os.path.join(voc_root, voc.LABEL_DIR, name + voc.LABEL_EXT)
            try:
                with open(path, "rb") as f:
                    label = image_io.decode_label(f.read()).numpy()
            except OSError as error:
                raise DataError(f"{path}: cannot read VOC label ({error.strerror})") from None
            except tf.errors.OpError as error:
                raise DataError(f"{path}: corrupt VOC label PNG ({error.message})") from None
            from_voc += 1
        else:
            label = read_sbd_label(os.path.join(sbd_root, "cls", name + ".mat"))
        with open(os.path.join(label_dir, name + voc.LABEL_EXT), "wb") as f:
            f.write(image_io.encode_index_png(label))
        if log_every and count % log_every == 0:
            logging.info("SegmentationClassAug: %d/%d labels written", count, len(wanted))

    out_split_dir = os.path.join(output_dir, voc.SPLIT_DIR)
    os.makedirs(out_split_dir, exist_ok=True)
    if os.path.realpath(output_dir) != os.path.realpath(voc_root):
        for split in voc.list_splits(voc_root):
            shutil.copyfile(os.path.join(split_dir, split + ".txt"),
                            os.path.join(out_split_dir, split + ".txt"))
        for folder in (voc.IMAGE_DIR, voc.LABEL_DIR):
            link = os.path.join(output_dir, folder)
            if not os.path.lexists(link):
                os.symlink(os.path.abspath(os.path.join(voc_root, folder)), link)
    with open(os.path.join(out_split_dir, "train_aug.txt"), "w") as f:
        f.write("".join(n + "\n" for n in names))
    return {
        "train_aug": len(names),
        "labels_written": len(wanted),
        "from_voc": from_voc,
        "from_sbd": len(wanted) - from_voc,
    }
