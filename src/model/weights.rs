//! Model weights in one canonical, architecture-neutral layout. Matrices are [`Matrix`]es, kept in
//! their file's storage type ([`WeightStorage::Resident`]) or expanded to f32 at load
//! ([`WeightStorage::F32`]); norms and biases are always f32 (they are tiny). Names mirror the checkpoint:
//! `blocks[i].q` is `model.layers.{i}.self_attn.q_proj` (Llama) or the first third of
//! `transformer.h.{i}.attn.c_attn` (GPT-2).
//!
//! Conventions every backend relies on:
//! - `Linear::weight` is `[out_features, in_features]` row-major (PyTorch `nn.Linear` layout);
//!   GPT-2's Conv1D `[in, out]` weights are transposed at load.
//! - Q and K rows are in Hugging Face order (rotate-half RoPE: dimension j pairs with j + head_dim/2);
//!   GGUF's interleaved permutation is undone at load (a permutation of whole rows, done on the
//!   stored rows without converting them).

pub use super::matrix::Matrix;

/// How a loader keeps the weight matrices in memory (`--weights`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightStorage {
    /// In the file's storage type, borrowed from the mapped file where possible; backends
    /// dequantize rows right before they use them. Memory tracks the file. The default: the same
    /// numbers as [`WeightStorage::F32`] in a fraction of the memory and load time, and as fast
    /// (docs/performance.md).
    #[default]
    Resident,
    /// Expanded to f32 at load: 4 bytes per weight, the reference path.
    F32,
}

impl WeightStorage {
    /// The names `--weights` takes.
    pub const NAMES: [&'static str; 2] = ["resident", "f32"];

    /// `resident` or `f32`, as `--weights` spells it.
    pub fn name(self) -> &'static str {
        match self {
            WeightStorage::Resident => "resident",
            WeightStorage::F32 => "f32",
        }
    }
}

