#!/usr/bin/env python3
"""Converts Resemblyzer's GE2E speaker encoder (`pretrained.pt`) to an ONNX model, without torch.

    python3 tools/convert_ge2e.py pretrained.pt ge2e.onnx

Python standard library only, so `scripts/fetch-models` needs no extra packages, and the output is
byte-for-byte deterministic (its sha256 is recorded in scripts/models.sha256).

1. `pretrained.pt` is a *legacy* (pre-zip) torch serialization: five pickles (magic number, protocol
   version, system info, the checkpoint, the list of storage keys), then for each storage key an
   int64 element count and the raw little-endian elements. The checkpoint pickle names three
   globals (`torch._utils._rebuild_tensor_v2`, `torch.FloatStorage`, `collections.OrderedDict`);
   the unpickler below supplies stand-ins for exactly those and refuses anything else, so no code
   from the file runs. Tensors are views (offset, size, stride) into shared storages and are
   materialised element by element.
2. The network (Resemblyzer's `VoiceEncoder`): a 3-layer LSTM 40→256, the last layer's final hidden
   state, `linear` 256×256, ReLU, L2 normalisation. The ONNX graph (opset 17):

       mels [batch, frames, 40]  (power mel, frames × 40; see src/engine/speaker/ge2e.rs)
       → Transpose → [frames, batch, 40]
       → LSTM ×3 (Squeeze of the direction axis between layers) → Y_h of layer 3 [1, batch, 256]
       → Squeeze → Gemm (linear) → Relu → x / max(‖x‖₂, 1e-12) → embedding [batch, 256]

   PyTorch stacks gate rows as (input, forget, cell, output); ONNX wants (input, output, forget,
   cell), so every weight and bias is reordered. ONNX's B is [W_b, R_b]: PyTorch's bias_ih and
   bias_hh, both added, exactly as PyTorch does.

The protobuf is written by hand (field numbers from onnx.proto); `tools/check_ge2e.py` checks the
result against a numpy re-implementation of the PyTorch network.
"""

import collections
import io
import pickle
import struct
import sys
from array import array

MAGIC = 0x1950A86A20F9469CFC6C
PROTOCOL = 1001
HIDDEN = 256
N_MELS = 40
LAYERS = 3


# ---------------------------------------------------------------- legacy torch checkpoint reader


class _Storage:
    """Stand-in for torch.FloatStorage (a type marker only)."""


class _TensorRef:
    """A lazy view of a storage: what `_rebuild_tensor_v2` would build."""

    def __init__(self, key, offset, size, stride):
        self.key, self.offset, self.size, self.stride = key, offset, tuple(size), tuple(stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, *_rest):
    return _TensorRef(storage, storage_offset, size, stride)


class _Unpickler(pickle.Unpickler):
    ALLOWED = {
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("torch", "FloatStorage"): _Storage,
        ("collections", "OrderedDict"): collections.OrderedDict,
    }

    def __init__(self, f, storages):
        super().__init__(f)
        self.storages = storages

    def find_class(self, module, name):
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"unexpected global {module}.{name} in the checkpoint") from None

    def persistent_load(self, pid):
        # ('storage', storage_type, key, location, numel, view_metadata)
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        kind, key = pid[1], pid[2]
        if kind is not _Storage:
            raise pickle.UnpicklingError(f"storage {key} is not a FloatStorage")
        self.storages[key] = pid[4]
        return key


class _Plain(pickle.Unpickler):
    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"unexpected global {module}.{name}")


