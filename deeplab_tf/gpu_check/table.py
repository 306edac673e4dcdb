"""Renders a tools.gpu_check report (the dict it writes as gpu_check.json) as Markdown tables."""

from deeplab_tf.benchmarking.table import describe
from deeplab_tf.gpu_check import CORRECTNESS, SPEED


def markdown(report):
    """The device facts, one row a correctness check, one row a timed configuration; ends with a newline."""
    settings = report["settings"]
    config = settings["model_config"]
    network = f"{config['variant']} {config['backbone'].replace('resnet', 'R-')} OS{config['output_stride']}"
    size = "×".join(map(str, settings["input_size"]))
    lines = [f"# GPU check{' (--smoke)' if report['smoke'] else ''}: {report['date']}", "",
             *_device(report["sections"].get("device")), "",
             f"## Correctness: {network}, {size}, against {settings['reference_device']}", "",
             "| section | check | device | against | difference | limit | argmax agreement | result |",
             "|---|---|---|---|---|---|---|---|"]
    for name in CORRECTNESS:
        if name in report["sections"]:
            lines += _correctness(name, report["sections"][name])
    speed_size = "×".join(map(str, settings["speed_input_size"]))
    lines += ["", f"## Speed: {network}, {speed_size} (tools.benchmark)", "",
              "| what | images/s | median | utilisation | peak GPU memory | note |", "|---|---|---|---|---|---|"]
    for name in SPEED:
        if name in report["sections"]:
            lines += _speed(report["sections"][name])
    verdict = "all checks passed" if report["passed"] else "FAILED: " + "; ".join(report["failed"])
    lines += ["", f"**{verdict}**"]
    return "\n".join(lines) + "\n"


def _device(document):
    if document is None:
        return ["(the device section did not run)"]
    if not document["rows"]:
        return [f"device: {document.get('error', 'no facts')}"]
    facts = document["rows"][0]
    machine = facts["machine"]
    rows = [("device under test", facts["device_under_test"]), ("reference", facts["reference_device"])]
    for gpu in facts["gpus"]:
        rows.append((gpu["device"], f"{gpu['name']}, compute capability {gpu['compute_capability']}"))
    for gpu in facts["nvidia_smi"] or []:
        rows.append(("nvidia-smi", ", ".join(f"{key} {value}" for key, value in gpu.items())))
    if facts["cuda_build"]:
        rows.append(("TensorFlow built with", f"CUDA {facts['cuda_version']}, cuDNN {facts['cudnn_version']}"))
    if facts["note"]:
        rows.append(("note", facts["note"]))
    rows += [("TensorFlow", machine["tensorflow"]),
             ("CPU", f"{machine['processor']}, {machine['cpu_count']} cores")]
    return ["| device | |", "|---|---|", *(f"| {key} | {value} |" for key, value in rows)]


def _correctness(name, document):
    lines = []
    for row in document["rows"]:
        if row.get("skipped"):
            lines.append(f"| {name} | {row['check']} | {row['device']} | | | | | skipped: {row['reason']} |")
            continue
        limit = f"{row['tolerance']:.0e} ({'max' if row['norm'] == 'max' else 'L2'})"
        agreement = ""
        if "agreement" in row:
            agreement = f"{100 * row['agreement']:.3f}% (≥ {100 * row['min_agreement']:.1f}%)"
        if "loss_difference" in row:
            agreement = f"loss differs by {row['loss_difference']:.1e}"
        if "overflow_step_skipped" in row:
            agreement += f"; overflowing step skipped: {'yes' if row['overflow_step_skipped'] else 'NO'}"
        result = "passed" if row["passed"] else "**FAILED**"
        lines.append(f"| {name} | {row['check']} | {row['device']} | {row['reference_device']} | "
                     f"{row['difference']:.1e} | {limit} | {agreement} | {result} |")
    if "error" in document:
        lines.append(f"| {name} | {document['error']} | | | | | | **FAILED** |")
    return lines


def _speed(document):
    lines = []
    for row in document["rows"]:
        if "error" in row:
            lines.append(f"| {row['what']} | | | | | {row['error']} |")
            continue
        result = row["benchmark"]
        what = describe(result) if result["mode"] != "crf" else row["what"]
        memory = f"{row['peak_memory_bytes'] / 2**30:.2f} GiB" if row["peak_memory_bytes"] is not None else "no GPU"
        utilisation = f"{100 * row['utilization']:.0f}%" if row.get("utilization") else ""
        note = ""
        if row.get("argmax_agreement_with_float32") is not None:
            note = f"argmax agreement with float32 {100 * row['argmax_agreement_with_float32']:.2f}%"
        if "pydensecrf_median_s" in row:
            note = (f"{1000 * row['median_s']:.0f} ms an image; "
                    f"pydensecrf (C++, CPU) {1000 * row['pydensecrf_median_s']:.0f} ms")
            if row.get("batch_over_single") is not None:
                note += f"; in a batch of 4, {row['batch_over_single']:.2f}x the time per image"
        images_per_s = f"{row['images_per_s']:.2f}" if row.get("images_per_s") else ""
        lines.append(f"| {what} | {images_per_s} | {row['median_s']:.3f} s | {utilisation} | {memory} | {note} |")
    if "error" in document:
        lines.append(f"| {document['section']}: {document['error']} | | | | | |")
    return lines
