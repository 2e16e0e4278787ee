#!/usr/bin/env python3
"""Build a random-weight stand-in for SenseVoice-Small in both ONNX packagings.

Real SenseVoice-Small weights cannot be fetched in this environment, so this script
builds a graph with *exactly* SenseVoice-Small's architecture (FunASR ``SenseVoiceSmall``
with ``SenseVoiceEncoderSmall``) directly with the ``onnx`` helper API (no torch), fills
it with seeded random weights and writes the two packagings real users download:

* ``<out>/sherpa/``: ``model.onnx`` + ``model.int8.onnx`` + ``tokens.txt``, inputs
  ``x`` [N,T,560] f32, ``x_length`` / ``language`` / ``text_norm`` [N] int32, output
  ``logits`` [N,T+4,V] (raw CTC logits) and the metadata keys of sherpa-onnx's
  ``scripts/sense-voice/export-onnx.py`` (opset 13, QUInt8 per-tensor dynamic quantisation
  of MatMul weights).
* ``<out>/funasr/``: ``model.onnx`` + ``model_quant.onnx`` + ``am.mvn`` + ``config.yaml``
  + ``tokens.json`` + ``chn_jpn_yue_eng_ko_spectok.bpe.model``, inputs ``speech``,
  ``speech_lengths``, ``language``, ``textnorm``, outputs ``ctc_logits`` (log-softmax) and
  ``encoder_out_lens`` as FunASR's ``export_meta.py`` (opset 14, QUInt8 per-channel).

Architecture (FunASR ``funasr/models/sense_voice/model.py``): 4 query embeddings
(language, event=1, emotion=2, textnorm) from a 16x560 table are prepended to the LFR
features; the encoder scales by sqrt(512), adds a sinusoidal position encoding (positions
1..T, depth 560), runs ``encoders0`` (one SANM block 560->512 without residual around the
attention), ``encoders`` (49 SANM blocks), ``after_norm``, ``tp_encoders`` (20 blocks),
``tp_norm``; each SANM block = pre-LN, fused QKV linear, 4-head attention with key padding
mask, FSMN memory (depth-wise conv, kernel 11, on V), ReLU FFN 2048. CTC head 512->25055.

The vocabulary has the real size (25055) and the special tags SenseVoice uses at their
real ids; other pieces are random but unique.

Usage:
    python tools/make-sensevoice-standin.py --out DIR [--tiny] [--seed N] [--no-int8]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

VOCAB_SIZE = 25055
INPUT_SIZE = 560  # 80 mel bins x LFR m=7
LFR_M = 7
LFR_N = 6

# Ids confirmed from FunASR's SenseVoiceSmall (lid_int_dict / textnorm_int_dict).
CONFIRMED_SPECIALS = {
    24884: "<|zh|>",
    24885: "<|en|>",
    24888: "<|yue|>",
    24892: "<|ja|>",
    24896: "<|ko|>",
    24992: "<|nospeech|>",
    25016: "<|withitn|>",
    25017: "<|woitn|>",
}
# Emotion ids as listed by third-party code quoting the sherpa-onnx tokens.txt; the
# event ids are an assumption (the gap between <|nospeech|> and the emotions). The engine
# classifies tags by their text, never by id, so this only affects the stand-in.
OTHER_SPECIALS = {
    24993: "<|Speech|>",
    24994: "<|BGM|>",
    24995: "<|Applause|>",
    24996: "<|Laughter|>",
    24997: "<|Cry|>",
    24998: "<|Sneeze|>",
    24999: "<|Breath|>",
    25000: "<|Cough|>",
    25001: "<|HAPPY|>",
    25002: "<|SAD|>",
    25003: "<|ANGRY|>",
    25004: "<|NEUTRAL|>",
    25005: "<|FEARFUL|>",
    25006: "<|DISGUSTED|>",
    25007: "<|SURPRISED|>",
    25008: "<|Event_UNK|>",
    25009: "<|EMO_UNKNOWN|>",
}
FIRST_SPECIAL = 24884
LID = {"auto": 0, "zh": 3, "en": 4, "yue": 7, "ja": 11, "ko": 12, "nospeech": 13}
TEXTNORM = {"withitn": 14, "woitn": 15}


class Dims:
    """Model dimensions (full SenseVoice-Small or the tiny test variant)."""

    def __init__(self, tiny: bool):
        if tiny:
            self.d, self.heads, self.ffn, self.blocks, self.tp_blocks = 32, 4, 64, 2, 1
        else:
            self.d, self.heads, self.ffn, self.blocks, self.tp_blocks = 512, 4, 2048, 50, 20
        self.kernel = 11
        self.vocab = VOCAB_SIZE


# ----------------------------------------------------------------------------- vocabulary


def make_pieces(rng: np.random.Generator) -> list[str]:
    """25055 unique pieces: <unk>, <s>, </s>, random pieces, real special tags."""
    pieces: list[str | None] = [None] * VOCAB_SIZE
    pieces[0], pieces[1], pieces[2] = "<unk>", "<s>", "</s>"
    for i, p in {**CONFIRMED_SPECIALS, **OTHER_SPECIALS}.items():
        pieces[i] = p
    for i in range(FIRST_SPECIAL, VOCAB_SIZE):
        if pieces[i] is None:
            pieces[i] = f"<|SPECIAL_{i}|>"
    seen = set(p for p in pieces if p is not None)
    letters = "abcdefghijklmnopqrstuvwxyz"
    cjk = [chr(c) for c in range(0x4E00, 0x9FA5)]
    kana = [chr(c) for c in range(0x3041, 0x3097)]
    hangul = [chr(c) for c in range(0xAC00, 0xD7A3)]
    i = 3
    while i < FIRST_SPECIAL:
        r = rng.random()
        if r < 0.45:
            n = int(rng.integers(1, 9))
            p = "".join(letters[j] for j in rng.integers(0, 26, n))
            if rng.random() < 0.6:
                p = "\u2581" + p
        elif r < 0.85:
            p = cjk[int(rng.integers(0, len(cjk)))]
        elif r < 0.93:
            p = kana[int(rng.integers(0, len(kana)))]
        else:
            p = hangul[int(rng.integers(0, len(hangul)))]
        if p in seen:
            continue
        seen.add(p)
        pieces[i] = p
        i += 1
    return [p for p in pieces if p is not None]


def write_sentencepiece_model(pieces: list[str], path: str) -> None:
    """A SentencePiece model proto with exactly these pieces (for funasr-onnx's tokenizer)."""
    from sentencepiece import sentencepiece_model_pb2 as spm

    m = spm.ModelProto()
    m.trainer_spec.model_type = spm.TrainerSpec.BPE
    m.trainer_spec.vocab_size = len(pieces)
    m.trainer_spec.unk_id, m.trainer_spec.bos_id, m.trainer_spec.eos_id = 0, 1, 2
    m.trainer_spec.pad_id = -1
    m.normalizer_spec.name = "identity"
    m.normalizer_spec.add_dummy_prefix = True
    m.normalizer_spec.remove_extra_whitespaces = False
    m.normalizer_spec.escape_whitespaces = True
    for i, p in enumerate(pieces):
        sp = m.pieces.add()
        sp.piece = p
        sp.score = 0.0 if i < 3 else -float(i)
        if i == 0:
            sp.type = spm.ModelProto.SentencePiece.UNKNOWN
        elif i < 3:
            sp.type = spm.ModelProto.SentencePiece.CONTROL
        elif p.startswith("<|") and p.endswith("|>"):
            sp.type = spm.ModelProto.SentencePiece.USER_DEFINED
        else:
            sp.type = spm.ModelProto.SentencePiece.NORMAL
    with open(path, "wb") as f:
        f.write(m.SerializeToString())


# ----------------------------------------------------------------------------- graph


class Graph:
    """Tiny helper around onnx.helper that names nodes and collects initializers."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.n = 0

    def name(self, base: str) -> str:
        self.n += 1
        return f"{base}_{self.n}"

    def const(self, arr: np.ndarray, base: str = "c") -> str:
        nm = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(arr), nm))
        return nm

    def op(self, op_type: str, inputs: list[str], base: str | None = None, n_out: int = 1, **attrs):
        nm = self.name(base or op_type.lower())
        outs = [nm] if n_out == 1 else [f"{nm}:{k}" for k in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=nm, **attrs))
        return outs[0] if n_out == 1 else outs


def linear(g: Graph, x: str, w: np.ndarray, b: np.ndarray, base: str) -> str:
    y = g.op("MatMul", [x, g.const(w.astype(np.float32), base + ".weight")], base + "/MatMul")
    return g.op("Add", [y, g.const(b.astype(np.float32), base + ".bias")], base + "/Add")


def layer_norm(g: Graph, x: str, dim: int, base: str, eps: float = 1e-5) -> str:
    mean = g.op("ReduceMean", [x], base + "/mean", axes=[-1], keepdims=1)
    xc = g.op("Sub", [x, mean], base + "/sub")
    var = g.op("ReduceMean", [g.op("Mul", [xc, xc], base + "/sq")], base + "/var", axes=[-1], keepdims=1)
    std = g.op("Sqrt", [g.op("Add", [var, g.const(np.array(eps, np.float32))], base + "/addeps")])
    y = g.op("Div", [xc, std], base + "/div")
    gamma = (1.0 + 0.1 * RNG.standard_normal(dim)).astype(np.float32)
    beta = (0.1 * RNG.standard_normal(dim)).astype(np.float32)
    return g.op("Add", [g.op("Mul", [y, g.const(gamma, base + ".weight")]), g.const(beta, base + ".bias")])


def rand(shape, fan_in: int, gain: float = 1.0) -> np.ndarray:
    return (RNG.standard_normal(shape, dtype=np.float32) * (gain / math.sqrt(fan_in))).astype(np.float32)


def sanm_block(g: Graph, x: str, in_size: int, dims: Dims, mask_btd: str, key_mask: str, base: str) -> str:
    d, h = dims.d, dims.heads
    dk = d // h
    residual = x
    hx = layer_norm(g, x, in_size, base + ".norm1")
    qkv = linear(g, hx, rand((in_size, 3 * d), in_size), 0.02 * RNG.standard_normal(3 * d), base + ".self_attn.linear_q_k_v")
    q, k, v = g.op("Split", [qkv, g.const(np.array([d, d, d], np.int64))], base + "/split", n_out=3, axis=-1)
    # FSMN memory on V: mask, depth-wise conv (kernel 11, pad 5/5) over time, + input, mask.
    vm = g.op("Mul", [v, mask_btd], base + "/fsmn_mask_in")
    vt = g.op("Transpose", [vm], base + "/fsmn_t", perm=[0, 2, 1])
    pad = (dims.kernel - 1) // 2
    conv_w = rand((d, 1, dims.kernel), dims.kernel, 0.5)
    conv = g.op(
        "Conv",
        [vt, g.const(conv_w, base + ".self_attn.fsmn_block.weight")],
        base + "/fsmn_conv",
        group=d,
        kernel_shape=[dims.kernel],
        pads=[pad, dims.kernel - 1 - pad],
    )
    fsmn = g.op("Add", [g.op("Transpose", [conv], perm=[0, 2, 1]), vm], base + "/fsmn_res")
    fsmn = g.op("Mul", [fsmn, mask_btd], base + "/fsmn_mask_out")

    def heads(t: str, perm: list[int]) -> str:
        r = g.op("Reshape", [t, g.const(np.array([0, 0, h, dk], np.int64))])
        return g.op("Transpose", [r], perm=perm)

    qh = heads(q, [0, 2, 1, 3])
    qh = g.op("Mul", [qh, g.const(np.array(dk ** -0.5, np.float32))])
    kh = heads(k, [0, 2, 3, 1])
    vh = heads(v, [0, 2, 1, 3])
    scores = g.op("MatMul", [qh, kh], base + "/scores")
    neg_inf = g.const(np.array(-np.inf, np.float32))
    zero = g.const(np.array(0.0, np.float32))
    scores = g.op("Where", [key_mask, neg_inf, scores])
    attn = g.op("Softmax", [scores], axis=-1)
    attn = g.op("Where", [key_mask, zero, attn])
    ctx = g.op("MatMul", [attn, vh], base + "/ctx")
    ctx = g.op("Transpose", [ctx], perm=[0, 2, 1, 3])
    ctx = g.op("Reshape", [ctx, g.const(np.array([0, 0, d], np.int64))])
    att = linear(g, ctx, rand((d, d), d), 0.02 * RNG.standard_normal(d), base + ".self_attn.linear_out")
    att = g.op("Add", [att, fsmn], base + "/att_plus_fsmn")
    x = g.op("Add", [residual, att], base + "/res1") if in_size == d else att
    residual = x
    hx = layer_norm(g, x, d, base + ".norm2")
    f = linear(g, hx, rand((d, dims.ffn), d), 0.02 * RNG.standard_normal(dims.ffn), base + ".feed_forward.w_1")
    f = g.op("Relu", [f])
    f = linear(g, f, rand((dims.ffn, d), dims.ffn), 0.02 * RNG.standard_normal(d), base + ".feed_forward.w_2")
    return g.op("Add", [residual, f], base + "/res2")


def build_model(dims: Dims, flavour: str) -> onnx.ModelProto:
    """flavour: 'sherpa' or 'funasr' (input/output names, log-softmax, extra output)."""
    g = Graph()
    if flavour == "sherpa":
        names = ("x", "x_length", "language", "text_norm")
        opset = 13
    else:
        names = ("speech", "speech_lengths", "language", "textnorm")
        opset = 14
    x, xlen, lang, tn = names
    inputs = [
        helper.make_tensor_value_info(x, TensorProto.FLOAT, ["N", "T", INPUT_SIZE]),
        helper.make_tensor_value_info(xlen, TensorProto.INT32, ["N"]),
        helper.make_tensor_value_info(lang, TensorProto.INT32, ["N"]),
        helper.make_tensor_value_info(tn, TensorProto.INT32, ["N"]),
    ]
    # 4 prepended queries from the 16 x 560 embedding table.
    emb = g.const((RNG.standard_normal((16, INPUT_SIZE)) * 1.0).astype(np.float32), "embed.weight")
    lang_q = g.op("Unsqueeze", [g.op("Gather", [emb, lang], axis=0), g.const(np.array([1], np.int64))])
    tn_q = g.op("Unsqueeze", [g.op("Gather", [emb, tn], axis=0), g.const(np.array([1], np.int64))])
    ev = g.op("Gather", [emb, g.const(np.array([[1, 2]], np.int64))], axis=0)  # [1,2,560]
    n_dim = g.op("Slice", [g.op("Shape", [x]), g.const(np.array([0], np.int64)), g.const(np.array([1], np.int64))])
    ev_shape = g.op("Concat", [n_dim, g.const(np.array([2, INPUT_SIZE], np.int64))], axis=0)
    ev = g.op("Expand", [ev, ev_shape])
    xs = g.op("Concat", [lang_q, ev, tn_q, x], "queries_concat", axis=1)
    lengths = g.op("Add", [xlen, g.const(np.array(4, np.int32))], "lengths_plus4")
    # Padding mask.
    t_all = g.op("Slice", [g.op("Shape", [xs]), g.const(np.array([1], np.int64)), g.const(np.array([2], np.int64))])
    t_scalar = g.op("Squeeze", [t_all, g.const(np.array([0], np.int64))])
    pos = g.op("Range", [g.const(np.array(0, np.int64)), t_scalar, g.const(np.array(1, np.int64))])
    len64 = g.op("Cast", [lengths], to=TensorProto.INT64)
    valid = g.op("Less", [g.op("Unsqueeze", [pos, g.const(np.array([0], np.int64))]),
                          g.op("Unsqueeze", [len64, g.const(np.array([1], np.int64))])])  # [N,T]
    maskf = g.op("Cast", [valid], to=TensorProto.FLOAT)
    mask_btd = g.op("Unsqueeze", [maskf, g.const(np.array([2], np.int64))])  # [N,T,1]
    key_mask = g.op("Not", [g.op("Unsqueeze", [valid, g.const(np.array([1, 2], np.int64))])])  # [N,1,1,T]
    # Scale and sinusoidal position encoding (positions 1..T, depth 560).
    xs = g.op("Mul", [xs, g.const(np.array(math.sqrt(dims.d), np.float32))], "scale_sqrt_d")
    half = INPUT_SIZE // 2
    inc = np.float32(np.log(np.float32(10000.0)) / np.float32(half - 1))
    inv_ts = np.exp(np.arange(half, dtype=np.float32) * -inc).astype(np.float32)
    posf = g.op("Cast", [g.op("Add", [pos, g.const(np.array(1, np.int64))])], to=TensorProto.FLOAT)
    scaled = g.op("Mul", [g.op("Unsqueeze", [posf, g.const(np.array([1], np.int64))]), g.const(inv_ts[None, :])])
    pe = g.op("Concat", [g.op("Sin", [scaled]), g.op("Cos", [scaled])], axis=-1)
    xs = g.op("Add", [xs, pe], "add_pos_enc")
    h = sanm_block(g, xs, INPUT_SIZE, dims, mask_btd, key_mask, "encoder.encoders0.0")
    for i in range(dims.blocks - 1):
        h = sanm_block(g, h, dims.d, dims, mask_btd, key_mask, f"encoder.encoders.{i}")
    h = layer_norm(g, h, dims.d, "encoder.after_norm")
    for i in range(dims.tp_blocks):
        h = sanm_block(g, h, dims.d, dims, mask_btd, key_mask, f"encoder.tp_encoders.{i}")
    h = layer_norm(g, h, dims.d, "encoder.tp_norm")
    # CTC head; the blank bias makes the stand-in emit blanks on roughly half the frames.
    w = rand((dims.d, dims.vocab), dims.d)
    b = (0.05 * RNG.standard_normal(dims.vocab)).astype(np.float32)
    b[0] += 2.5
    logits = linear(g, h, w, b, "ctc.ctc_lo")
    outputs = []
    if flavour == "sherpa":
        g.nodes.append(helper.make_node("Identity", [logits], ["logits"], name="output_logits"))
        outputs.append(helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", "T4", dims.vocab]))
    else:
        g.nodes.append(helper.make_node("LogSoftmax", [logits], ["ctc_logits"], name="output_log_softmax", axis=-1))
        outputs.append(helper.make_tensor_value_info("ctc_logits", TensorProto.FLOAT, ["N", "T4", dims.vocab]))
        olens = g.op("Cast", [g.op("ReduceSum", [maskf], keepdims=0, axes=[1])], to=TensorProto.INT32)
        g.nodes.append(helper.make_node("Identity", [olens], ["encoder_out_lens"], name="output_lens"))
        outputs.append(helper.make_tensor_value_info("encoder_out_lens", TensorProto.INT32, ["N"]))
    graph = helper.make_graph(g.nodes, "sensevoice_small_standin", inputs, outputs, g.inits)
    if opset >= 13:
        # ReduceSum takes axes as an input from opset 13 on; rewrite the attribute form.
        fix_reduce_sum(graph)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="asr-router-standin")
    model.ir_version = 8
    return model


def fix_reduce_sum(graph: onnx.GraphProto) -> None:
    for node in graph.node:
        if node.op_type == "ReduceSum":
            axes = [a for a in node.attribute if a.name == "axes"]
            if axes:
                vals = list(axes[0].ints)
                node.attribute.remove(axes[0])
                nm = node.name + "_axes"
                graph.initializer.append(numpy_helper.from_array(np.array(vals, np.int64), nm))
                node.input.append(nm)


# ----------------------------------------------------------------------------- packaging


def cmvn_stats(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    base_mean = 10.0 + 2.0 * np.sin(np.linspace(0, 3, 80)) + 0.2 * rng.standard_normal(80)
    base_std = 3.0 + 0.5 * rng.random(80)
    neg_mean = -np.tile(base_mean, LFR_M).astype(np.float32)
    inv_std = (1.0 / np.tile(base_std, LFR_M)).astype(np.float32)
    return neg_mean, inv_std


def fmt(v: np.ndarray) -> str:
    return " ".join(f"{float(x):.8g}" for x in v)


def quantize(src: str, dst: str, per_channel: bool, exclude_output: bool) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    nodes_to_exclude = None
    if exclude_output:
        nodes_to_exclude = [n.name for n in onnx.load(src, load_external_data=False).graph.node if "output" in n.name]
    quantize_dynamic(
        model_input=src,
        model_output=dst,
        op_types_to_quantize=["MatMul"],
        per_channel=per_channel,
        reduce_range=False,
        weight_type=QuantType.QUInt8,
        nodes_to_exclude=nodes_to_exclude,
    )


def write_sherpa(out: str, model: onnx.ModelProto, pieces, neg_mean, inv_std, int8: bool) -> None:
    os.makedirs(out, exist_ok=True)
    meta = {
        "lfr_window_size": LFR_M,
        "lfr_window_shift": LFR_N,
        "normalize_samples": 0,
        "neg_mean": ",".join(f"{float(x):.8g}" for x in neg_mean),
        "inv_stddev": ",".join(f"{float(x):.8g}" for x in inv_std),
        "model_type": "sense_voice_ctc",
        "version": "2",
        "model_author": "asr-router (random-weight stand-in)",
        "maintainer": "asr-router",
        "vocab_size": VOCAB_SIZE,
        "comment": "random-weight SenseVoice-Small stand-in; NOT a speech recognizer",
        "lang_auto": LID["auto"],
        "lang_zh": LID["zh"],
        "lang_en": LID["en"],
        "lang_yue": LID["yue"],
        "lang_ja": LID["ja"],
        "lang_ko": LID["ko"],
        "lang_nospeech": LID["nospeech"],
        "with_itn": TEXTNORM["withitn"],
        "without_itn": TEXTNORM["woitn"],
    }
    del model.metadata_props[:]
    for k, v in meta.items():
        p = model.metadata_props.add()
        p.key, p.value = k, str(v)
    path = os.path.join(out, "model.onnx")
    onnx.save(model, path)
    with open(os.path.join(out, "tokens.txt"), "w", encoding="utf-8") as f:
        for i, p in enumerate(pieces):
            f.write(f"{p} {i}\n")
    if int8:
        quantize(path, os.path.join(out, "model.int8.onnx"), per_channel=False, exclude_output=False)
        q = onnx.load(os.path.join(out, "model.int8.onnx"))
        del q.metadata_props[:]
        for k, v in meta.items():
            p = q.metadata_props.add()
            p.key, p.value = k, str(v)
        onnx.save(q, os.path.join(out, "model.int8.onnx"))


def write_funasr(out: str, model: onnx.ModelProto, pieces, neg_mean, inv_std, dims: Dims, int8: bool) -> None:
    os.makedirs(out, exist_ok=True)
    del model.metadata_props[:]
    path = os.path.join(out, "model.onnx")
    onnx.save(model, path)
    with open(os.path.join(out, "am.mvn"), "w", encoding="utf-8") as f:
        f.write("<Nnet>\n<Splice> 560 560\n[ 0 ]\n")
        f.write(f"<AddShift> 560 560\n<LearnRateCoef> 0 [ {fmt(neg_mean)} ]\n")
        f.write(f"<Rescale> 560 560\n<LearnRateCoef> 0 [ {fmt(inv_std)} ]\n</Nnet>\n")
    with open(os.path.join(out, "config.yaml"), "w", encoding="utf-8") as f:
        f.write(
            "# random-weight SenseVoice-Small stand-in (asr-router tools/make-sensevoice-standin.py)\n"
            "model: SenseVoiceSmall\n"
            "encoder: SenseVoiceEncoderSmall\n"
            "encoder_conf:\n"
            f"    output_size: {dims.d}\n    attention_heads: {dims.heads}\n    linear_units: {dims.ffn}\n"
            f"    num_blocks: {dims.blocks}\n    tp_blocks: {dims.tp_blocks}\n    kernel_size: {dims.kernel}\n"
            "    sanm_shfit: 0\n    normalize_before: true\n    input_layer: pe\n"
            "frontend: WavFrontend\n"
            "frontend_conf:\n"
            "    fs: 16000\n    window: hamming\n    n_mels: 80\n    frame_length: 25\n    frame_shift: 10\n"
            f"    lfr_m: {LFR_M}\n    lfr_n: {LFR_N}\n    dither: 0.0\n"
        )
    with open(os.path.join(out, "tokens.json"), "w", encoding="utf-8") as f:
        json.dump(pieces, f, ensure_ascii=False)
    write_sentencepiece_model(pieces, os.path.join(out, "chn_jpn_yue_eng_ko_spectok.bpe.model"))
    if int8:
        quantize(path, os.path.join(out, "model_quant.onnx"), per_channel=True, exclude_output=True)


RNG = np.random.default_rng(0)


def main() -> int:
    global RNG
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output directory (gets sherpa/ and funasr/)")
    ap.add_argument("--tiny", action="store_true", help="2 encoder blocks + 1 tp block, d=32 (tests)")
    ap.add_argument("--seed", type=int, default=20240717)
    ap.add_argument("--no-int8", action="store_true", help="skip the dynamically quantised models")
    args = ap.parse_args()
    dims = Dims(args.tiny)
    vocab_rng = np.random.default_rng(args.seed + 1)
    pieces = make_pieces(vocab_rng)
    assert len(pieces) == VOCAB_SIZE and len(set(pieces)) == VOCAB_SIZE
    neg_mean, inv_std = cmvn_stats(np.random.default_rng(args.seed + 2))
    # Same weights in both packagings: rebuild with the same seed.
    RNG = np.random.default_rng(args.seed)
    sherpa_model = build_model(dims, "sherpa")
    write_sherpa(os.path.join(args.out, "sherpa"), sherpa_model, pieces, neg_mean, inv_std, not args.no_int8)
    del sherpa_model
    RNG = np.random.default_rng(args.seed)
    funasr_model = build_model(dims, "funasr")
    write_funasr(os.path.join(args.out, "funasr"), funasr_model, pieces, neg_mean, inv_std, dims, not args.no_int8)
    print(f"wrote {args.out}/sherpa and {args.out}/funasr ({'tiny' if args.tiny else 'full-size'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
