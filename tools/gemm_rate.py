#!/usr/bin/env python3
"""Measures this CPU's matrix-multiply rate through ONNX Runtime (the same runtime and version the
SenseVoice engine uses), for the shapes SenseVoice-Small's encoder runs: activations [T, 512]
times weights [512, 2048] (fp32 MatMul, and the dynamically quantised MatMulInteger path), at 1
and 2 threads. The result is the denominator of the arithmetic floor in docs/benchmarks.md.

usage: gemm_rate.py [T ...]   (default T: 40 100 170 680)
Prints one JSON object per (kind, threads, T): gflops (2*T*512*2048 / median time).
"""
import json
import statistics
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic

K, N, LAYERS = 512, 2048, 8


def model_bytes(path: str) -> str:
    """A chain of LAYERS MatMuls [T,K]x[K,N] -> [T,N]x[N,K] ... so one run is big enough to time."""
    rng = np.random.default_rng(0)
    nodes, inits, prev = [], [], "x"
    for i in range(LAYERS):
        shape = (K, N) if i % 2 == 0 else (N, K)
        w = numpy_helper.from_array((rng.standard_normal(shape) * 0.02).astype(np.float32), f"w{i}")
        inits.append(w)
        out = "y" if i == LAYERS - 1 else f"h{i}"
        nodes.append(helper.make_node("MatMul", [prev, f"w{i}"], [out]))
        prev = out
    graph = helper.make_graph(nodes, "gemm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["T", K])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["T", K])], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, path)
    return path


def main() -> None:
    ts = [int(a) for a in sys.argv[1:]] or [40, 100, 170, 680]
    fp32 = model_bytes("/tmp/gemm_rate_fp32.onnx")
    int8 = "/tmp/gemm_rate_int8.onnx"
    quantize_dynamic(fp32, int8, weight_type=QuantType.QUInt8)
    for kind, path in (("fp32", fp32), ("int8", int8)):
        for threads in (1, 2):
            so = ort.SessionOptions()
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
            sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
            for t in ts:
                x = np.random.default_rng(1).standard_normal((t, K)).astype(np.float32)
                sess.run(None, {"x": x})
                reps = max(5, int(2000 / t))
                times = []
                for _ in range(reps):
                    t0 = time.perf_counter()
                    sess.run(None, {"x": x})
                    times.append(time.perf_counter() - t0)
                flops = 2.0 * t * K * N * LAYERS
                print(json.dumps({"kind": kind, "threads": threads, "T": t,
                                  "gflops": round(flops / statistics.median(times) / 1e9, 1)}), flush=True)


if __name__ == "__main__":
    main()
