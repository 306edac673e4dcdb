"""What the workers of a run agree on, and how a run ends when the cluster does: shared directory, SIGTERM, a lost peer.

Under `MultiWorkerMirroredStrategy` every worker must call the same
collectives in the same order, so every decision that leads to a collective
(resume or not, from which checkpoint, save or not, stop or not) must come out
the same on all of them. `Cluster` takes such decisions on the chief and hands
them to the others (`share_from_chief`), or lets each worker report and all
read the reports (`which_workers`); no worker decides from its own view of
its disk. One process (any other strategy) agrees with itself: the same calls
then need no collective.

`check_shared_model_dir` is the first such agreement of a run: the chief
writes a file holding a random token into the model directory and tells the
others the token; a worker that does not read that token there (its own
directory, or a copy) is named in one error that every worker raises, before
the first step.

`TerminationWatcher` turns SIGTERM into a request to stop (see the trainer).
`peer_failure` recognises the TensorFlow errors that mean a peer was lost.
"""

import os
import secrets
import signal
import threading
import time

import numpy as np
import tensorflow as tf

from deeplab_tf.errors import ConfigError
from deeplab_tf.files import write_atomically

TOKEN_FILE = ".chief_token"
# How long a worker waits for the chief's token file to appear (network filesystems cache directory listings).
TOKEN_WAIT_SECONDS = 3.0


class Cluster:
    """This process's part in a run: whether it is the chief, its worker index, and collectives to agree.

    Args:
        strategy: the run's `tf.distribute.Strategy`.
        chief: whether this process writes the run's files (`strategy.is_chief`, in this package).
    """

    def __init__(self, strategy, chief):
        self.strategy = strategy
        self.chief = chief
        self.multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        self.addresses = _worker_addresses(strategy) if self.multi_worker else ["this process"]
        self.index = _worker_index(strategy) if self.multi_worker else 0
        self._all_sum = _all_sum_function(strategy) if self.multi_worker else None

    @property
    def num_workers(self):
        return len(self.addresses)

    def share_from_chief(self, values):
        """The chief's `values` (floats; NaN allowed) on every worker, as a float64 array."""
        values = np.asarray(values, np.float64)
        if not self.multi_worker:
            return values
        weight = 1.0 if self.chief else 0.0
        # Each chief replica adds its values with weight 1, every other replica adds zeros.
        mine = np.append(np.nan_to_num(values * weight, nan=0.0), weight)
        nans = np.isnan(values) * weight
        total = self._all_sum(np.concatenate([mine, nans]))
        count = len(values)
        shared = total[:count] / total[count]
        shared[total[count + 1:] > 0] = np.nan
        return shared

    def which_workers(self, flag):
        """The indices of the workers whose `flag` is true (every worker gets the same list)."""
        if not self.multi_worker:
            return [0] if flag else []
        report = np.zeros(self.num_workers)
        report[self.index] = 1.0 if flag else 0.0
        return [int(i) for i in np.flatnonzero(self._all_sum(report) > 0)]

    def barrier(self):
        """Returns once every worker has reached it (no-op in one process)."""
        if self.multi_worker:
            self._all_sum(np.ones(1))


def check_shared_model_dir(cluster, model_dir, checkpoint_dir):
    """The checkpoint a run resumes from, as the chief sees it, after checking every worker sees the chief's files.

    Args:
        cluster: the run's `Cluster`.
        model_dir: the run's model directory (the same path on every worker).
        checkpoint_dir: where its checkpoints are.

    Returns:
        The chief's newest checkpoint prefix in `checkpoint_dir` (the same on
        every worker), or None when the run starts afresh.

    Raises:
        ConfigError: (field `model_dir`) on every worker, when some worker
            does not see the chief's token file or its newest checkpoint.
    """
    if not cluster.multi_worker:
        return tf.train.latest_checkpoint(checkpoint_dir)
    path = os.path.join(model_dir, TOKEN_FILE)
    token, number = np.nan, -1.0
    if cluster.chief:
        token = float(secrets.randbelow(2**52))
        os.makedirs(model_dir, exist_ok=True)
        write_atomically(path, f"{int(token)}\n")
        latest = tf.train.latest_checkpoint(checkpoint_dir)
        number = float(latest.rsplit("-", 1)[1]) if latest else -1.0
    token, number = cluster.share_from_chief([token, number])
    checkpoint = os.path.join(checkpoint_dir, f"ckpt-{int(number)}") if number >= 0 else None
    missing = None
    if not cluster.chief:
        deadline = time.monotonic() + TOKEN_WAIT_SECONDS
        while True:
            missing = _missing(path, int(token), checkpoint)
            if missing is None or time.monotonic() > deadline:
                break
            time.sleep(0.25)
            if os.path.isdir(model_dir):
                os.listdir(model_dir)  # a fresh listing, past a network filesystem's stale cache
    blind = cluster.which_workers(missing is not None)
    if blind:
        names = ", ".join(f"worker {i} ({cluster.addresses[i]})" for i in blind)
        what = missing or f"the chief's {TOKEN_FILE} there"
        raise ConfigError(
            "model_dir",
            f"{model_dir} must be one directory every worker shares (a network filesystem all "
            f"mount): {names} could not see {what}",
        )
    return checkpoint