impl std::fmt::Display for WeightStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for WeightStorage {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "resident" => Ok(WeightStorage::Resident),
            "f32" => Ok(WeightStorage::F32),
            _ => Err(format!("unknown weight storage `{s}` (resident, f32)")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Linear {
    /// `[out_features, in_features]`, row-major.
    pub weight: Matrix,
    /// `[out_features]`.
    pub bias: Option<Vec<f32>>,
    pub in_features: usize,
    pub out_features: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormKind {
    /// y = (x − mean) / sqrt(var + eps) · weight + bias
    LayerNorm,
    /// y = x / sqrt(mean(x²) + eps) · weight
    RmsNorm,
}

#[derive(Debug, Clone)]
pub struct Norm {
    pub kind: NormKind,
    /// `[hidden]`.
    pub weight: Vec<f32>,
    /// `[hidden]`; LayerNorm only.
    pub bias: Option<Vec<f32>>,
    pub eps: f32,
}

#[derive(Debug, Clone)]
pub enum Mlp {
    /// GPT-2: proj(gelu_new(fc(x))).
    Gelu { fc: Linear, proj: Linear },
    /// GPT-NeoX: proj(gelu(fc(x))), the exact (erf) GELU.
    GeluErf { fc: Linear, proj: Linear },
    /// Llama/Qwen2/Qwen3: down(silu(gate(x)) · up(x)).
    SwiGlu { gate: Linear, up: Linear, down: Linear },
    /// Gemma: down(gelu_tanh(gate(x)) · up(x)).
    GeGlu { gate: Linear, up: Linear, down: Linear },
}

#[derive(Debug, Clone)]
pub struct Block {
    pub attn_norm: Norm,
    /// `[num_heads·head_dim, hidden]`
    pub q: Linear,
    /// `[num_kv_heads·head_dim, hidden]`
    pub k: Linear,
    /// `[num_kv_heads·head_dim, hidden]`
    pub v: Linear,
    /// `[hidden, num_heads·head_dim]`
    pub o: Linear,
    pub mlp_norm: Norm,
    pub mlp: Mlp,
    /// `[head_dim]` RMSNorms over each head of q and k, before RoPE (Qwen3, Gemma 3).
    pub qk_norm: Option<[Norm; 2]>,
    /// Norms of the attention and MLP outputs before their residual adds (Gemma).
    pub post_norms: Option<[Norm; 2]>,
}

#[derive(Debug, Clone)]
pub struct Weights {
    /// `[vocab, hidden]`, row-major.
    pub token_embedding: Matrix,
    /// GPT-2 only: `[context_length, hidden]`.
    pub position_embedding: Option<Matrix>,
    pub blocks: Vec<Block>,
    pub final_norm: Norm,
    /// `None` when tied to `token_embedding`.
    pub lm_head: Option<Linear>,
}

impl Weights {
    /// The `[vocab, hidden]` output projection (the embedding when tied).
    pub fn lm_head_weight(&self) -> &Matrix {
        match &self.lm_head {
            Some(l) => &l.weight,
            None => &self.token_embedding,
        }
    }

    /// Every weight matrix, each once (a tied lm-head is the embedding), with a name for reports.
    pub fn matrices(&self) -> Vec<(String, &Matrix)> {
        let mut out = vec![("token_embedding".to_string(), &self.token_embedding)];
        if let Some(p) = &self.position_embedding {
            out.push(("position_embedding".to_string(), p));
        }
        for (i, b) in self.blocks.iter().enumerate() {
            let mut linears: Vec<(&str, &Linear)> = vec![("q", &b.q), ("k", &b.k), ("v", &b.v), ("o", &b.o)];
            match &b.mlp {
                Mlp::Gelu { fc, proj } | Mlp::GeluErf { fc, proj } => linears.extend([("fc", fc), ("proj", proj)]),
                Mlp::SwiGlu { gate, up, down } | Mlp::GeGlu { gate, up, down } => {
                    linears.extend([("gate", gate), ("up", up), ("down", down)])
                }
            }
            out.extend(linears.into_iter().map(|(name, l)| (format!("blocks.{i}.{name}"), &l.weight)));
        }
        if let Some(l) = &self.lm_head {
            out.push(("lm_head".to_string(), &l.weight));
        }
        out
    }

    /// Every f32 vector (norm weights and biases, LayerNorm biases).
    pub fn vectors(&self) -> Vec<&[f32]> {
        fn norm<'a>(n: &'a Norm, out: &mut Vec<&'a [f32]>) {
            out.push(&n.weight);
            out.extend(n.bias.as_deref());
        }
        let mut out: Vec<&[f32]> = Vec::new();
        for b in &self.blocks {
            norm(&b.attn_norm, &mut out);
            norm(&b.mlp_norm, &mut out);
            for n in b.qk_norm.iter().chain(&b.post_norms).flatten() {
                norm(n, &mut out);
            }
        }
        norm(&self.final_norm, &mut out);
        out.extend(self.linears().into_iter().filter_map(|l| l.bias.as_deref()));
        out
    }

    /// Every projection (q, k, v, o, the MLP's, an untied lm-head).
    pub fn linears(&self) -> Vec<&Linear> {
        let mut out = Vec::new();
        for b in &self.blocks {
            out.extend([&b.q, &b.k, &b.v, &b.o]);
            match &b.mlp {
                Mlp::Gelu { fc, proj } | Mlp::GeluErf { fc, proj } => out.extend([fc, proj]),
                Mlp::SwiGlu { gate, up, down } | Mlp::GeGlu { gate, up, down } => out.extend([gate, up, down]),
            }
        }
        out.extend(self.lm_head.as_ref());
        out
    }

    /// Optional `[vocab]` output bias (no supported architecture has one today).
    pub fn lm_head_bias(&self) -> Option<&[f32]> {
        self.lm_head.as_ref().and_then(|l| l.bias.as_deref())
    }
}
