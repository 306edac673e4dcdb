"""The dense CRF's graph runs on a GPU: every op has a GPU kernel that keeps its data in device memory.

This machine's tensorflow-cpu registers CPU kernels only, so the GPU kernels are
a list kept here, `GPU_KERNELS`: one line per kernel the CRF's graph uses, the
op, its type constraints and the arguments the kernel keeps in host memory.
The list is TF 2.21's own registry: `tensorflow==2.21.0` (the CUDA wheel) was
unpacked beside the project (it loads without a GPU; its kernels register at
import) and this file run as a script with it first on the path,

    PYTHONPATH=<unpacked wheel>:. python tests/postprocess/test_crf_gpu_ready.py

which prints, for each op of the traced graph, the first kernel of device type
GPU or DEFAULT whose constraints the op meets (`get_registered_kernels_for_op`,
the registry that `REGISTER_KERNEL_BUILDER(Name(...).Device(DEVICE_GPU))`
fills); string constants, the assert messages, have none and stay on the CPU.
`tools.gpu_check`'s `crf` section runs the same graph on a real GPU
against the CPU.

TensorFlow keeps int32 tensors of many GPU kernels in host memory (shape
arithmetic); a host-memory argument is accepted only when its static shape has
at most `_SMALL` elements, so no per-pixel or per-vertex tensor makes a host
round trip.
"""

import sys

import tensorflow as tf

from deeplab_tf.postprocess import CRFParams, dense_crf_tf

