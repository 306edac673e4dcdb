"""Choosing the `tf.distribute` strategy: one device, mirrored GPUs or CPU devices, multi-worker, TPU."""

import json
import os

import tensorflow as tf

from deeplab_tf.errors import ConfigError

STRATEGIES = ("auto", "default", "mirrored", "multi_worker", "tpu")


def configure_cpu_devices(count):
    """Splits the CPU into `count` logical devices (so MirroredStrategy has replicas on a CPU).

    Must run before TensorFlow initialises its devices (before any op runs);
    `count` of 0 or 1 leaves the CPU as it is.
    """
    if count is None or count <= 1:
        if count is not None and count < 0:
            raise ConfigError("cpu_logical_devices", f"must be >= 0, got {count}")
        return
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
        )
    except RuntimeError:
        if len(tf.config.list_logical_devices("CPU")) != count:
            raise ConfigError(
                "cpu_logical_devices",
                "TensorFlow already initialised its devices; configure them before any op runs",
            ) from None


def tf_config():
    """The parsed `TF_CONFIG` environment variable, or None when it is not set."""
    text = os.environ.get("TF_CONFIG", "").strip()
    if not text:
        return None
    try:
        config = json.loads(text)
        cluster = config["cluster"]
        config["task"]["type"], int(config["task"]["index"])
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigError("strategy", f"TF_CONFIG is not a valid cluster description ({error})") from None
    if not isinstance(cluster, dict):
        raise ConfigError("strategy", "TF_CONFIG's cluster must map job names to address lists")
    return config


def _cluster_size(config):
    return sum(len(config["cluster"].get(job, ())) for job in ("chief", "worker"))


def _tpu_present(tpu):
    return bool(tpu or os.environ.get("TPU_NAME") or os.path.exists("/dev/accel0")
                or tf.config.list_physical_devices("TPU"))


def make_strategy(name="auto", cpu_logical_devices=0, tpu=None, peer_timeout=0):
    """The strategy `name` names; call it first thing, before TensorFlow runs any op.

    Args:
        name: "auto" (TPU if there is one; else several workers if `TF_CONFIG`
            lists them; else all GPUs if more than one; else the CPU logical
            devices if more than one; else one device), "default" (one device),
            "mirrored" (all GPUs, or the CPU logical devices), "multi_worker"
            (`MultiWorkerMirroredStrategy` from `TF_CONFIG`), "tpu".
        cpu_logical_devices: split the CPU into this many devices first.
        tpu: TPU name or address for `TPUClusterResolver` ("" for a TPU VM's own).
        peer_timeout: multi-worker only: seconds without a heartbeat after which
            a worker counts as lost and every other worker's collectives fail
            (0: TensorFlow's own, 10 s); see `configure_peer_timeout`.

    Raises:
        ConfigError: (field "strategy") the strategy cannot run here.
    """
    if name not in STRATEGIES:
        raise ConfigError("strategy", f"got {name!r}; allowed values: {', '.join(STRATEGIES)}")
    if peer_timeout < 0:
        raise ConfigError("peer_timeout", f"must be >= 0 seconds, got {peer_timeout}")
    configure_cpu_devices(cpu_logical_devices)
    cluster = tf_config()
    if name == "auto":
        if _tpu_present(tpu):
            name = "tpu"
        elif cluster is not None and _cluster_size(cluster) > 1:
            name = "multi_worker"
        elif len(tf.config.list_physical_devices("GPU")) > 1 or (cpu_logical_devices or 0) > 1:
            name = "mirrored"
        else:
            name = "default"

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = gpus or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multi_worker":
        if cluster is None:
            raise ConfigError("strategy",
                              "multi_worker needs TF_CONFIG describing the cluster (see docs/distributed.md)")
        if peer_timeout:
            configure_peer_timeout(cluster, peer_timeout)
        return tf.distribute.MultiWorkerMirroredStrategy()
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as error:
        raise ConfigError("strategy", f"no TPU found ({str(error).splitlines()[0]})") from None
    return tf.distribute.TPUStrategy(resolver)


def configure_peer_timeout(cluster, seconds):
    """Sets the coordination service's heartbeat timeout, before `MultiWorkerMirroredStrategy` is made.

    The strategy starts TensorFlow's coordination service (led by the chief),
    which every worker sends heartbeats to from a thread of its own, whatever
    its Python code is doing (a long evaluation included). When a worker
    misses them for `seconds`, the service fails every other worker's pending
    and later collectives. The strategy configures the service with
    TensorFlow's defaults unless one is configured already; this configures it
    the same way (the same leader and jobs) with the timeout given. TensorFlow
    has no public call for this, so this one uses its eager context.

    Raises:
        ConfigError: (field `peer_timeout`) a TensorFlow without this call.
    """
    try:
        from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
        from tensorflow.python.eager import context
    except ImportError as error:
        raise ConfigError("peer_timeout", f"this TensorFlow cannot set it ({error})") from None
    jobs = cluster["cluster"]
    leader = "chief" if jobs.get("chief") else "worker"
    context.context().configure_coordination_service(
        service_type="standalone",
        service_leader=f"/job:{leader}/replica:0/task:0",
        heartbeat_timeout_in_ms=int(seconds * 1000),
        coordinated_jobs=[coordination_config_pb2.CoordinatedJob(name=job, num_tasks=len(jobs[job]))
                          for job in ("chief", "worker") if jobs.get(job)],
    )


def is_chief(strategy):
    """True on the worker that writes checkpoints, summaries and the final model."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or isinstance(strategy, tf.distribute.TPUStrategy):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type in (None, "chief"):
        return True
    jobs = resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and "chief" not in jobs


def task_id(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    return int(getattr(resolver, "task_id", 0) or 0) if resolver is not None else 0


def describe(strategy):
    """A short description, e.g. "MirroredStrategy, 2 replicas (CPU:0, CPU:1)"."""
    try:
        devices = strategy.extended.worker_devices
    except RuntimeError:  # the default strategy has no device list
        devices = ()
    names = ", ".join(d.split("device:")[-1] for d in devices)
    replicas = strategy.num_replicas_in_sync
    kind = type(strategy).__name__
    if kind == "_DefaultDistributionStrategy":
        kind = "one device"
    return f"{kind}, {replicas} replica{'s' if replicas != 1 else ''}" + (f" ({names})" if names else "")
