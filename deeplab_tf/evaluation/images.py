"""Reading user images of any mode and bit depth as RGB uint8, refusing oversized and broken files."""

import glob
import os
import warnings

import numpy as np
from PIL import Image, ImageOps

from deeplab_tf.errors import DataError, InputError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
DEFAULT_MAX_PIXELS = 50_000_000


def list_images(pattern):
    """The JPEG/PNG files named by a file, a folder (not recursive) or a glob, sorted.

    Raises:
        InputError: nothing matches.
    """
    if os.path.isdir(pattern):
        names = [os.path.join(pattern, name) for name in os.listdir(pattern)]
    elif os.path.isfile(pattern):
        return [pattern]
    else:
        names = glob.glob(pattern, recursive=True)
    images = sorted(n for n in names if os.path.isfile(n) and n.lower().endswith(IMAGE_EXTENSIONS))
    if not images:
        raise InputError(f"input: no JPEG or PNG images at {pattern}")
    return images


def read_image(path, max_pixels=DEFAULT_MAX_PIXELS):
    """A JPEG or PNG file as uint8 [H, W, 3] RGB.

    Grayscale is replicated to three channels, alpha dropped, palettes
    expanded, 16-bit samples reduced to their high byte (as Pillow does for
    16-bit RGB), and the EXIF orientation applied, so the result is upright as
    viewers show it.

    Raises:
        DataError: over `max_pixels` (checked from the header, before decoding),
            truncated, or not an image; the message names the file.
    """
    try:
        with warnings.catch_warnings():
            # `max_pixels` is the guard we mean; Pillow's own (a warning above 89
            # megapixels, an error above twice that) is lifted by the tools.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as picture:
                width, height = picture.size
                if max_pixels and width * height > max_pixels:
                    raise DataError(
                        f"{path}: {width}x{height} is {width * height:,} pixels, over "
                        f"max_pixels={max_pixels:,}"
                    )
                picture.load()
                return _to_rgb(ImageOps.exif_transpose(picture))
    except DataError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        # Pillow says "image file is truncated" or "cannot identify image file".
        raise DataError(f"{path}: cannot decode image ({error})") from None


def _to_rgb(picture):
    if picture.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        values = np.asarray(picture)
        if values.dtype.kind == "f":
            values = np.clip(np.nan_to_num(values), 0, 255)
        elif picture.mode.startswith("I;16") or values.max(initial=0) > 255:
            values = np.clip(values, 0, 65535) >> 8
        else:  # 32-bit "I" holding 8-bit values
            values = np.clip(values, 0, 255)
        return np.repeat(values.astype(np.uint8)[..., None], 3, axis=2)
    if picture.mode in ("P", "PA") and "transparency" in picture.info:
        picture = picture.convert("RGBA")  # Pillow wants this path for palette transparency
    # A copy: arrays that share Pillow's buffer are read-only, which C extensions refuse.
    return np.array(picture.convert("RGB"), np.uint8)


def output_stems(paths):
    """A distinct output name (no extension) for each input path.

    The path relative to the inputs' common folder, with folders joined by
    "__" (so x/a.jpg and y/a.jpg differ); the extension is kept where two
    inputs differ only by it (a.jpg, a.png).
    """
    folders = [os.path.dirname(os.path.abspath(p)) for p in paths]
    common = os.path.commonpath(folders) if paths else ""
    stems = [os.path.splitext(os.path.relpath(os.path.abspath(p), common))[0].replace(os.sep, "__")
             for p in paths]
    counts = {stem: stems.count(stem) for stem in stems}
    return [stem + "_" + os.path.splitext(p)[1].lstrip(".").lower() if counts[stem] > 1 else stem
            for stem, p in zip(stems, paths)]
