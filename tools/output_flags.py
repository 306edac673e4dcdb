"""The run-directory and progress flags: where a training run lives, and how a tool reports as it goes."""

from absl import flags

flags.DEFINE_string("model_dir", None, "A training run's directory (model_config.json, checkpoints/): tools.train "
                    "writes it and resumes a run there; evaluate, export (also a .keras file) and benchmark "
                    "read it.")
flags.DEFINE_enum("progress", "auto", ["auto", "bar", "log"], "One updating line (bar) or a line per "
                  "--log_seconds (log); auto: bar on a terminal.")
flags.DEFINE_float("log_seconds", 10.0, "With log progress: at most one progress line this often.")
