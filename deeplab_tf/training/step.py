"""One DeepLab training step on one replica: BN set-up, the optimiser, the loss's logits, the update.

`Trainer` runs this step inside its `strategy.run` loop; `tools.benchmark
--mode=train` times the same step on random tensors.
"""

import math

import keras
import tensorflow as tf

from deeplab_tf.label_space import IGNORE_LABEL
from deeplab_tf.errors import ConfigError
from deeplab_tf.layers.resize import resize_bilinear, scaled_size, spatial_size
from deeplab_tf.models import MultiScaleDeepLab, multi_scale_outputs
from deeplab_tf import losses
from deeplab_tf.training.summaries import batch_confusion_matrix


def configure_batch_norm(model, train_config):
    """Freezes every BN layer (`fine_tune_batch_norm=False`) or synchronises it (`sync_batch_norm`)."""
    for layer in unique_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            if not train_config.fine_tune_batch_norm:
                layer.trainable = False  # Keras 3 then runs it in inference mode.
            elif train_config.sync_batch_norm:
                layer.synchronized = True


def make_optimizer(train_config, learning_rate):
    """SGD with momentum, plain or Nesterov, or Adam; loss-scaled under mixed_float16; not yet built.

    Args:
        train_config: a `TrainConfig` (`optimizer`, `momentum`, `mixed_precision`).
        learning_rate: a float or a callable returning the current rate.
    """
    if train_config.optimizer == "adam":
        optimizer = keras.optimizers.Adam(learning_rate=learning_rate, beta_1=train_config.momentum)
    else:
        optimizer = keras.optimizers.SGD(learning_rate=learning_rate, momentum=train_config.momentum,
                                         nesterov=train_config.optimizer == "nesterov")
    if train_config.mixed_precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


