//! The CTC head's best token per frame, picked inside the model.
//!
//! SenseVoice's CTC head scores 25 055 tokens per frame. Greedy decoding needs only the best one,
//! but the model's output is every score: on a GPU a batch of 16 partial windows (29 frames each)
//! sends 46 MB back to the host, which the worker then scans on the CPU while the GPU waits.
//! [`append_argmax`] rewrites the ONNX model before loading so that the graph ends in an
//! `ArgMax` over the vocabulary: the output [`TOKEN_IDS`] is `[N, T]` int64 (30 KB for that batch)
//! and the scores stay on the device as an inner tensor.
//!
//! Invariants:
//! - The rewrite only appends: one `ArgMax` node and one graph output; the scores output is
//!   taken off the graph's outputs (ONNX Runtime then need not copy it out). Every other byte of
//!   the model (weights, metadata, other outputs such as FunASR's lengths) is kept as it was.
//! - `ArgMax` with `select_last_index = 0` returns the first best index, the same tie rule as
//!   [`crate::kernels::ctc::argmax`], so token ids match the host path (checked against both
//!   reference pipelines in `tests/sensevoice_parity.rs`).
//!
//! ONNX files are protocol buffers; the few fields touched here are read and written by hand
//! (field numbers from `onnx.proto`: ModelProto.graph = 7; GraphProto.node = 1, .output = 12;
//! NodeProto.input = 1, .output = 2, .name = 3, .op_type = 4, .attribute = 5;
//! AttributeProto.name = 1, .i = 3, .type = 20 (INT = 2); ValueInfoProto.name = 1, .type = 2;
//! TypeProto.tensor_type = 1; TypeProto.Tensor.elem_type = 1 (INT64 = 7)).

/// Name of the added output: the best token id per frame, `[N, T]` int64.
pub const TOKEN_IDS: &str = "asr_router_token_ids";

const MODEL_GRAPH: u64 = 7;
const GRAPH_NODE: u64 = 1;
const GRAPH_OUTPUT: u64 = 12;
const LEN: u64 = 2;
const VARINT: u64 = 0;

/// `model` (a serialized ONNX ModelProto) with an `ArgMax` over the last axis of the output
/// `scores` appended, exposed as [`TOKEN_IDS`] in place of `scores`. Errors name what was not
/// found (a model without that output, or bytes that are not a model).
pub fn append_argmax(model: &[u8], scores: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(model.len() + 256);
    let mut found_graph = false;
    for field in Fields::new(model) {
        let field = field?;
        if field.number == MODEL_GRAPH && field.wire == LEN {
            if found_graph {
                return Err("the model has two graphs".into());
            }
            found_graph = true;
            let graph = rewrite_graph(field.body, scores)?;
            put_len_field(&mut out, MODEL_GRAPH, &graph);
        } else {
            out.extend_from_slice(field.raw);
        }
    }
    if !found_graph {
        return Err("not an ONNX model (no graph)".into());
    }
    Ok(out)
}

fn rewrite_graph(graph: &[u8], scores: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(graph.len() + 256);
    let mut removed = false;
    for field in Fields::new(graph) {
        let field = field?;
        if field.number == GRAPH_OUTPUT && field.wire == LEN && value_info_name(field.body)? == Some(scores) {
            removed = true;
            continue;
        }
        out.extend_from_slice(field.raw);
    }
    if !removed {
        return Err(format!("the graph has no output {scores:?}"));
    }
    put_len_field(&mut out, GRAPH_NODE, &argmax_node(scores));
    put_len_field(&mut out, GRAPH_OUTPUT, &int64_output(TOKEN_IDS));
    Ok(out)
}

fn value_info_name(info: &[u8]) -> Result<Option<&str>, String> {
    for field in Fields::new(info) {
        let field = field?;
        if field.number == 1 && field.wire == LEN {
            return Ok(std::str::from_utf8(field.body).ok());
        }
    }
    Ok(None)
}

fn argmax_node(scores: &str) -> Vec<u8> {
    let int_attribute = |name: &str, value: u64| {
        let mut a = Vec::new();
        put_len_field(&mut a, 1, name.as_bytes());
        put_varint_field(&mut a, 3, value);
        put_varint_field(&mut a, 20, 2); // AttributeProto.INT
        a
    };
    let mut node = Vec::new();
    put_len_field(&mut node, 1, scores.as_bytes());
    put_len_field(&mut node, 2, TOKEN_IDS.as_bytes());
    put_len_field(&mut node, 3, b"asr_router_argmax");
    put_len_field(&mut node, 4, b"ArgMax");
    // axis 2 ([N, T, V]); a positive axis is valid in every opset that has ArgMax
    put_len_field(&mut node, 5, &int_attribute("axis", 2));
    put_len_field(&mut node, 5, &int_attribute("keepdims", 0));
    node
}