def read_legacy_checkpoint(path):
    """Returns {name: (shape, array('f') row-major)} for the checkpoint's `model_state`."""
    with open(path, "rb") as f:
        if _Plain(f).load() != MAGIC:
            raise ValueError(f"{path}: not a legacy torch file (magic number)")
        if _Plain(f).load() != PROTOCOL:
            raise ValueError(f"{path}: unsupported legacy protocol version")
        info = _Plain(f).load()
        if not info.get("little_endian", False):
            raise ValueError(f"{path}: big-endian checkpoints are not supported")
        storages = {}
        checkpoint = _Unpickler(f, storages).load()
        keys = _Plain(f).load()
        data = {}
        for key in keys:
            (count,) = struct.unpack("<q", f.read(8))
            raw = f.read(count * 4)
            if len(raw) != count * 4:
                raise ValueError(f"{path}: storage {key} is truncated")
            a = array("f")
            a.frombytes(raw)
            if sys.byteorder != "little":
                a.byteswap()
            data[key] = a
    state = checkpoint["model_state"]
    out = {}
    for name, t in state.items():
        if not isinstance(t, _TensorRef):
            continue
        src = data[t.key]
        n = 1
        for d in t.size:
            n *= d
        contiguous = []
        acc = 1
        for d in reversed(t.size):
            contiguous.insert(0, acc)
            acc *= d
        if tuple(contiguous) == t.stride or n == 0:
            out[name] = (t.size, src[t.offset:t.offset + n])
            continue
        flat = array("f", bytes(4 * n))
        # Materialise the strided view in row-major order.
        idx = [0] * len(t.size)
        for i in range(n):
            off = t.offset
            for d, s in zip(idx, t.stride):
                off += d * s
            flat[i] = src[off]
            for ax in range(len(idx) - 1, -1, -1):
                idx[ax] += 1
                if idx[ax] < t.size[ax]:
                    break
                idx[ax] = 0
        out[name] = (t.size, flat)
    return out


def onnx_gate_order(rows, hidden=HIDDEN):
    """PyTorch gate blocks (i, f, g, o) → ONNX (i, o, f, c); `rows` is a list of row arrays."""
    i, f, g, o = (rows[k * hidden:(k + 1) * hidden] for k in range(4))
    return i + o + f + g


def lstm_weights(state, layer):
    """(W, R, B) for ONNX LSTM `layer`, each a flat array('f') in ONNX's layout."""
    def rows(name):
        shape, a = state[name]
        if len(shape) == 1:
            return [a[k:k + 1] for k in range(shape[0])]
        cols = shape[1]
        return [a[r * cols:(r + 1) * cols] for r in range(shape[0])]

    out = []
    for name in (f"lstm.weight_ih_l{layer}", f"lstm.weight_hh_l{layer}"):
        flat = array("f")
        for r in onnx_gate_order(rows(name)):
            flat.extend(r)
        out.append(flat)
    b = array("f")
    for name in (f"lstm.bias_ih_l{layer}", f"lstm.bias_hh_l{layer}"):
        for r in onnx_gate_order(rows(name)):
            b.extend(r)
    out.append(b)
    return out


# ---------------------------------------------------------------- protobuf writer (onnx.proto)


def _varint(n):
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(field, wire):
    return _varint(field << 3 | wire)


def f_int(field, n):
    return _key(field, 0) + _varint(n)


def f_bytes(field, b):
    if isinstance(b, str):
        b = b.encode()
    return _key(field, 2) + _varint(len(b)) + b


def f_float(field, x):
    return _key(field, 5) + struct.pack("<f", x)


FLOAT, INT64 = 1, 7  # TensorProto.DataType
A_FLOAT, A_INT, A_STRING, A_INTS = 1, 2, 3, 7  # AttributeProto.AttributeType


def tensor(name, dims, values, dtype=FLOAT):
    body = b"".join(f_int(1, d) for d in dims) + f_int(2, dtype) + f_bytes(8, name)
    if dtype == FLOAT:
        a = array("f", values)
    else:
        a = array("q", values)
    if sys.byteorder != "little":
        a.byteswap()
    return body + f_bytes(9, a.tobytes())


def attr(name, value):
    if isinstance(value, float):
        return f_bytes(1, name) + f_float(2, value) + f_int(20, A_FLOAT)
    if isinstance(value, int):
        return f_bytes(1, name) + f_int(3, value) + f_int(20, A_INT)
    if isinstance(value, str):
        return f_bytes(1, name) + f_bytes(4, value) + f_int(20, A_STRING)
    return f_bytes(1, name) + b"".join(f_int(8, v) for v in value) + f_int(20, A_INTS)


def node(op, inputs, outputs, name, **attrs):
    body = b"".join(f_bytes(1, i) for i in inputs) + b"".join(f_bytes(2, o) for o in outputs)
    body += f_bytes(3, name) + f_bytes(4, op)
    for k in sorted(attrs):
        body += f_bytes(5, attr(k, attrs[k]))
    return body


def value_info(name, dims):
    shape = b"".join(
        f_bytes(1, f_bytes(2, d) if isinstance(d, str) else f_int(1, d)) for d in dims
    )
    tensor_type = f_int(1, FLOAT) + f_bytes(2, shape)
    return f_bytes(1, name) + f_bytes(2, f_bytes(1, tensor_type))


