"""The training loop's running figures: sums over a summary window, and the steps per second."""

from deeplab_tf.metrics import compute_metrics


class MetricWindow:
    """Sums over every step since the last summary, so the scalars written are means over the same steps.

    The total loss is cross-entropy + weight decay, so the decay written is their difference.
    """

    def __init__(self):
        self.loss, self.cross_entropy, self.confusion, self.steps = 0.0, 0.0, None, 0

    def add(self, count, loss, cross_entropy, confusion):
        """Adds a group of `count` steps whose mean losses and summed confusion matrix are given."""
        self.loss += loss * count
        self.cross_entropy += cross_entropy * count
        self.steps += count
        self.confusion = confusion if self.confusion is None else self.confusion + confusion

    def scalars(self):
        """The window's TensorBoard scalars (losses, train mIoU and pixel accuracy)."""
        metrics = compute_metrics(self.confusion)
        total, cross_entropy = self.loss / self.steps, self.cross_entropy / self.steps
        return {
            "loss/total": total,
            "loss/cross_entropy": cross_entropy,
            "loss/weight_decay": total - cross_entropy,
            "train/miou": metrics["miou"],
            "train/pixel_accuracy": metrics["pixel_accuracy"],
        }


class Throughput:
    """Steps per second over every group but the first, whose time includes tracing."""

    def __init__(self):
        self.steps, self.seconds, self.first = 0, 0.0, True

    def add(self, count, seconds):
        """Counts a group; returns its steps per second (None for the first)."""
        if self.first:
            self.first = False
            return None
        self.steps += count
        self.seconds += seconds
        return count / seconds

    @property
    def steps_per_second(self):
        return self.steps / self.seconds if self.seconds else None