fn int64_output(name: &str) -> Vec<u8> {
    let mut tensor = Vec::new();
    put_varint_field(&mut tensor, 1, 7); // TensorProto.INT64
    let mut ty = Vec::new();
    put_len_field(&mut ty, 1, &tensor);
    let mut info = Vec::new();
    put_len_field(&mut info, 1, name.as_bytes());
    put_len_field(&mut info, 2, &ty);
    info
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_varint_field(out: &mut Vec<u8>, number: u64, value: u64) {
    put_varint(out, number << 3 | VARINT);
    put_varint(out, value);
}

fn put_len_field(out: &mut Vec<u8>, number: u64, body: &[u8]) {
    put_varint(out, number << 3 | LEN);
    put_varint(out, body.len() as u64);
    out.extend_from_slice(body);
}

/// One field of a protobuf message: its number, wire type, payload (for length-delimited
/// fields) and all its bytes, tag included.
struct Field<'a> {
    number: u64,
    wire: u64,
    body: &'a [u8],
    raw: &'a [u8],
}

/// The top-level fields of one message, in order.
struct Fields<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.data.get(self.pos).ok_or("truncated protobuf varint")?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("protobuf varint longer than 10 bytes".into())
    }

    fn next_field(&mut self) -> Result<Field<'a>, String> {
        let start = self.pos;
        let tag = self.varint()?;
        let (number, wire) = (tag >> 3, tag & 7);
        let body_start;
        match wire {
            0 => {
                self.varint()?;
                body_start = self.pos;
            }
            1 | 5 => {
                body_start = self.pos;
                self.pos += if wire == 1 { 8 } else { 4 };
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| "protobuf length overflows")?;
                body_start = self.pos;
                self.pos = self.pos.checked_add(len).ok_or("protobuf length overflows")?;
            }
            w => return Err(format!("protobuf wire type {w} is not used by ONNX")),
        }
        if self.pos > self.data.len() {
            return Err("truncated protobuf field".into());
        }
        let body = if wire == 2 {
            &self.data[body_start..self.pos]
        } else {
            &[][..]
        };
        Ok(Field {
            number,
            wire,
            body,
            raw: &self.data[start..self.pos],
        })
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Field<'a>, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.data.len() {
            return None;
        }
        let field = self.next_field();
        if field.is_err() {
            self.pos = self.data.len();
        }
        Some(field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(message: &[u8], number: u64) -> Vec<Vec<u8>> {
        Fields::new(message)
            .map(Result::unwrap)
            .filter(|f| f.number == number)
            .map(|f| f.body.to_vec())
            .collect()
    }

    /// A model whose graph has one node, outputs `logits` and `lengths`, and a field after them.
    fn model() -> Vec<u8> {
        let mut graph = Vec::new();
        put_len_field(&mut graph, GRAPH_NODE, b"\x0a\x01x");
        put_len_field(&mut graph, GRAPH_OUTPUT, &int64_output("logits"));
        put_len_field(&mut graph, GRAPH_OUTPUT, &int64_output("lengths"));
        put_len_field(&mut graph, 2, b"main");
        let mut m = Vec::new();
        put_varint_field(&mut m, 1, 8); // ir_version
        put_len_field(&mut m, MODEL_GRAPH, &graph);
        put_len_field(&mut m, 14, b"metadata stays");
        m
    }

    #[test]
    fn the_scores_output_becomes_an_argmax_and_everything_else_stays() {
        let rewritten = append_argmax(&model(), "logits").unwrap();
        let graphs = names(&rewritten, MODEL_GRAPH);
        assert_eq!(graphs.len(), 1);
        let graph = &graphs[0];
        let outputs: Vec<Option<String>> = names(graph, GRAPH_OUTPUT)
            .iter()
            .map(|o| value_info_name(o).unwrap().map(str::to_string))
            .collect();
        assert_eq!(outputs, vec![Some("lengths".to_string()), Some(TOKEN_IDS.to_string())]);
        let nodes = names(graph, GRAPH_NODE);
        assert_eq!(nodes.len(), 2);
        assert_eq!(nodes[0], b"\x0a\x01x");
        assert_eq!(names(&nodes[1], 4), vec![b"ArgMax".to_vec()]);
        assert_eq!(names(&nodes[1], 1), vec![b"logits".to_vec()]);
        assert_eq!(names(&nodes[1], 2), vec![TOKEN_IDS.as_bytes().to_vec()]);
        assert_eq!(names(graph, 2), vec![b"main".to_vec()]);
        assert_eq!(names(&rewritten, 14), vec![b"metadata stays".to_vec()]);
    }

    #[test]
    fn a_model_without_that_output_or_without_a_graph_is_refused() {
        let e = append_argmax(&model(), "ctc_logits").unwrap_err();
        assert!(e.contains("no output \"ctc_logits\""), "{e}");
        let e = append_argmax(b"\x08\x08", "logits").unwrap_err();
        assert!(e.contains("no graph"), "{e}");
        let e = append_argmax(b"\x3a\x7f\x00", "logits").unwrap_err();
        assert!(e.contains("truncated"), "{e}");
    }
}
