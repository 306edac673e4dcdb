"""Checks the GPU paths against the CPU (forward, XLA and mixed-precision steps, CRF, SavedModel) and times them.

    python -m tools.gpu_check --output_dir=runs/gpu_check                 # on a GPU: v3 R-101 OS16
    python -m tools.gpu_check --output_dir=runs/gpu_check_smoke --smoke   # on a CPU: ResNet-18, 65x65

Writes `output_dir/gpu_check.json` and `output_dir/gpu_check.md` (the tables, also
printed). The sections (`deeplab_tf.gpu_check`): `device` (what TensorFlow
and nvidia-smi say), the correctness checks `forward`, `train_step`, `crf` and
`saved_model` (each path on `--device` against the plain path on
`--reference_device`, in the same process, on the same weights and inputs), and
the speed sections `speed_inference`, `speed_crf` and `speed_train`
(`tools.benchmark`'s modes, with peak GPU memory). Each section runs in a process
of its own, killed at its own timeout (`--section_timeouts`) and at the latest when
`--total_timeout_s` is spent, so a slow or hung section cannot take the others'
time; the rows it finished are kept. `--smoke` checks the CPU's own paths with a
ResNet-18 (unless `--backbone` says otherwise) at 65x65, in about 90 s of CPU time.

Exit status 1 when a correctness check fails or a correctness section does not
finish; a speed section that fails is reported in the tables without changing it.
"""

import dataclasses
import os
import re
import sys

from absl import flags

# tools.cli first: it sets TensorFlow's log level before TensorFlow loads.
from tools import cli, model_flags

import tensorflow as tf  # noqa: E402

from deeplab_tf.gpu_check import SECTIONS, TIMEOUTS, CheckSettings  # noqa: E402
from deeplab_tf.gpu_check import runner  # noqa: E402
from deeplab_tf.gpu_check import table as gpu_check_table  # noqa: E402

flags.DEFINE_string("output_dir", None, "Where gpu_check.json, gpu_check.md and each section's log go.")
flags.DEFINE_bool("smoke", False, "Check the CPU's own paths with a ResNet-18 at 65x65 (about 90 s of CPU "
                  "time): sets the defaults of --device (/CPU:0), --backbone (resnet18) and --input_size (65), "
                  "and times at 65x65 with batch 2, float32 only.")
flags.DEFINE_string("device", None, "The device checked and timed, e.g. /GPU:0 (default: /GPU:0 where "
                    "TensorFlow sees a GPU; /CPU:0 with --smoke).")
flags.DEFINE_string("reference_device", "/CPU:0", "The device the plain path runs on, for comparison.")
flags.DEFINE_list("sections", None, "Run only these sections, in their usual order (default: all).")
flags.DEFINE_list("input_size", None, "Correctness checks: image and crop height[,width] (default: 129; "
                  "--smoke: 65).")
flags.DEFINE_float("tolerance", 1e-3, "float32 rows: the largest difference from the reference that passes.")
flags.DEFINE_float("mixed_tolerance", 0.1, "mixed_float16 and mixed_bfloat16 training steps against float32: "
                   "the same.")
flags.DEFINE_float("min_agreement", 0.999, "The smallest fraction of pixels with the reference's argmax class "
                   "that passes.")
flags.DEFINE_list("section_timeouts", [], "Overrides of the sections' timeouts, name=seconds, e.g. speed_train=300.")
flags.DEFINE_integer("total_timeout_s", None, "All sections together stop after this many seconds (default: 480, "
                     "the issue's 8 minutes; --smoke: 900).")
flags.DEFINE_string("section", None, "Internal: run this one section in this process and write its rows to "
                    "output_dir/sections/<name>.json (the tool runs each section so).")
flags.mark_flag_as_required("output_dir")
FLAGS = flags.FLAGS

# --smoke runs on a shared CPU, whose speed varies: each section may take this long.
SMOKE_TIMEOUT = 300
_DEVICE = re.compile(r"^/(?:device:)?(CPU|GPU):(\d+)$", re.IGNORECASE)


def _section_names():
    names = list(SECTIONS)
    if not FLAGS.sections:
        return names
    unknown = [name for name in FLAGS.sections if name not in names]
    if unknown:
        raise cli.UsageError(f"--sections: unknown section {unknown[0]!r}; allowed: {', '.join(names)}")
    return [name for name in names if name in FLAGS.sections]


