"""tools.predict and its image reading: odd inputs, every kind of model, per-image errors."""

import os
import struct
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from deeplab_tf import DataError, InputError, ModelConfig, build_model, model_dir
from deeplab_tf.evaluation import images
from tests.tool_runner import run_tool



def _run(*flags):
    return run_tool("predict", *flags)


def _png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png16(array):
    """A 16-bit grayscale or RGB PNG, written by hand (Pillow writes neither from RGB)."""
    height, width = array.shape[:2]
    colour_type = 2 if array.ndim == 3 else 0
    rows = b"".join(b"\x00" + array[y].astype(">u2").tobytes() for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(rows))
            + _png_chunk(b"IEND", b""))


def _huge_png_header(width, height):
    """A PNG that claims to be huge (its pixels are never there to decode)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IEND", b"")


def _rgb(height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def odd_inputs(tmp_path_factory):
    """A folder of good images in every mode, plus a truncated, an oversized and a non-image file."""
    folder = tmp_path_factory.mktemp("inputs")
    rgb = _rgb(40, 48)
    Image.fromarray(rgb).save(folder / "rgb.jpg", quality=95)
    Image.fromarray(rgb[..., 0]).save(folder / "gray.png")
    Image.fromarray(np.dstack([rgb, np.full((40, 48), 7, np.uint8)]), "RGBA").save(folder / "rgba.png")
    (folder / "gray16.png").write_bytes(_png16(np.arange(30 * 20, dtype=np.uint16).reshape(30, 20) * 100))
    palette = Image.fromarray(np.arange(33 * 17).reshape(33, 17).astype(np.uint8) % 8, mode="P")
    palette.putpalette([v for i in range(256) for v in (i, 255 - i, 3 * i % 256)])
    palette.save(folder / "palette.png")
    jpeg = (folder / "rgb.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (folder / "huge.png").write_bytes(_huge_png_header(8000, 8000))  # 64 megapixels
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_read_image_converts_every_mode_to_rgb(odd_inputs):
    rgb = np.asarray(Image.open(odd_inputs / "rgba.png"))[..., :3]
    np.testing.assert_array_equal(images.read_image(str(odd_inputs / "rgba.png")), rgb)
    gray = images.read_image(str(odd_inputs / "gray.png"))
    assert gray.shape == (40, 48, 3)
    np.testing.assert_array_equal(gray[..., 2], rgb[..., 0])
    sixteen = images.read_image(str(odd_inputs / "gray16.png"))
    assert sixteen.shape == (30, 20, 3) and sixteen.dtype == np.uint8
    np.testing.assert_array_equal(sixteen[..., 1], (np.arange(600).reshape(30, 20) * 100) >> 8)
    colours = images.read_image(str(odd_inputs / "palette.png"))
    index = np.arange(33 * 17).reshape(33, 17) % 8
    np.testing.assert_array_equal(colours[..., 1], 255 - index)


def test_read_image_refuses_broken_and_oversized_files_naming_them(odd_inputs, tmp_path):
    with pytest.raises(DataError, match="truncated.jpg.*truncated"):
        images.read_image(str(odd_inputs / "truncated.jpg"))
    with pytest.raises(DataError, match=r"huge.png: 8000x8000 is 64,000,000 pixels, over max_pixels=50,000,000"):
        images.read_image(str(odd_inputs / "huge.png"))
    fake = tmp_path / "fake.png"
    fake.write_text("hello")
    with pytest.raises(DataError, match="fake.png: cannot decode"):
        images.read_image(str(fake))
    rgb = images.read_image(str(odd_inputs / "rgb.jpg"), max_pixels=40 * 48)  # exactly at the limit
    assert rgb.shape == (40, 48, 3)


def test_list_images_and_distinct_output_names(odd_inputs, tmp_path):
    found = images.list_images(str(odd_inputs))
    assert [os.path.basename(p) for p in found] == [
        "gray.png", "gray16.png", "huge.png", "palette.png", "rgb.jpg", "rgba.png", "truncated.jpg"]
    assert images.list_images(str(odd_inputs / "r*.*")) == [str(odd_inputs / "rgb.jpg"), str(odd_inputs / "rgba.png")]
    assert images.list_images(str(odd_inputs / "gray.png")) == [str(odd_inputs / "gray.png")]
    with pytest.raises(InputError, match="no JPEG or PNG"):
        images.list_images(str(tmp_path / "*.jpg"))
    stems = images.output_stems(["x/a.jpg", "y/a.jpg", "x/b.jpg", "x/b.png"])
    assert stems == ["x__a", "y__a", "x__b_jpg", "x__b_png"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model as a model directory and as a .keras file."""
    root = tmp_path_factory.mktemp("model")
    config = ModelConfig(backbone="resnet18", num_classes=6, aspp_filters=16)
    model = build_model(config)
    model(np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32"), training=True)
    directory = str(root / "run")
    model_dir.save_model_config(directory, config, dataset={"name": "synthetic"})
    tf.train.CheckpointManager(tf.train.Checkpoint(model=model), os.path.join(directory, "checkpoints"), 1).save()
    model.save(str(root / "model.keras"))
    return directory, str(root / "model.keras")


def test_folder_of_odd_images_goes_on_after_bad_ones(odd_inputs, trained, tmp_path):
    result = _run(f"--model={trained[0]}", f"--input={odd_inputs}", f"--output_dir={tmp_path}")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("predict: error:")]
    assert len(errors) == 3, result.stderr
    assert "huge.png: 8000x8000" in errors[0] and "over max_pixels" in errors[0]
    assert "truncated.jpg: cannot decode image" in errors[1]
    assert errors[2] == "predict: error: 2 of 7 images failed (see above)"
    for stem, size in [("rgb", (48, 40)), ("gray", (48, 40)), ("rgba", (48, 40)), ("gray16", (20, 30)),
                       ("palette", (17, 33))]:
        label = Image.open(tmp_path / f"{stem}.png")
        overlay = Image.open(tmp_path / f"{stem}_overlay.png")
        assert (label.mode, label.size) == ("P", size)
        assert (overlay.mode, overlay.size) == ("RGB", size)
        assert np.asarray(label).max() < 6
    assert not (tmp_path / "truncated.png").exists() and not (tmp_path / "huge.png").exists()


