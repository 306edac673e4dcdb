"""Trains, evaluates and exports DeepLab v3 the Keras way: `compile`, `fit`, `evaluate`, `predict`.

    python -m tools.make_synthetic_data --output_dir=data/synthetic --num_train=200 --num_val=20 --image_size=97
    python -m examples.keras_fit --dataset_dir=data/synthetic --output_dir=runs/keras_fit

Then the tools take the model directory it writes:

    python -m tools.evaluate --model_dir=runs/keras_fit --flip
    python -m tools.export --model_dir=runs/keras_fit --export_dir=runs/keras_fit/export

docs/training.md ("Training with Keras fit") says what this gives and what
`tools.train` adds (evaluation with the best checkpoint, resuming, preemption).
"""

import argparse
import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # dilated convolutions on CPUs without AVX-512

import keras  # noqa: E402

import deeplab_tf  # noqa: E402
from deeplab_tf import data  # noqa: E402
from deeplab_tf.export import export_saved_model  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="synthetic", help="a deeplab_tf.data dataset name")
    parser.add_argument("--dataset_dir", required=True)
    parser.add_argument("--output_dir", required=True, help="the model directory to write")
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps_per_epoch", type=int, default=100)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--crop_size", type=int, default=97)
    parser.add_argument("--learning_rate", type=float, default=0.007)
    parser.add_argument("--weight_decay", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    # The dataset's facts: its classes and the label the loss and metric leave out.
    info = data.dataset_info(args.dataset, args.dataset_dir)
    config = deeplab_tf.ModelConfig(variant="v3", backbone=args.backbone, num_classes=info.num_classes)

    steps = args.epochs * args.steps_per_epoch
    keras.utils.set_random_seed(args.seed)
    model = deeplab_tf.build_model(config)
    deeplab_tf.add_weight_decay(model, args.weight_decay)  # the trainer's L2 on convolution kernels
    model.compile(
        optimizer=keras.optimizers.SGD(deeplab_tf.PolyLearningRate(args.learning_rate, steps), momentum=0.9),
        loss=deeplab_tf.SegmentationLoss(ignore_label=info.ignore_label),
        metrics=[deeplab_tf.MeanIoU(info.num_classes, ignore_label=info.ignore_label)],
    )

    # The papers' augmentation (scale 0.5-2.0, crop, flip), endless: fit counts the steps.
    train = data.train_dataset(args.dataset, args.dataset_dir, "train", batch_size=args.batch_size,
                               crop_size=args.crop_size, seed=args.seed)
    val = data.eval_dataset(args.dataset, args.dataset_dir, "val")  # whole images, one at a time
    model.fit(train, steps_per_epoch=args.steps_per_epoch, epochs=args.epochs, validation_data=val, verbose=2)

    logs = model.evaluate(val, return_dict=True, verbose=0)
    print(f"val mIoU {100 * logs['mean_iou']:.2f} (loss {logs['loss']:.3f})")
    images, _ = next(iter(val))
    print("predicted classes of the first val image:", sorted(set(model.predict(images, verbose=0).argmax(-1).ravel())))

    # A model directory that tools.evaluate, tools.export and tools.predict read, and a SavedModel.
    deeplab_tf.save_model_dir(model, args.output_dir, dataset=(args.dataset, args.dataset_dir))
    export_dir = os.path.join(args.output_dir, "export")
    export_saved_model(deeplab_tf.load_model(args.output_dir, fold_batch_norm=True), export_dir)  # as tools.export
    print(f"wrote {args.output_dir} (model_config.json, checkpoints/, model.keras) and the SavedModel {export_dir}")


if __name__ == "__main__":
    main()