def _missing(path, token, checkpoint):
    """What of the chief's this worker cannot see (a phrase), or None when it sees all of it."""
    try:
        with open(path) as file:
            seen = int(file.read().strip() or -1)
    except (OSError, ValueError):
        seen = None
    if seen != token:
        return f"the chief's {path}" if seen is None else f"the chief's {path} (it holds another run's token)"
    if checkpoint is not None and not tf.io.gfile.exists(checkpoint + ".index"):
        return f"the chief's checkpoint {checkpoint}"
    return None


def _all_sum_function(strategy):
    @tf.function  # one trace per length; every worker traces the same lengths in the same order
    def all_sum(values):
        def replica_fn(v):
            # tf.identity puts the value on the replica's device, which the all-reduce sends from.
            return tf.distribute.get_replica_context().all_reduce("sum", tf.identity(v))

        return strategy.experimental_local_results(strategy.run(replica_fn, args=(values,)))[0]

    replicas_here = len(strategy.extended.worker_devices)

    def call(values):
        # Every replica of a worker adds the worker's values; count each worker once.
        return all_sum(tf.constant(values, tf.float64)).numpy() / replicas_here

    return call


def _worker_addresses(strategy):
    """The address of each worker of the cluster, in worker order (the chief first)."""
    jobs = strategy.cluster_resolver.cluster_spec().as_dict()
    addresses = []
    for job in ("chief", "worker"):
        tasks = jobs.get(job, [])
        addresses += list(tasks.values()) if isinstance(tasks, dict) else list(tasks)
    return addresses


def _worker_index(strategy):
    resolver = strategy.cluster_resolver
    jobs = resolver.cluster_spec().as_dict()
    if resolver.task_type == "chief":
        return 0
    return int(resolver.task_id) + (len(jobs["chief"]) if "chief" in jobs else 0)


class TerminationWatcher:
    """While entered, SIGTERM sets `requested` instead of killing the process (main thread only).

    Spot and preemptible VMs and Kubernetes send SIGTERM, then SIGKILL after a
    grace period; the trainer reads `requested` between groups of steps and
    then saves and stops. Outside the main thread (where Python cannot set
    signal handlers) it watches nothing.
    """

    def __init__(self):
        self.requested = False
        self._previous = None

    def _handle(self, signum, frame):
        self.requested = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def __exit__(self, *exc_info):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None
        return False


# The TensorFlow errors a collective raises when a peer died, stopped answering, or missed heartbeats.
_PEER_ERRORS = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.AbortedError,
                tf.errors.CancelledError)
_PEER_WORDS = ("heartbeat", "connection reset", "socket closed", "failed to connect", "is down", "unhealthy",
               "connection refused", "unavailable")


def peer_failure(error):
    """A one-line description of `error` when it means a peer of the cluster was lost, else None."""
    if not isinstance(error, tf.errors.OpError):
        return None
    text = str(error)
    if not (isinstance(error, _PEER_ERRORS) or any(word in text.lower() for word in _PEER_WORDS)):
        return None
    # A graph's error lists where the failing op was defined ("File ..." lines) before what happened.
    all_lines = text.splitlines()
    frames = [i for i, line in enumerate(all_lines) if line.strip().startswith('File "')]
    lines = []
    for line in all_lines[frames[-1] + 1:] if frames else all_lines:
        line = line.strip().replace("Collective ops is aborted by: ", "")
        if not line or line.startswith(("The error could be", "[[", "Additional GRPC", ":UNKNOWN", "The tasks have")):
            continue
        lines.append(line)
    return " ".join(lines)[:300] or type(error).__name__


class PreemptedError(RuntimeError):
    """Training stopped on SIGTERM after saving a checkpoint at the current step; rerun to resume from it.

    Attributes:
        step: the step saved.
        checkpoint: its path (the chief's), or None on other workers.
    """

    def __init__(self, step, checkpoint):
        where = f" ({checkpoint})" if checkpoint else ""
        super().__init__(f"stopped on SIGTERM; saved step {step}{where}; run the same command to resume")
        self.step = step
        self.checkpoint = checkpoint


class PeerLostError(RuntimeError):
    """A worker of the cluster died or stopped answering; nothing after the last checkpoint was saved.

    Attributes:
        reason: TensorFlow's account of it, in one line.
        checkpoint: the newest checkpoint of the run, or None.
    """

    def __init__(self, reason, checkpoint):
        where = f"resume from {checkpoint}" if checkpoint else "start again (no checkpoint was written)"
        super().__init__(f"lost a worker of the cluster ({reason}); rerun every worker's command to {where}")
        self.reason = reason
        self.checkpoint = checkpoint