def test_keras_file_glob_multi_scale_flip_and_crf(odd_inputs, trained, tmp_path):
    result = _run(f"--model={trained[1]}", f"--input={odd_inputs}/rgb*", f"--output_dir={tmp_path}",
                  "--eval_scales=0.5,1", "--flip", "--crf", "--crf_backend=pydensecrf", "--crf_iterations=2")
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(tmp_path)) == ["rgb.png", "rgb_overlay.png", "rgba.png", "rgba_overlay.png"]
    assert "wrote 2 label PNGs" in result.stdout


def test_exported_saved_model_labels_are_its_own(odd_inputs, trained, tmp_path):
    from deeplab_tf.export import export_saved_model

    model = model_dir.load_model(trained[0])
    names = ["background", "disc", "square", "triangle", "ring", "cross"]
    export_saved_model(model, str(tmp_path / "saved"), info={"dataset": {"class_names": names}})
    result = _run(f"--model={tmp_path / 'saved'}", f"--input={odd_inputs / 'rgb.jpg'}", f"--output_dir={tmp_path}/out")
    assert result.returncode == 0, result.stderr
    labels = np.asarray(Image.open(tmp_path / "out" / "rgb.png"))
    image = np.asarray(Image.open(odd_inputs / "rgb.jpg"))
    served = tf.saved_model.load(str(tmp_path / "saved")).signatures["serving_default"]
    expected = served(images=tf.constant(image[None]))["labels"].numpy()[0]
    assert labels.shape == expected.shape == (40, 48)
    assert np.mean(labels == expected) > 0.999


def test_a_path_that_is_no_model_is_a_one_line_error(odd_inputs, tmp_path):
    result = _run(f"--model={tmp_path}", f"--input={odd_inputs}", f"--output_dir={tmp_path}/out")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"predict: error: --model: {tmp_path} is not a model")