def _timeouts(names):
    timeouts = {name: SMOKE_TIMEOUT if FLAGS.smoke else TIMEOUTS[name] for name in names}
    for item in FLAGS.section_timeouts:
        name, _, seconds = item.partition("=")
        if name not in SECTIONS:
            raise cli.UsageError(f"--section_timeouts: unknown section {name!r} in {item!r}")
        try:
            timeouts[name] = float(seconds)
        except ValueError:
            raise cli.UsageError(f"--section_timeouts: expected name=seconds, got {item!r}") from None
        if timeouts[name] <= 0:
            raise cli.UsageError(f"--section_timeouts: {name} must have a positive timeout, got {seconds}")
    return timeouts


def _check_device(flag, name):
    """`name` if this machine has that device (listing devices leaves GPU memory alone), else a UsageError."""
    match = _DEVICE.match(name)
    if not match:
        raise cli.UsageError(f"--{flag}: expected a device such as /GPU:0 or /CPU:0, got {name!r}")
    kind, index = match.group(1).upper(), int(match.group(2))
    count = len(tf.config.list_physical_devices(kind))
    if index >= count:
        raise cli.UsageError(f"--{flag}: {name} is not here (TensorFlow sees {count} {kind} device(s))")
    return f"/{kind}:{index}"


def _device_under_test():
    if FLAGS.device:
        return _check_device("device", FLAGS.device)
    if FLAGS.smoke:
        return "/CPU:0"
    if tf.config.list_physical_devices("GPU"):
        return "/GPU:0"
    raise cli.UsageError("--device: TensorFlow sees no GPU here; --smoke checks the CPU's own paths, "
                         "--device=/CPU:0 runs the full check on the CPU")


def settings_from_flags():
    """The `CheckSettings` of the flags (the model group's included); `--smoke` the small one."""
    if FLAGS.smoke and not FLAGS["backbone"].present:
        FLAGS.backbone = "resnet18"
    model_config = model_flags.model_config_from_flags()
    input_size = cli.parse_size("input_size", FLAGS.input_size) or ((65, 65) if FLAGS.smoke else (129, 129))
    for flag in ("tolerance", "mixed_tolerance"):
        if not FLAGS[flag].value > 0:
            raise cli.UsageError(f"--{flag}: must be positive, got {FLAGS[flag].value}")
    if not 0 <= FLAGS.min_agreement <= 1:
        raise cli.UsageError(f"--min_agreement: must be in [0, 1], got {FLAGS.min_agreement}")
    settings = CheckSettings(
        model_config=model_config, device=_device_under_test(),
        reference_device=_check_device("reference_device", FLAGS.reference_device), input_size=input_size,
        tolerance=FLAGS.tolerance, mixed_tolerance=FLAGS.mixed_tolerance, min_agreement=FLAGS.min_agreement)
    if FLAGS.smoke:
        # A 512³ matmul, not smaller: a 256³ one (about 1 ms) is slowed by the call's own cost,
        # which inflates the utilisation (docs/performance.md, The benchmark tool).
        settings = dataclasses.replace(settings, speed_input_size=input_size, train_batch_sizes=(2,),
                                       speed_policies=("float32",), warmup=1, repeats=2, matmul_size=512)
    return settings


def main(argv):
    if len(argv) > 1:
        raise cli.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    names = _section_names()
    timeouts = _timeouts(names)
    settings = settings_from_flags()
    os.makedirs(os.path.join(FLAGS.output_dir, "sections"), exist_ok=True)
    if FLAGS.section:
        if FLAGS.section not in SECTIONS:
            raise cli.UsageError(f"--section: unknown section {FLAGS.section!r}")
        if FLAGS.section == "speed_inference":
            cli.assume_frozen_weights()  # as tools.benchmark's inference mode
        runner.run_section(FLAGS.section, settings, FLAGS.output_dir)
        return 0

    report = runner.run_all(
        names, settings, timeouts=timeouts, total_timeout=FLAGS.total_timeout_s or (900 if FLAGS.smoke else 480),
        output_dir=FLAGS.output_dir, smoke=FLAGS.smoke,
        command_for=lambda name: [sys.executable, "-m", "tools.gpu_check", *sys.argv[1:], f"--section={name}"],
        on_section=lambda name: print(f"gpu_check: {name} ...", file=sys.stderr, flush=True))
    failed = report["failed"]
    print(gpu_check_table.markdown(report))
    print(f"gpu_check: {'all checks passed' if not failed else f'{len(failed)} check(s) failed'}; wrote "
          f"{os.path.join(FLAGS.output_dir, 'gpu_check.json')} and gpu_check.md", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    cli.run(main, flag_for_field=model_flags.FLAG_FOR_FIELD)
