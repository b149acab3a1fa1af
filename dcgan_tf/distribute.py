"""tf.distribute for --strategy: which strategy, which worker writes, and the
few cross-worker agreements the training loop needs.

`--batch_size` stays the global batch: each step splits it row-wise over the
replicas (replica i takes rows [i*B/N, (i+1)*B/N) of the batch and of z), so the
pairing of images, labels and z is the one a single device sees.
"""

import json
import os

import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker")


def split_cpu(logical_cpus):
    """Splits the physical CPU into `logical_cpus` logical devices, so that
    --strategy mirrored has several replicas on a machine without GPUs (how
    TensorFlow's own docs try out distribution on one CPU). Must run before
    TensorFlow initializes its devices."""
    if logical_cpus <= 1:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * logical_cpus)
    except RuntimeError as error:
        if len(tf.config.list_logical_devices("CPU")) != logical_cpus:
            raise ValueError(
                f"--logical_cpus {logical_cpus}: TensorFlow's devices were already set up in"
                f" this process ({error}). Pass --logical_cpus on a fresh process.") from error


def set_op_threads(threads, small_ops):
    """The CPU threads each op splits its work over (intra-op), set before
    TensorFlow runs anything: `threads`, or with 0 TensorFlow's own choice (one
    per core), except for networks of small ops (the family's MLPs: matmuls of
    64 rows by at most 1,024), where splitting each op costs more than it
    gains, and one thread per op, the cores running independent ops at once
    (inter-op), is faster (bench/RESULTS.md). Returns what was set, or None.
    Once TensorFlow has started in this process (a second run in it) the count
    cannot change: a --intra_op_threads that differs is refused, the automatic
    choice keeps what there is."""
    wanted = threads or (1 if small_ops and not tf.config.list_physical_devices("GPU") else 0)
    current = tf.config.threading.get_intra_op_parallelism_threads()
    if not wanted or current == wanted:
        return wanted or None
    try:
        tf.config.threading.set_intra_op_parallelism_threads(wanted)
    except RuntimeError:
        if threads:
            raise ValueError(
                f"--intra_op_threads {threads}: TensorFlow has already started in this process"
                f" with {current or 'its default of one per core'}; the count is set before it"
                " starts. Run the command in a new process.") from None
        return None
    return wanted


def make_strategy(name, logical_cpus=0):
    """The tf.distribute.Strategy that --strategy names.

    default: one device (TensorFlow's default strategy). mirrored: every local
    GPU; without GPUs, every logical CPU device (see `split_cpu`). multi_worker:
    MultiWorkerMirroredStrategy over the cluster in TF_CONFIG, each worker
    mirroring over its own GPUs (or its CPU)."""
    if name == "default":
        split_cpu(logical_cpus)
        return tf.distribute.get_strategy()
    if name == "mirrored":
        split_cpu(logical_cpus)
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise ValueError(
                "--strategy multi_worker reads the cluster from the TF_CONFIG environment"
                " variable, which is not set. Set it on every worker, e.g. TF_CONFIG='{\"cluster\":"
                " {\"worker\": [\"host1:12345\", \"host2:12345\"]}, \"task\": {\"type\": \"worker\","
                " \"index\": 0}}' (index 1 on the second), or use --strategy mirrored on one machine.")
        _check_tf_config(os.environ["TF_CONFIG"])
        split_cpu(logical_cpus)
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"Unknown --strategy {name!r}; use one of {', '.join(STRATEGIES)}.")


def _check_tf_config(text):
    try:
        tf_config = json.loads(text)
        tf_config["cluster"], tf_config["task"]["type"], tf_config["task"]["index"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"TF_CONFIG is not a usable cluster description ({error!r}): it must be JSON with"
            " \"cluster\" (e.g. {\"worker\": [\"host1:12345\", \"host2:12345\"]}) and \"task\""
            " ({\"type\": \"worker\", \"index\": <this worker's position>}).") from error