class TrainStep:
    """The training step of one replica: loss, gradients, classifier multiplier, optimiser update.

    Count the labelled pixels of the global batch (an all-reduce over
    `num_replicas`), run the network and the loss and take the gradients
    (XLA-compiled where asked), scale the classifier's gradients by the
    last-layer multiplier, and apply the optimiser.

    Args:
        model: the network from `build_model`, its BN set up by `configure_batch_norm`.
        model_config: its `ModelConfig`.
        train_config: a `TrainConfig` (`crop_size`, `weight_decay`, `upsample_logits`,
            `last_layer_lr_multiplier`, `mixed_precision` are used).
        optimizer: from `make_optimizer`, built on `model.trainable_variables`.
        ignore_label: the label the loss leaves out.
        num_replicas: replicas sharing the global batch.
        class_weights: None, or one loss weight per class (resolved numbers,
            not "median_frequency").

    Example:
    ```python
    model = build_model(model_config)
    configure_batch_norm(model, train_config)
    optimizer = make_optimizer(train_config, 0.007)
    optimizer.build(model.trainable_variables)
    step = tf.function(TrainStep(model, model_config, train_config, optimizer).make_replica_step())
    loss, cross_entropy, confusion, not_finite = step(images, labels)
    ```
    """

    def __init__(self, model, model_config, train_config, optimizer, *, ignore_label=IGNORE_LABEL,
                 num_replicas=1, class_weights=None):
        self.model = model
        self.model_config = model_config
        self.config = train_config
        self.optimizer = optimizer
        self.ignore_label = ignore_label
        self.num_replicas = num_replicas
        self.class_weights = None if class_weights is None else tuple(float(w) for w in class_weights)
        if self.class_weights is not None and len(self.class_weights) != model_config.num_classes:
            raise ConfigError("class_weights", f"{len(self.class_weights)} weights for "
                              f"{model_config.num_classes} classes; give one per class")
        self.trainable_variables = list(model.trainable_variables)
        self.kernels = losses.decayed_kernels(model)
        last = {id(v) for v in classifier_layer(model).trainable_variables}
        self.gradient_multipliers = [
            train_config.last_layer_lr_multiplier if id(v) in last else 1.0 for v in self.trainable_variables
        ]
        self._make_loss_view()
        self.loss_sizes = self.label_sizes(*train_config.crop_size)

    def _make_loss_view(self):
        """The logits the loss is taken on: at the label size (v3) or at the network's stride (v2)."""
        model = self.model
        if self.config.upsample_logits:
            view = multi_scale_outputs(model)
            self.forward = lambda images: tf.nest.flatten(view(images, training=True))
            return
        network = model.network if isinstance(model, MultiScaleDeepLab) else model
        low = keras.Model(network.input, network.get_layer("upsample_logits").input[0], name="logits_at_stride")
        scales = self.model_config.msc_scales
        if not scales:
            self.forward = lambda images: [low(images, training=True)]
            return

        def forward(images):
            size = spatial_size(images)
            per_scale = []
            for scale in scales:
                scaled = images
                if scale != 1.0:  # as MultiScaleDeepLab's ScaleImage: ceil(size × scale), bilinear
                    scaled = resize_bilinear(images, scaled_size(size, scale))
                per_scale.append(tf.cast(low(scaled, training=True), tf.float32))
            target = spatial_size(per_scale[0])
            fused = tf.reduce_max(tf.stack([resize_bilinear(l, target) for l in per_scale]), axis=0)
            return [fused, *per_scale]

        self.forward = forward
        self._low_network = low

    def label_sizes(self, height, width):
        """Static (h, w) of each loss output for a crop, None where it is the crop size."""
        outputs = len(self.model_config.msc_scales) + 1 if self.model_config.msc_scales else 1
        if self.config.upsample_logits:
            return [None] * outputs
        if not self.model_config.msc_scales:
            low = keras.Model(self.model.input, self.model.get_layer("upsample_logits").input[0])
            return [tuple(low.compute_output_shape((None, height, width, 3))[1:3])]
        sizes = []
        for scale in self.model_config.msc_scales:
            h, w = math.ceil(height * scale), math.ceil(width * scale)
            sizes.append(tuple(self._low_network.compute_output_shape((None, h, w, 3))[1:3]))
        return [sizes[0], *sizes]

    def loss_labels(self, labels):
        """The labels of each loss output (crop-sized labels in) and their labelled pixels in the global batch."""
        labels_list = [labels if s is None else losses.downsample_labels(labels, s) for s in self.loss_sizes]
        counts = tf.stack([losses.valid_pixel_count(l, self.ignore_label) for l in labels_list])
        if self.num_replicas > 1:
            counts = tf.distribute.get_replica_context().all_reduce("sum", counts)
        return labels_list, counts

    def gradients(self, images, labels_list, counts):
        """(loss, cross_entropy, gradients, confusion matrix, whether loss and gradients are finite)."""
        with tf.GradientTape() as tape:
            outputs = self.forward(images)
            cross_entropy = losses.segmentation_loss(outputs, labels_list, counts, self.ignore_label,
                                                     self.class_weights)
            decay = losses.weight_decay_loss(self.kernels, self.config.weight_decay) / self.num_replicas
            loss = cross_entropy + decay
            scaled_loss = self.optimizer.scale_loss(loss)
        grads = tape.gradient(scaled_loss, self.trainable_variables)
        finite = tf.math.is_finite(loss)
        if self.config.mixed_precision != "mixed_float16":  # loss scaling skips those steps itself
            finite = tf.logical_and(finite, tf.math.is_finite(tf.linalg.global_norm(grads)))
        predictions = tf.argmax(outputs[0], axis=-1, output_type=tf.int32)
        confusion = batch_confusion_matrix(labels_list[0], predictions, self.model_config.num_classes,
                                           self.ignore_label)
        return loss, cross_entropy, grads, confusion, finite

    def make_replica_step(self, jit_compile=False):
        """`step(images, labels)` → (loss, cross_entropy, confusion, 1 if not finite else 0), applying the update.

        Args:
            jit_compile: XLA-compile the forward/backward pass (the update runs outside it).
        """
        gradients = tf.function(self.gradients, jit_compile=True) if jit_compile else self.gradients

        def replica_step(images, labels):
            labels_list, counts = self.loss_labels(labels)
            loss, cross_entropy, grads, confusion, finite = gradients(images, labels_list, counts)
            grads = [g * m if m != 1.0 else g for g, m in zip(grads, self.gradient_multipliers)]
            self.optimizer.apply(grads, self.trainable_variables)
            return loss, cross_entropy, confusion, tf.cast(tf.logical_not(finite), tf.int32)

        return replica_step


def unique_layers(model):
    """Every layer of `model`, nested ones included, each once."""
    seen, layers = set(), []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if id(layer) not in seen:
            seen.add(id(layer))
            layers.append(layer)
    return layers


def classifier_layer(model):
    """The last layers the papers' learning-rate multiplier applies to: v3 and v3+'s 1×1 classifier, v2's ASPP-L."""
    network = model.network if isinstance(model, MultiScaleDeepLab) else model
    return network.get_layer("aspp_l" if model.model_config.variant == "v2" else "classifier")
