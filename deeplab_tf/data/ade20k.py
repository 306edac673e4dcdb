"""ADE20K (SceneParse150, 150 classes): its classes, their colours, and the TFDS builder it is read through.

`dataset_dir` is a TFDS data directory; the builder below prepares it there
from `ADEChallengeData2016.zip` (or the folder it unpacks to), placed as
`tfds_sets` says. TFDS's own `scene_parse150` is not used: it reads the 2017
*instance* annotations (R = one of 100 instance categories, G = instance id),
not the 150-class semantic maps. Label 0 ("other") becomes 255 and 1..150
become 0..149.
"""

import functools
import os

import numpy as np
import tensorflow as tf

from deeplab_tf.data import tfds_sets

# SceneParse150 (objectInfo150.csv), in label order 1..150; label 0 "other" is ignored.
CLASS_NAMES = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed",
    "windowpane", "grass", "cabinet", "sidewalk", "person", "earth", "door",
    "table", "mountain", "plant", "curtain", "chair", "car", "water", "painting",
    "sofa", "shelf", "house", "sea", "mirror", "rug", "field", "armchair", "seat",
    "fence", "desk", "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion",
    "base", "box", "column", "signboard", "chest of drawers", "counter", "sand",
    "sink", "skyscraper", "fireplace", "refrigerator", "grandstand", "path",
    "stairs", "runway", "case", "pool table", "pillow", "screen door", "stairway",
    "river", "bridge", "bookcase", "blind", "coffee table", "toilet", "flower",
    "book", "hill", "bench", "countertop", "stove", "palm", "kitchen island",
    "computer", "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus",
    "towel", "light", "truck", "tower", "chandelier", "awning", "streetlight",
    "booth", "television receiver", "airplane", "dirt track", "apparel", "pole",
    "land", "bannister", "escalator", "ottoman", "bottle", "buffet", "poster",
    "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer",
    "plaything", "swimming pool", "stool", "barrel", "basket", "waterfall", "tent",
    "bag", "minibike", "cradle", "oven", "ball", "food", "step", "tank",
    "trade name", "microwave", "pot", "animal", "bicycle", "lake", "dishwasher",
    "screen", "blanket", "sculpture", "hood", "sconce", "vase", "traffic light",
    "tray", "ashcan", "fan", "pier", "crt screen", "plate", "monitor",
    "bulletin board", "shower", "radiator", "glass", "clock", "flag",
)

# SceneParse150's colours of classes 1..150 (Zhou et al., CVPR 2017), in
# `CLASS_NAMES` order, as RRGGBB hex.
_ADE20K_HEX = (
    "787878b4787806e6e650323204c8037878508c8c8ccc05ffe6e6e604fa07e005ffebff0796053d78784608ff33ff0652"
    "8fff8cccff04ff3307cc46030066c83de6faff06330b66ffff0747ff09e00907e6dcdcdcff095c7009ff08ffd607ffe0"
    "ffb8060aff47ff290a07ffffe0ff086608ffff3d06ffc207ff7a0800ff14ff0829ff05990633ffeb0cffa0961400a3ff"
    "8c8c8cfa0a0f14ff001fff00ff1f00ffe00099ff000000ffff470000ebff00adff1f00ff0bc8c8ff520000fff5003dff"
    "00ff7000ff85ff0000ffa300ff6600c2ff00008fff33ff000052ff00ff2900ffad0a00ffadff0000ff99ff5c00ff00ff"
    "ff00f5ff0066ffad00ff0014ffb8b8001fff00ff3d0047ffff00cc00ffc200ff52000aff0070ff3300ff00c2ff007aff"
    "00ffa3ff990000ff0aff70008fff005200ffa3ff00ffeb0008b8aa8500ff00ff5cb800ffff001f00b8ff00d6ffff0070"
    "5cff0000e0ff70e0ff46b8a0a300ff9900ff47ff00ff00a3ffcc00ff008f00ffeb85ff00ff00ebf500ffff007afff500"
    "0abed4d6ff0000ccff1400ffffff000099ff0029ff00ffcc2900ff29ff00ad00ff00f5ff4700ff7a00ff00ffb8005cff"
    "b8ff000085ffffd60019c2c266ff005c00ff"
)
COLORS = tuple(
    tuple(int(_hex[i + j:i + j + 2], 16) for j in (0, 2, 4))
    for _hex in ("".join(_ADE20K_HEX),) for i in range(0, len(_hex), 6)
)

TRAIN_ID_TABLE = np.full(256, tfds_sets.IGNORE, np.uint8)
TRAIN_ID_TABLE[1:151] = np.arange(150, dtype=np.uint8)

_ARCHIVE = "ADEChallengeData2016.zip"
_FOLDER = "ADEChallengeData2016"


def to_train_ids(label):
    """SceneParse150 labels 1..150 → 0..149; 0 ("other") and anything else → 255."""
    return tfds_sets.lookup(TRAIN_ID_TABLE, label)


@functools.lru_cache(maxsize=None)
def builder_class():
    """The TFDS builder of the semantic maps (a class, made on first use: TFDS imports slowly)."""
    import tensorflow_datasets as tfds

    class SceneParse150Semantic(tfds.core.GeneratorBasedBuilder, skip_registration=True):
        """SceneParse150 (ADE20K, 150 classes) from ADEChallengeData2016."""

        VERSION = tfds.core.Version("1.0.0")
        MANUAL_DOWNLOAD_INSTRUCTIONS = (
            f"Download {_ARCHIVE} from http://sceneparsing.csail.mit.edu/ "
            "and place it (or the folder it unpacks to) in the manual directory."
        )

        def _info(self):
            return tfds.core.DatasetInfo(
                builder=self,
                description="SceneParse150 semantic maps: 0 = other, 1..150 = classes.",
                features=tfds.features.FeaturesDict({
                    "image_id": tfds.features.Text(),
                    "image": tfds.features.Image(encoding_format="jpeg"),
                    "annotation": tfds.features.Image(
                        shape=(None, None, 1), encoding_format="png"
                    ),
                }),
                homepage="http://sceneparsing.csail.mit.edu/",
            )

        def _split_generators(self, dl_manager):
            manual = os.fspath(dl_manager.manual_dir)
            root = os.path.join(manual, _FOLDER)
            if not os.path.isdir(root):
                root = os.path.join(
                    os.fspath(dl_manager.extract(os.path.join(manual, _ARCHIVE))),
                    _FOLDER,
                )
            return {
                "train": self._generate_examples(root, "training"),
                "validation": self._generate_examples(root, "validation"),
            }

        def _generate_examples(self, root, folder):
            image_dir = os.path.join(root, "images", folder)
            label_dir = os.path.join(root, "annotations", folder)
            for name in sorted(tf.io.gfile.listdir(image_dir)):
                if not name.endswith(".jpg"):
                    continue
                image_id = name[: -len(".jpg")]
                yield image_id, {
                    "image_id": image_id,
                    "image": os.path.join(image_dir, name),
                    "annotation": os.path.join(label_dir, image_id + ".png"),
                }

    return SceneParse150Semantic


SOURCE = tfds_sets.TfdsSource(
    name="ade20k",
    make_builder=lambda dataset_dir: builder_class()(data_dir=dataset_dir),
    archives=(_ARCHIVE,),
    unpacked=_FOLDER,
    split_aliases={"train": "train", "training": "train", "val": "validation", "validation": "validation"},
    image_key="image",
    label_key="annotation",
    to_train_ids=to_train_ids,
)

FORMAT = tfds_sets.tfds_format(SOURCE, CLASS_NAMES, COLORS, "a TFDS data directory with the manual download")