def check_config(config):
    """Raises ValueError, naming the fix, for distribution flags that can't work
    together (before TensorFlow sets up any device)."""
    if config.strategy not in STRATEGIES:
        raise ValueError(f"Unknown --strategy={config.strategy!r}; use one of"
                         f" {', '.join(STRATEGIES)}.")
    if config.sync_bn and config.strategy == "default":
        raise ValueError("--sync_bn synchronizes batch norm over the replicas of --strategy"
                         " mirrored or multi_worker; with one device it has nothing to do."
                         " Drop it, or pass --strategy.")
    if config.xla and config.strategy != "default":
        raise ValueError(f"--xla compiles one device's iteration and cannot span the"
                         f" replicas of --strategy {config.strategy}; drop one of them.")
    if config.logical_cpus < 0:
        raise ValueError(f"--logical_cpus must be >= 0, got {config.logical_cpus}.")
    if config.intra_op_threads < 0:
        raise ValueError(f"--intra_op_threads must be >= 0 (0: the automatic choice), got"
                         f" {config.intra_op_threads}.")
    if config.logical_cpus and config.strategy == "default":
        raise ValueError("--logical_cpus splits the CPU into devices for the replicas of"
                         " --strategy mirrored or multi_worker; with one device it has nothing"
                         " to do. Drop it, or pass --strategy mirrored.")


def is_multi_worker(strategy):
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def is_chief(strategy):
    """Whether this process writes the run's files: always, except on a
    multi-worker cluster, where the chief does (task type `chief`, or worker 0
    when the cluster has no chief), as TensorFlow's multi-worker guides do."""
    if not is_multi_worker(strategy):
        return True
    resolver = strategy.cluster_resolver
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type == "chief":
        return True
    return task_type == "worker" and task_id == 0 and "chief" not in resolver.cluster_spec().jobs


def worker_name(strategy):
    if not is_multi_worker(strategy):
        return "chief"
    return f"{strategy.cluster_resolver.task_type} {strategy.cluster_resolver.task_id}"


def all_workers_max(strategy, value):
    """The largest of every worker's `value` (an int): how workers agree on a
    stop request. Only multi-worker needs it: replicas in one process see the
    same Python state."""
    return max(_every_replicas(strategy, value))


def all_workers_agree(strategy, value):
    """Whether every worker holds the same int `value`."""
    return len(set(_every_replicas(strategy, value))) == 1


_ALL_GATHER = {}


def _every_replicas(strategy, value):
    """`value` as every replica of the cluster holds it (one collective)."""
    if not is_multi_worker(strategy):
        return [int(value)]
    if strategy not in _ALL_GATHER:  # traced once per strategy, not per call
        @tf.function
        def all_gather(value):
            def gather():
                return tf.distribute.get_replica_context().all_gather(value[None], axis=0)
            return strategy.experimental_local_results(strategy.run(gather))[0]
        _ALL_GATHER[strategy] = all_gather
    return [int(v) for v in _ALL_GATHER[strategy](tf.constant(int(value), tf.int64)).numpy()]


def check_batch_splits(strategy, batch_size, min_rows, model):
    """That --batch_size splits evenly over the replicas, each share at least the
    `min_rows` the networks of `model` train on (networks.Kind.min_rows)."""
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ValueError(
            f"--batch_size {batch_size} is the global batch, split over {replicas} replicas, and"
            f" does not divide by {replicas}: pass a multiple of {replicas}"
            f" (e.g. {batch_size - batch_size % replicas or replicas}).")
    rows = batch_size // replicas
    if rows < min_rows:
        images = f"{rows} image{'s' if rows > 1 else ''}"
        raise ValueError(
            f"--batch_size {batch_size} "
            + (f"gives each of the {replicas} replicas {images}" if replicas > 1
               else f"is a batch of {images}")
            + f", and --model {model}'s batch norms train on at least {min_rows} (one image's"
            " variance is 0/0, which makes their running variance NaN; PyTorch refuses a batch"
            f" of one): pass --batch_size {min_rows * replicas} or more.")


