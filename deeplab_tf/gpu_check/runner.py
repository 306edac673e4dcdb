"""Running the GPU check's sections, each in a process of its own, keeping the rows a timeout cuts short."""

import json
import os
import subprocess
import time

from deeplab_tf.files import write_atomically
from deeplab_tf.gpu_check import CORRECTNESS, SECTIONS, table


def section_file(output_dir, name):
    return os.path.join(output_dir, "sections", f"{name}.json")


def run_section(name, settings, output_dir):
    """Runs section `name` here, rewriting its file after every row so a kill keeps the finished ones."""
    start, rows = time.monotonic(), []

    def write(finished):
        document = {"section": name, "finished": finished, "seconds": time.monotonic() - start, "rows": rows}
        write_atomically(section_file(output_dir, name), json.dumps(document, indent=2, default=str) + "\n")

    write(False)
    for row in SECTIONS[name](settings):
        rows.append(row)
        write(False)
    write(True)


def run_in_child(name, command, output_dir, timeout):
    """Section `name` in a fresh process running `command` (which calls `run_section`): its file, with how it ended."""
    path, log = section_file(output_dir, name), os.path.join(output_dir, "sections", f"{name}.log")
    if os.path.exists(path):
        os.remove(path)
    start = time.monotonic()
    with open(log, "w") as output:
        try:
            status = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            status = None
    seconds = time.monotonic() - start
    try:
        with open(path) as file:
            document = json.load(file)
    except (OSError, ValueError):
        document = {"section": name, "finished": False, "rows": []}
    document["seconds"] = seconds
    if status is None:
        document["error"] = f"timed out after {timeout:.0f} s (its timeout); rows finished before are kept"
    elif status != 0 or not document["finished"]:
        document["error"] = f"exit status {status}: {_last_line(log)} (log: {log})"
    return document


def _last_line(path):
    with open(path, errors="replace") as file:
        lines = [line.strip() for line in file if line.strip()]
    return lines[-1] if lines else "no output"


def failed_checks(sections):
    """(section, what) of every correctness check that failed or did not run to the end."""
    failed = []
    for name, document in sections.items():
        if name not in CORRECTNESS:
            continue
        failed += [(name, row["check"]) for row in document["rows"] if not row["passed"]]
        if "error" in document:
            failed.append((name, document["error"]))
    return failed


def run_all(names, settings, *, command_for, timeouts, total_timeout, output_dir, smoke=False, on_section=None):
    """Runs each section in a child process within its timeout and the total; returns the report.

    Writes `gpu_check.json` and `gpu_check.md` into `output_dir`. `command_for(name)` is the child's
    command line; a section the total leaves no time for is reported as not run.
    """
    os.makedirs(os.path.join(output_dir, "sections"), exist_ok=True)
    deadline = time.monotonic() + total_timeout
    report = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "smoke": smoke, "settings": settings.to_dict(),
              "total_timeout_s": total_timeout, "sections": {}}
    for name in names:
        left = deadline - time.monotonic()
        if left < 1:
            report["sections"][name] = {"section": name, "finished": False, "rows": [],
                                        "error": f"not run: --total_timeout_s ({total_timeout} s) was spent"}
            continue
        if on_section:
            on_section(name)
        report["sections"][name] = run_in_child(name, command_for(name), output_dir, min(timeouts[name], left))
    failed = failed_checks(report["sections"])
    report["passed"] = not failed
    report["failed"] = [f"{name}: {what}" for name, what in failed]
    write_atomically(os.path.join(output_dir, "gpu_check.json"), json.dumps(report, indent=2, default=str) + "\n")
    write_atomically(os.path.join(output_dir, "gpu_check.md"), table.markdown(report))
    return report
