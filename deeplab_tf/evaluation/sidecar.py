"""`tools.evaluate --watch` on a console: `watch` with a line per checkpoint and a closing summary."""

import os
import sys

from deeplab_tf import model_dir as model_dir_lib
from deeplab_tf.evaluation import watch as watch_lib


def run(model_dir, prepare, *, interval, timeout):
    """Waits for `model_dir`'s config, then watches it; True once the final step's checkpoint is evaluated.

    Args:
        prepare: () → (evaluate_checkpoint, name, settings) as `watch` takes
            them; called once the trainer has written `model_config.json`.
        interval, timeout: `watch`'s; the same timeout bounds the wait for the config.

    Returns:
        False when `timeout` passed without a new checkpoint (or without the config).
    """
    config_file = os.path.join(model_dir, model_dir_lib.CONFIG_FILE)
    if not os.path.isfile(config_file):
        print(f"watch: waiting for {config_file} (the trainer writes it before its first step)", flush=True)
        if not watch_lib.wait_for(lambda: os.path.isfile(config_file), interval=interval, timeout=timeout):
            print(f"watch: stopped: no {config_file} within --watch_timeout={timeout:g} s", file=sys.stderr)
            return False
    evaluate_checkpoint, name, settings = prepare()
    history_path, log_dir = watch_lib.output_paths(model_dir, name)
    final = watch_lib.final_step(model_dir)
    print(f"watch: {os.path.join(model_dir, model_dir_lib.CHECKPOINT_DIR)} every {interval:g} s until step "
          f"{final if final is not None else '? (no train_steps recorded)'} or {timeout:g} s without "
          f"a new checkpoint; {len(watch_lib.read_history(history_path))} already in {history_path}", flush=True)
    outcome = watch_lib.watch(model_dir, evaluate_checkpoint, name=name, settings=settings, interval=interval,
                              timeout=timeout, on_evaluated=_evaluated, on_skipped=_skipped)
    summary = (f"{len(outcome.evaluated)} evaluated, {len(outcome.skipped)} skipped; history in {history_path}, "
               f"TensorBoard in {log_dir}")
    if outcome.reason == watch_lib.FINAL_STEP:
        print(f"watch: done: the final step's checkpoint (step {outcome.final_step}) is evaluated; {summary}")
        return True
    newest = "none evaluated" if outcome.last_step is None else f"newest evaluated step {outcome.last_step}"
    final = "not recorded" if outcome.final_step is None else outcome.final_step
    print(f"watch: stopped: no new checkpoint within --watch_timeout={timeout:g} s ({newest}, "
          f"final step {final}); {summary}", file=sys.stderr)
    return False


def _evaluated(record):
    crf = f", with CRF {record['with_crf']['miou']:.4f}" if "with_crf" in record else ""
    print(f"step {record['step']}: mIoU {record['miou']:.4f}{crf}, pixel accuracy "
          f"{record['pixel_accuracy']:.4f} on {record['num_images']} images "
          f"({record['timing']['total_s']:.1f} s; {os.path.basename(record['checkpoint'])})", flush=True)


def _skipped(step, prefix, error):
    print(f"step {step}: skipped {os.path.basename(prefix)}: deleted (checkpoint retention) before it "
          f"could be read", flush=True)
