"""DeepLab v2 / v3 / v3+ models built from a `ModelConfig`, and v2's multi-scale wrapper."""

import keras

from deeplab_tf.backbones import build_backbone
from deeplab_tf.config import ModelConfig
from deeplab_tf.errors import InputError
from deeplab_tf.heads import ASPP, ASPPL, Decoder
from deeplab_tf.layers import ResizeToMatch, ScaleImage


@keras.saving.register_keras_serializable(package="deeplab_tf")
class DeepLab(keras.Model):
    """DeepLab: RGB in [0, 255] → per-pixel logits at the input size.

    v3: atrous ResNet or MobileNetV2 → ASPP with image pooling → 1×1
    classifier → bilinear upsampling (Chen et al. 2017, https://arxiv.org/abs/1706.05587).
    v3+: v3's ASPP output refined by the decoder with the backbone's stride-4
    feature, then the classifier and upsampling (Chen et al. 2018,
    https://arxiv.org/abs/1802.02611).
    v2: atrous ResNet at OS8 → ASPP-L (summed atrous classifiers) → bilinear
    upsampling (Chen et al. 2016, https://arxiv.org/abs/1606.00915).
    The logits are float32 whatever the dtype policy, for a stable loss.

    Args:
        config: a `deeplab_tf.ModelConfig` or its dict.
        fold_batch_norm: the inference form, BatchNormalization folded into the
            convolutions; make it with `deeplab_tf.fold_batch_norms(model)`.
        dtype: the dtype policy of every layer (e.g. "mixed_bfloat16"), given
            to each as keras-hub does; None takes the global one.

    Example:
    ```python
    config = deeplab_tf.ModelConfig(variant="v3", backbone="resnet18", num_classes=6)
    logits = DeepLab(config)(images)  # [B, H, W, 6]
    ```
    """

    def __init__(self, config, fold_batch_norm=False, **kwargs):
        if isinstance(config, dict):
            config = ModelConfig.from_dict(config)
        kwargs.setdefault("name", f"deeplab_{config.variant}_{config.backbone}")
        dtype = kwargs.get("dtype")

        # === Layers ===
        with_decoder = config.variant == "v3plus"
        backbone = build_backbone(config, fold_batch_norm=fold_batch_norm, low_level_output=with_decoder,
                                  name="backbone", dtype=dtype)
        # What the ASPP and the decoder share; every layer gets the model's policy.
        head_options = dict(batch_norm_decay=config.batch_norm_decay, fold_batch_norm=fold_batch_norm, dtype=dtype)
        if config.variant == "v2":
            head = ASPPL(config.num_classes, config.atrous_rates, name="aspp_l", dtype=dtype)
        else:
            aspp = ASPP(config.aspp_filters, config.atrous_rates, config.image_pooling,
                        dropout_rate=config.dropout_rate, name="aspp", **head_options)
            classifier = keras.layers.Conv2D(config.num_classes, 1, name="classifier", dtype=dtype)
        if with_decoder:
            decoder = Decoder(config.aspp_filters, config.decoder_use_separable_conv, name="decoder", **head_options)
        upsample = ResizeToMatch(name="upsample_logits", dtype="float32")

        # === Functional Model ===
        images = keras.Input(shape=(None, None, 3), name="image")
        if config.variant == "v2":
            x = head(backbone(images))
        elif with_decoder:
            low_level, features = backbone(images)
            x = classifier(decoder([aspp(features), low_level]))
        else:
            x = classifier(aspp(backbone(images)))
        logits = upsample([x, images])
        super().__init__(inputs=images, outputs=logits, **kwargs)
        self.dtype_policy = dtype  # a functional model's own policy: Keras ignores `dtype` here

        # === Config ===
        self.model_config = config
        self.fold_batch_norm = fold_batch_norm
        self.backbone = backbone

    def get_config(self):
        return _model_config_dict(self)

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="deeplab_tf")
class MultiScaleDeepLab(keras.Model):
    """DeepLab v2's MSC: one network on the input at several scales, max-fused.

    Each scale's logits are resized to the input size and fused by an
    element-wise maximum; the output is the fused logits. For the loss on each
    scale as well (v2 training), use `multi_scale_outputs(model)`.

    Args:
        config: a `ModelConfig` whose `msc_scales` is non-empty, e.g. (1, 0.75, 0.5).
        fold_batch_norm: the inference form (see `DeepLab`).
        dtype: the dtype policy of every layer (see `DeepLab`).
    """

    def __init__(self, config, fold_batch_norm=False, **kwargs):
        if isinstance(config, dict):
            config = ModelConfig.from_dict(config)
        kwargs.setdefault("name", f"deeplab_{config.variant}_{config.backbone}_msc")
        dtype = kwargs.get("dtype")

        # === Layers ===
        network = DeepLab(config, fold_batch_norm=fold_batch_norm, name="network", dtype=dtype)

        # === Functional Model ===
        images = keras.Input(shape=(None, None, 3), name="image")
        scale_logits = []
        for scale in config.msc_scales:
            scaled = images if scale == 1.0 else ScaleImage(scale, name=f"scale_{_tag(scale)}", dtype=dtype)(images)
            logits = network(scaled)
            resize = ResizeToMatch(name=f"logits_scale_{_tag(scale)}", dtype="float32")
            scale_logits.append(resize([logits, images]))
        fused = keras.layers.Maximum(name="msc_max_fusion", dtype="float32")(scale_logits)
        super().__init__(inputs=images, outputs=fused, **kwargs)
        self.dtype_policy = dtype  # a functional model's own policy: Keras ignores `dtype` here

        # === Config ===
        self.model_config = config
        self.fold_batch_norm = fold_batch_norm
        self.network = network
        self.backbone = network.backbone

    def compile(self, *args, **kwargs):
        """Refused: this model's output, the fused logits, leaves out the loss on each scale that v2 trains on.

        Compile `multi_scale_outputs(model)` instead (outputs [fused, *each
        scale's logits], the same weights) with `SegmentationLoss` and the
        labels once per output, or train with `tools.train`.
        """
        raise InputError(
            "model: v2's MSC trains on the loss of every scale, and this model outputs only the fused "
            "logits; compile deeplab_tf.multi_scale_outputs(model) (one SegmentationLoss per output, the "
            "labels once per output) or train with tools.train"
        )

    def get_config(self):
        return _model_config_dict(self)

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def build_model(config, fold_batch_norm=False, dtype_policy=None):
    """The DeepLab network of `config` (MSC-wrapped when `config.msc_scales`).

    `fold_batch_norm=True` builds the inference form that
    `deeplab_tf.fold_batch_norms` fills with weights. `dtype_policy` (e.g.
    "mixed_bfloat16") is given to every layer; None takes the global one.
    The global policy is left as it is.
    """
    model_class = MultiScaleDeepLab if config.msc_scales else DeepLab
    return model_class(config, fold_batch_norm=fold_batch_norm, dtype=dtype_policy)