GPU_KERNELS = """
AddN T=float32
AddN T=int64
AddV2 T=float32
AddV2 T=int32 host:x host:y host:z
AddV2 T=int64
All Tidx=int32 host:reduction_indices
Assert host:condition host:data
BroadcastTo T=int64 host:shape
CSRSparseMatrixToSparseTensor type=float32 host:dense_shape
Cast SrcT=bool DstT=float32
Cast SrcT=bool DstT=int64
Cast SrcT=float32 DstT=int64
Cast SrcT=float64 DstT=int64
Cast SrcT=int32 DstT=float64
Cast SrcT=int32 DstT=int32
Cast SrcT=int32 DstT=int64
Cast SrcT=int64 DstT=float32
Cast SrcT=int64 DstT=float64
Cast SrcT=int64 DstT=int32
Cast SrcT=uint8 DstT=float32
ConcatV2 T=float32 host:axis
ConcatV2 T=int32 host:values host:axis host:output
ConcatV2 T=int64 host:axis
Const dtype=bool
Const dtype=float32
Const dtype=float64
Const dtype=int32 host:output
Const dtype=int64
Cumprod T=int64 Tidx=int32 host:axis
Cumsum T=int64 Tidx=int32 host:axis
Equal T=int32 host:x host:y host:z
Equal T=int64
ExpandDims T=int64 Tdim=int32 host:dim
Fill T=float32 index_type=int32 host:dims
Fill T=int64 index_type=int32 host:dims
FloorDiv T=int32 host:x host:y host:z
FloorDiv T=int64
FloorMod T=int64
GatherNd Tparams=float32 Tindices=int64
GatherV2 Tparams=float32 Tindices=int32 host:axis
GatherV2 Tparams=float32 Tindices=int64 host:axis
GatherV2 Tparams=int64 Tindices=int32 host:axis
GatherV2 Tparams=int64 Tindices=int64 host:axis
Greater T=int64
GreaterEqual T=float32
Identity T=bool
Identity T=float32
Identity T=int32 host:input host:output
Identity T=int64
Identity T=variant
If host:cond
Less T=float32
Less T=float64
Less T=int32 host:x host:y host:z
Less T=int64
LessEqual T=float32
LessEqual T=float64
LessEqual T=int32 host:x host:y host:z
Log T=float32
LogSoftmax T=float32
LogicalAnd
LowerBound T=int64 out_type=int64
Max T=int64 Tidx=int32 host:reduction_indices
Maximum T=float32
Maximum T=int64
Minimum T=int64
Mul T=float32
Mul T=float64
Mul T=int32 host:x host:y host:z
Mul T=int64
Neg T=float32
Neg T=int64
NoOp
OnesLike T=float32
Pack T=float32
Pack T=int32 host:values host:output
Pack T=int64
Pad T=float32 Tpaddings=int32 host:paddings
Placeholder
Prod T=float64 Tidx=int32 host:reduction_indices
Prod T=int32 Tidx=int32 host:reduction_indices
Prod T=int64 Tidx=int32 host:reduction_indices
Range Tidx=int32 host:start host:limit host:delta host:output
Range Tidx=int64 host:start host:limit host:delta
RealDiv T=float32
Reshape T=bool Tshape=int32 host:shape
Reshape T=float32 Tshape=int32 host:shape
Reshape T=int32 Tshape=int32 host:tensor host:shape host:output
Reshape T=int64 Tshape=int32 host:shape
Reshape T=int64 Tshape=int64 host:shape
Round T=float32
SelectV2 T=float32
SelectV2 T=int64
Shape out_type=int32 T=float32 host:output
Shape out_type=int32 T=int64 host:output
Shape out_type=int64 T=float32 host:output
Shape out_type=int64 T=int64 host:output
Size T=int64 out_type=int64 host:output
Softmax T=float32
SparseMatrixSparseMatMul type=float32
SparseMatrixTranspose type=float32
SparseTensorDenseMatMul T=float32 Tindices=int64 host:a_shape
SparseTensorToCSRSparseMatrix T=float32 host:dense_shape
Squeeze T=int64
StatelessIf host:cond
StatelessWhile
StridedSlice T=float32 host:begin host:end host:strides
StridedSlice T=int32 host:input host:begin host:end host:strides host:output
StridedSlice T=int64 host:begin host:end host:strides
Sub T=float32
Sub T=int32 host:x host:y host:z
Sub T=int64
Sum T=float32 Tidx=int32 host:reduction_indices
Sum T=int64 Tidx=int32 host:reduction_indices
TensorListFromTensor element_dtype=float32 host:element_shape
TensorListGetItem element_dtype=float32 host:index host:element_shape
TensorListReserve host:element_shape host:num_elements
TensorListSetItem element_dtype=float32 host:index
TensorListStack element_dtype=float32 host:element_shape
TensorScatterUpdate T=float32 Tindices=int64
TensorScatterUpdate T=int64 Tindices=int64
Tile T=int64 Tmultiples=int32 host:multiples
TopKV2 T=int64 index_type=int32 host:k
Transpose T=float32 host:perm
Transpose T=int64 host:perm
Unique T=int64 out_idx=int64
UnsortedSegmentMax T=int32 Tindices=int64 host:num_segments
UnsortedSegmentMin T=int32 Tindices=int64 host:num_segments
UnsortedSegmentSum T=float32 Tindices=int64 host:num_segments
Where T=bool
ZerosLike T=float32
"""

# A host-memory tensor of at most this many elements (static shape) is shape arithmetic.
_SMALL = 16
_FUNCTION_ATTRS = ("body", "cond", "then_branch", "else_branch", "f")
_PYTHON_OPS = {"PyFunc", "PyFuncStateless", "EagerPyFunc"}


def _crf_graphs():
    """The traced CRF graph and every function graph inside it (while-loop bodies, cond branches).

    Yields (graph, whether it runs inside the mean-field loop: a while body or a function in one).
    """
    function = tf.function(lambda images, logits, sizes: dense_crf_tf(
        images, logits, CRFParams(iterations=2), sizes, from_probabilities=True))
    graph = function.get_concrete_function(
        tf.TensorSpec([2, 24, 20, 3], tf.uint8), tf.TensorSpec([2, 24, 20, 5], tf.float32),
        tf.TensorSpec([2, 2], tf.int32)).graph
    pending, seen = [(graph, False)], set()
    while pending:
        graph, in_loop = pending.pop()
        yield graph, in_loop
        for op in graph.get_operations():
            for name in _FUNCTION_ATTRS:
                try:
                    function_name = op.get_attr(name).name
                except ValueError:
                    continue
                if function_name not in seen:
                    seen.add(function_name)
                    # The graph's own record of its functions, with static shapes (no public accessor).
                    inner = graph._functions[function_name].graph
                    pending.append((inner, in_loop or "while_body" in inner.name))