def run_on_rows(strategy, replica_fn, *tensors):
    """`replica_fn(*tensors)` on one device, or on every replica with its share of
    the rows of each tensor (None passes through); scalars come back averaged
    over the replicas (= the global batch's mean), per-example outputs gathered
    in row order. A strategy of one replica (--strategy mirrored on a machine
    with one device) still runs it through `strategy.run`: its variables are
    mirrored ones, updated in its replica context."""
    replicas = strategy.num_replicas_in_sync
    if replicas == 1 and strategy is tf.distribute.get_strategy():  # TensorFlow's default
        return replica_fn(*tensors)

    def on_rows(*tensors):
        replica = tf.distribute.get_replica_context()
        rows = tf.shape(next(t for t in tensors if t is not None))[0] // replicas
        start = replica.replica_id_in_sync_group * rows
        return replica_fn(*[None if t is None else t[start:start + rows] for t in tensors])

    per_replica = strategy.run(on_rows, args=tensors)
    is_scalar = lambda value: (  # noqa: E731
        strategy.experimental_local_results(value)[0].shape.rank == 0)
    return {name: (strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None)
                   if is_scalar(value) else strategy.gather(value, axis=0))
            for name, value in per_replica.items()}


def replica_index():
    """The replica whose function is being traced (0 outside a strategy's run).
    MirroredStrategy traces each replica's function in turn, interleaved at
    every cross-replica sync, so what a layer keeps in Python between two of
    its calls is kept per replica under this key."""
    replica = tf.distribute.get_replica_context()
    index = None if replica is None else tf.get_static_value(replica.replica_id_in_sync_group)
    return 0 if index is None else int(index)


def global_batch_moments(x, axes, replica):
    """(mean, biased variance, count) of `x` over `axes` and over every replica's
    rows, for batch norm over the global batch (--sync_bn): the mean, then the
    sum of squared deviations from it, each all-reduced (two passes, as exact
    as a fused kernel's). Gradients flow back through the all-reduces."""
    count = tf.cast(tf.reduce_prod(tf.gather(tf.shape(x), axes)), x.dtype)
    total, count = replica.all_reduce(tf.distribute.ReduceOp.SUM,
                                      [tf.reduce_sum(x, axes), count])
    mean = total / count
    squares = replica.all_reduce(tf.distribute.ReduceOp.SUM,
                                 tf.reduce_sum(tf.square(x - mean), axes))
    return mean, squares / count, count


def global_batch_gradients(tape, loss, variables, output_gradients=None):
    """d loss / d variables of the global batch. With N replicas each one's loss
    is the mean over its rows: its gradient scaled by 1/N and summed over the
    replicas is the gradient of the global batch's mean."""
    replica = tf.distribute.get_replica_context()
    replicas = replica.num_replicas_in_sync if replica else 1
    if replicas == 1 and output_gradients is None:
        return tape.gradient(loss, variables)
    scale = tf.constant(1.0 / replicas, loss.dtype)
    if output_gradients is not None:
        scale *= output_gradients
    gradients = tape.gradient(loss, variables, output_gradients=scale)
    if replicas == 1:
        return gradients
    return replica.all_reduce(tf.distribute.ReduceOp.SUM, gradients)


def update_each_copy(variables_and_args, update_fn, strategy=None):
    """Runs `update_fn(variable, *args)` once per copy of each variable through
    `strategy.extended.update` (the documented contract for mirrored variables):
    from inside `strategy.run` by merge_call, elsewhere directly with `strategy`
    (the variables' own, or the current one)."""

    def apply(strategy, pairs):
        for variable, args in pairs:
            strategy.extended.update(variable, update_fn, args=args, group=False)

    replica = tf.distribute.get_replica_context()
    if replica is not None and tf.distribute.has_strategy():  # inside strategy.run
        return replica.merge_call(apply, args=(variables_and_args,))
    return apply(strategy or tf.distribute.get_strategy(), variables_and_args)