def build_model(state):
    for need in ("linear.weight", "linear.bias"):
        if need not in state:
            raise ValueError(f"checkpoint has no {need}")
    if state["lstm.weight_ih_l0"][0] != (4 * HIDDEN, N_MELS):
        raise ValueError(f"unexpected lstm.weight_ih_l0 shape {state['lstm.weight_ih_l0'][0]}")
    nodes, inits = [], []
    nodes.append(node("Transpose", ["mels"], ["x0"], "to_time_major", perm=[1, 0, 2]))
    inits.append(tensor("axis1", [1], [1], INT64))
    inits.append(tensor("axis0", [1], [0], INT64))
    x = "x0"
    for layer in range(LAYERS):
        w, r, b = lstm_weights(state, layer)
        inp = N_MELS if layer == 0 else HIDDEN
        inits.append(tensor(f"W{layer}", [1, 4 * HIDDEN, inp], w))
        inits.append(tensor(f"R{layer}", [1, 4 * HIDDEN, HIDDEN], r))
        inits.append(tensor(f"B{layer}", [1, 8 * HIDDEN], b))
        y, yh = f"y{layer}", f"h{layer}"
        nodes.append(node("LSTM", [x, f"W{layer}", f"R{layer}", f"B{layer}"], [y, yh], f"lstm{layer}",
                          hidden_size=HIDDEN, direction="forward"))
        if layer < LAYERS - 1:
            x = f"x{layer + 1}"
            nodes.append(node("Squeeze", [y, "axis1"], [x], f"squeeze{layer}"))
    nodes.append(node("Squeeze", [f"h{LAYERS - 1}", "axis0"], ["hidden"], "last_hidden"))
    lw_shape, lw = state["linear.weight"]
    _, lb = state["linear.bias"]
    inits.append(tensor("linear_w", list(lw_shape), lw))
    inits.append(tensor("linear_b", [lw_shape[0]], lb))
    nodes.append(node("Gemm", ["hidden", "linear_w", "linear_b"], ["lin"], "linear", transB=1))
    nodes.append(node("Relu", ["lin"], ["act"], "relu"))
    nodes.append(node("ReduceL2", ["act"], ["norm"], "norm", axes=[1], keepdims=1))
    inits.append(tensor("eps", [], [1e-12]))
    nodes.append(node("Max", ["norm", "eps"], ["norm_safe"], "norm_floor"))
    nodes.append(node("Div", ["act", "norm_safe"], ["embedding"], "l2_normalise"))

    graph = b"".join(f_bytes(1, n) for n in nodes) + f_bytes(2, "ge2e")
    graph += b"".join(f_bytes(5, t) for t in inits)
    graph += f_bytes(10, "Resemblyzer GE2E speaker encoder (converted by tools/convert_ge2e.py)")
    graph += f_bytes(11, value_info("mels", ["batch", "frames", N_MELS]))
    graph += f_bytes(12, value_info("embedding", ["batch", lw_shape[0]]))

    meta = {
        "asr_router.embedder": "ge2e",
        "asr_router.source": "resemblyzer 0.1.4 pretrained.pt",
        "asr_router.input": "power mel [batch, frames, 40], 16 kHz, n_fft 400, hop 160, Slaney",
    }
    model = f_int(1, 8)  # ir_version 8 (opset 17)
    model += f_bytes(2, "asr-router convert_ge2e.py") + f_bytes(3, "1")
    model += f_bytes(7, graph)
    model += f_bytes(8, f_bytes(1, "") + f_int(2, 17))
    for k in sorted(meta):
        model += f_bytes(14, f_bytes(1, k) + f_bytes(2, meta[k]))
    return model


def main(argv):
    if len(argv) != 3:
        print("usage: convert_ge2e.py PRETRAINED_PT OUT_ONNX", file=sys.stderr)
        return 2
    state = read_legacy_checkpoint(argv[1])
    model = build_model(state)
    tmp = argv[2] + ".tmp"
    with open(tmp, "wb") as f:
        f.write(model)
    import os

    os.replace(tmp, argv[2])
    print(f"wrote {argv[2]} ({len(model)} bytes, {len(state)} tensors read)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