def _constraints(op, names):
    return {name: tf.dtypes.as_dtype(op.get_attr(name)).name for name in names}


def _parse(lines):
    """[(op, {attr: dtype}, host-memory argument names)] from the `GPU_KERNELS` lines."""
    kernels = []
    for line in lines.strip().splitlines():
        name, *fields = line.split()
        attrs = dict(f.split("=") for f in fields if "=" in f)
        kernels.append((name, attrs, {f[len("host:"):] for f in fields if f.startswith("host:")}))
    return kernels


def _kernel_of(op, kernels):
    for name, attrs, host in kernels:
        if name == op.type and _constraints(op, attrs) == attrs:
            return host
    return None


def _tensors_by_argument(op):
    """{argument name: its tensors} for the op's inputs and outputs."""
    tensors = {}
    for args, values in ((op.op_def.input_arg, list(op.inputs)), (op.op_def.output_arg, list(op.outputs))):
        for arg in args:
            if arg.number_attr:
                count = op.get_attr(arg.number_attr)
            elif arg.type_list_attr:
                count = len(op.get_attr(arg.type_list_attr))
            else:
                count = 1
            tensors[arg.name], values = values[:count], values[count:]
    return tensors


def test_every_op_of_the_crf_graph_has_a_gpu_kernel_and_no_data_on_the_host():
    kernels = _parse(GPU_KERNELS)
    missing, on_host, iteration_ops = set(), set(), set()
    for graph, in_loop in _crf_graphs():
        for op in graph.get_operations():
            assert op.type not in _PYTHON_OPS, f"{op.name} runs Python ({op.type})"
            if in_loop:
                iteration_ops.add(op.type)
            host = _kernel_of(op, kernels)
            if host is None:
                # The assert messages: string constants stay on the CPU, beside the Assert that prints them.
                if not (op.type == "Const" and op.get_attr("dtype") == tf.string):
                    missing.add(op.type)
                continue
            for arg in host:
                for tensor in _tensors_by_argument(op)[arg]:
                    shape = tensor.shape
                    if not shape.is_fully_defined() or shape.num_elements() > _SMALL:
                        on_host.add(f"{op.type} {op.name}: {arg} {shape}")
    assert "SparseTensorDenseMatMul" in iteration_ops  # the walk went into the mean-field loop
    assert not missing, f"ops with no GPU kernel listed (check them as the docstring says): {sorted(missing)}"
    assert not on_host, "per-pixel tensors in host memory:\n" + "\n".join(sorted(on_host))


def _registry_lines():
    """The `GPU_KERNELS` lines from the registry of the TensorFlow imported (the CUDA build's)."""
    from tensorflow.python.framework import kernels as registry

    lines = set()
    for graph, _ in _crf_graphs():
        for op in graph.get_operations():
            for kernel in registry.get_registered_kernels_for_op(op.type).kernel:
                if kernel.device_type not in ("GPU", "DEFAULT"):
                    continue
                typed = [c for c in kernel.constraint if c.allowed_values.list.type]
                attrs = _constraints(op, [c.name for c in typed])
                if all(tf.dtypes.as_dtype(attrs[c.name]).as_datatype_enum in c.allowed_values.list.type for c in typed):
                    fields = [f"{n}={t}" for n, t in attrs.items()] + [f"host:{a}" for a in kernel.host_memory_arg]
                    lines.add(" ".join([op.type, *fields]))
                    break
            else:
                print(f"no GPU kernel: {op.type} {op.name}", file=sys.stderr)
    return sorted(lines)


if __name__ == "__main__":
    print("\n".join(_registry_lines()))