def multi_scale_outputs(model):
    """A view of an MSC model (shared weights) returning [fused, *each scale's logits].

    v2 trains with the loss on every scale's logits and on the fused ones.
    A single-scale model is returned as it is (its output is the logits);
    `tf.nest.flatten` of either view's output is the list of logits to train on.
    """
    if not isinstance(model, MultiScaleDeepLab):
        return model
    scales = [model.get_layer(f"logits_scale_{_tag(s)}").output for s in model.model_config.msc_scales]
    return keras.Model(model.input, [model.output, *scales], name=f"{model.name}_outputs")


def rebuild(model, dtype_policy=None, **changes):
    """The same weights in a network with other settings, e.g. `output_stride=8`.

    A change of output stride rescales the ASPP rates with it (v3's test-time
    OS16 → OS8 switch); other `ModelConfig` fields are replaced as given.
    Weight shapes do not depend on stride or rates, so every weight carries over.
    `dtype_policy` is the new layers' Keras policy (e.g. to run float32-trained
    weights in mixed_bfloat16); None takes the global one.
    """
    config = model.model_config
    if "output_stride" in changes:
        config = config.with_output_stride(changes.pop("output_stride"))
    if changes:
        config = ModelConfig.from_dict({**config.to_dict(), **changes})
    rebuilt = build_model(config, fold_batch_norm=model.fold_batch_norm, dtype_policy=dtype_policy)
    rebuilt.set_weights(model.get_weights())
    return rebuilt


def _model_config_dict(model):
    return {
        "config": model.model_config.to_dict(),
        "fold_batch_norm": model.fold_batch_norm,
        "name": model.name,
        "trainable": model.trainable,
    }


def _tag(scale):
    return f"{int(round(scale * 100)):03d}"
