//! One `ModelConfig` for every supported architecture, filled from `config.json` or GGUF metadata.

use serde::Serialize;

/// A supported architecture (one mapping in `model/arch/` and one forward variant each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// GPT2LMHeadModel: LayerNorm, learned positions, gelu_new MLP, tied lm_head.
    Gpt2,
    /// LlamaForCausalLM / MistralForCausalLM / GGUF `llama`: RMSNorm, RoPE, GQA, SwiGLU (Mistral: a
    /// sliding window on every layer where configured).
    Llama,
    /// Qwen2ForCausalLM / GGUF `qwen2`: Llama plus q/k/v biases.
    Qwen2,
    /// Qwen3ForCausalLM / GGUF `qwen3`: Llama plus an RMSNorm over each head of q and k before RoPE.
    Qwen3,
    /// GemmaForCausalLM / GGUF `gemma`: Llama's block with RMSNorm (1 + w), embeddings × √hidden and a
    /// GELU-tanh gated MLP.
    Gemma,
    /// Gemma2ForCausalLM / GGUF `gemma2`: RMSNorm (1 + w) before and after attention and MLP,
    /// embeddings × √hidden, GELU-tanh gated MLP, sliding-window layers alternating with global ones,
    /// tanh soft-capping of the attention scores and of the final logits.
    Gemma2,
    /// Gemma3ForCausalLM (text) / GGUF `gemma3`: RMSNorm (1 + w), embeddings × √hidden, GELU-tanh
    /// gated MLP, q/k norms, norms before and after attention and MLP, local sliding-window layers
    /// with their own RoPE base between global ones, queries scaled by 1/√query_pre_attn_scalar.
    Gemma3,
    /// GPTNeoXForCausalLM (Pythia) / GGUF `gptneox`: LayerNorm with bias, fused q/k/v, RoPE on the
    /// first dims of each head only (`rotary_pct`), exact (erf) GELU MLP, biases everywhere,
    /// attention and MLP side by side on the same input (`use_parallel_residual`), untied lm-head.
    GptNeox,
    /// Phi3ForCausalLM / GGUF `phi3`: Llama's block with q/k/v fused in one `qkv_proj` and gate/up in
    /// one `gate_up_proj` (split at load), optional sliding window on every layer and partial rotary.
    Phi3,
}

impl Architecture {
    /// The architectures densi runs, for error messages.
    pub const SUPPORTED: &'static str = "GPT2LMHeadModel (gpt2), LlamaForCausalLM (llama), MistralForCausalLM (mistral), Qwen2ForCausalLM (qwen2), \
         Qwen3ForCausalLM (qwen3), GemmaForCausalLM (gemma), Gemma2ForCausalLM (gemma2), Gemma3ForCausalLM (gemma3_text), \
         GPTNeoXForCausalLM (gpt_neox), Phi3ForCausalLM (phi3)";

    /// Short name (`gpt2`, `llama`, `qwen2`, `qwen3`, `gemma`, `gemma2`, `gemma3`, `gptneox`, `phi3`).
    pub fn name(self) -> &'static str {
        match self {
            Architecture::Gpt2 => "gpt2",
            Architecture::Llama => "llama",
            Architecture::Qwen2 => "qwen2",
            Architecture::Qwen3 => "qwen3",
            Architecture::Gemma => "gemma",
            Architecture::Gemma2 => "gemma2",
            Architecture::Gemma3 => "gemma3",
            Architecture::GptNeox => "gptneox",
            Architecture::Phi3 => "phi3",
        }
    }

    /// Whether q and k get an RMSNorm over each head (weights `[head_dim]`) before RoPE.
    pub fn qk_norm(self) -> bool {
        matches!(self, Architecture::Qwen3 | Architecture::Gemma3)
    }

    /// Whether the attention and MLP outputs are normed again before the residual add (Gemma's
    /// "sandwich" norms: four per layer).
    pub fn post_norms(self) -> bool {
        matches!(self, Architecture::Gemma2 | Architecture::Gemma3)
    }

    /// Gemma 1, 2 or 3: norms x̂ · (1 + w), embeddings × √hidden, GeGLU.
    pub fn is_gemma(self) -> bool {
        matches!(self, Architecture::Gemma | Architecture::Gemma2 | Architecture::Gemma3)
    }

    /// The norm, as a user reads it in `densi info`.
    pub fn norm_description(self) -> &'static str {
        match self {
            Architecture::Gpt2 | Architecture::GptNeox => "LayerNorm (with bias)",
            Architecture::Llama | Architecture::Qwen2 | Architecture::Qwen3 | Architecture::Phi3 => "RMSNorm (x · w)",
            Architecture::Gemma => "RMSNorm (x · (1 + w))",
            Architecture::Gemma2 | Architecture::Gemma3 => "RMSNorm (x · (1 + w)), before and after attention and MLP",
        }
    }

    /// The MLP's activation, as a user reads it in `densi info`.
    pub fn activation_description(self) -> &'static str {
        match self {
            Architecture::Gpt2 => "gelu_new (tanh GELU), ungated",
            Architecture::Llama | Architecture::Qwen2 | Architecture::Qwen3 | Architecture::Phi3 => {
                "SwiGLU: silu(gate) · up"
            }
            Architecture::Gemma | Architecture::Gemma2 | Architecture::Gemma3 => "GeGLU: gelu_tanh(gate) · up",
            Architecture::GptNeox => "GELU (exact, erf), ungated",
        }
    }
}

/// How attention differs from one global causal softmax(q·kᵀ/√head_dim) per layer. The default is
/// exactly that (GPT-2, Llama, Qwen2, Qwen3).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AttentionConfig {
    /// Keys a local layer's query sees: the last `sliding_window` positions, its own included
    /// (key j is seen from query i when i − window < j ≤ i, as transformers' mask and llama.cpp's
    /// standard SWA). `None`: every layer is global.
    pub sliding_window: Option<usize>,
    /// Per layer: true for a local (sliding-window) layer. Empty: every layer is global.
    pub local_layers: Vec<bool>,
    /// RoPE base of the local layers (Gemma 3's `rope_local_base_freq`); the global layers use
    /// `rope_theta`.
    pub rope_local_theta: Option<f32>,
    /// How the global layers' RoPE frequencies are scaled for a longer context (`rope_type` linear,
    /// llama3, yarn, longrope; GGUF `rope.scaling.*` and the rope factor tensors). Local layers
    /// (with [`AttentionConfig::rope_local_theta`]) are never scaled, as transformers' and
    /// llama.cpp's Gemma 3.
    pub rope_scaling: RopeScaling,
    /// Scores are q·k / √query_pre_attn_scalar instead of / √head_dim (Gemma).
    pub query_pre_attn_scalar: Option<f32>,
    /// Scores s become c · tanh(s / c) before the softmax (Gemma 2's `attn_logit_softcapping`).
    pub score_softcap: Option<f32>,
    /// Final logits z become c · tanh(z / c) (Gemma 2's `final_logit_softcapping`).
    pub logit_softcap: Option<f32>,
    /// RoPE rotates the first `rope_dims` dimensions of each head only (rotate-half within them;
    /// GPT-NeoX's `rotary_pct`, GGUF `rope.dimension_count`); `None`: all of them.
    pub rope_dims: Option<usize>,
    /// x + attn(n₁(x)) + mlp(n₂(x)): the MLP reads the block's input, not the attention's output
    /// (GPT-NeoX's `use_parallel_residual`).
    pub parallel_residual: bool,
}

/// One layer's attention: its key window, RoPE base and score scale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LayerAttention {
    /// `Some(w)`: keys within the last `w` positions only (see [`AttentionConfig::sliding_window`]).
    pub window: Option<usize>,
    /// RoPE base.
    pub rope_theta: f32,
    /// Factor on q·k before the softmax.
    pub scale: f32,
    /// Soft-capping of the scaled scores, c · tanh(s / c).
    pub softcap: Option<f32>,
}

/// How a model scales RoPE's frequencies to reach past its pretraining context: transformers'
/// `rope_type` (`modeling_rope_utils.py`, `_compute_*_parameters`), read from config.json's
/// `rope_parameters` / `rope_scaling` or from GGUF's `{arch}.rope.scaling.*` keys and rope factor
/// tensors. [`RopeScaling::frequencies`] turns it into per-pair inverse frequencies.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum RopeScaling {
    /// θ^(−2i/d): no scaling.
    #[default]
    None,
    /// Every frequency ÷ `factor` (positions interpolated by `factor`).
    Linear {
        /// Interpolation factor.
        factor: f64,
    },
    /// Llama 3.1/3.2: long wavelengths (> original / low_freq_factor) ÷ `factor`, short ones
    /// (< original / high_freq_factor) kept, a smooth blend between.
    Llama3 {
        /// Divisor of the low frequencies.
        factor: f64,
        /// Sets the long-wavelength bound, original / low_freq_factor.
        low_freq_factor: f64,
        /// Sets the short-wavelength bound, original / high_freq_factor.
        high_freq_factor: f64,
        /// `original_max_position_embeddings`.
        original_context: usize,
    },
    /// YaRN (Qwen2.5/Qwen3 long-context configs): a ramp between interpolated (÷ `factor`) and
    /// original frequencies over the dims set by `beta_fast` / `beta_slow`; cos and sin × the
    /// attention factor.
    Yarn {
        /// Interpolation factor.
        factor: f64,
        /// `original_max_position_embeddings`.
        original_context: usize,
        /// Rotations that bound the extrapolated (unscaled) dims.
        beta_fast: f64,
        /// Rotations that bound the interpolated dims.
        beta_slow: f64,
        /// Whether the ramp's bounds are rounded outwards to whole dims (transformers' default).
        truncate: bool,
        /// The factor on cos and sin (`attention_factor`, else 0.1 · ln(factor) + 1, YaRN's mscale).
        attention_factor: f64,
    },
    /// LongRoPE (`longrope`, formerly `su`; Phi-3's 128k models): each pair's frequency ÷ its own
    /// factor, `short_factor` when the whole forward is at most `original_context` positions long
    /// and `long_factor` beyond (transformers picks the set by the length of the forward, one set
    /// for every position), cos and sin × the attention factor.
    LongRope {
        /// Per-pair divisors for forwards of at most `original_context` positions.
        short_factor: Vec<f64>,
        /// Per-pair divisors for longer forwards.
        long_factor: Vec<f64>,
        /// `original_max_position_embeddings`.
        original_context: usize,
        /// The factor on cos and sin (`attention_factor`, else √(1 + ln(s) / ln(original)) with
        /// s = `factor` or context / original, 1 when s ≤ 1).
        attention_factor: f64,
    },
    /// Per-pair divisors of the frequencies stored in the file: GGUF's `rope_freqs.weight`, which
    /// llama.cpp's converter computes from a `llama3` scaling (same formula, rounded to f32).
    Factors {
        /// One divisor per rotary pair.
        factors: Vec<f64>,
    },
}

/// The rotary frequencies of one table: angle(p, i) = p · `inv_freq[i]`; cos and sin ×
/// `attention_factor` (transformers' `attention_scaling`).
#[derive(Debug, Clone, PartialEq)]
pub struct RopeFrequencies {
    /// One inverse frequency per rotated pair (rotary dims / 2).
    pub inv_freq: Vec<f64>,
    /// The factor on cos and sin (1 without YaRN / LongRoPE).
    pub attention_factor: f64,
}

impl RopeScaling {
    /// The frequencies for base `theta` over `dims` rotary dims, for a forward of `seq_len`
    /// positions (only LongRoPE depends on it: see [`RopeScaling::LongRope`]). Computed in f64;
    /// transformers computes them in f32, which differs by < 1e-6 relative.
    pub fn frequencies(&self, theta: f32, dims: usize, seq_len: usize) -> RopeFrequencies {
        let base = theta as f64;
        let plain: Vec<f64> = (0..dims / 2).map(|i| base.powf(-(2.0 * i as f64) / dims as f64)).collect();
        let divided = |f: &[f64]| plain.iter().zip(f).map(|(x, f)| x / f).collect::<Vec<f64>>();
        let (inv_freq, attention_factor) = match self {
            RopeScaling::None => (plain.clone(), 1.0),
            RopeScaling::Linear { factor } => (plain.iter().map(|x| x / factor).collect(), 1.0),
            RopeScaling::Llama3 { factor, low_freq_factor, high_freq_factor, original_context } => {
                let old = *original_context as f64;
                let (low_wavelen, high_wavelen) = (old / low_freq_factor, old / high_freq_factor);
                let inv = plain
                    .iter()
                    .map(|&x| {
                        let wavelen = 2.0 * std::f64::consts::PI / x;
                        if wavelen < high_wavelen {
                            x
                        } else if wavelen > low_wavelen {
                            x / factor
                        } else {
                            let smooth = (old / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
                            (1.0 - smooth) * x / factor + smooth * x
                        }
                    })
                    .collect();
                (inv, 1.0)
            }
            RopeScaling::Yarn { factor, original_context, beta_fast, beta_slow, truncate, attention_factor } => {
                let d = dims as f64;
                let correction_dim = |rotations: f64| {
                    d * (*original_context as f64 / (rotations * 2.0 * std::f64::consts::PI)).ln() / (2.0 * base.ln())
                };
                let (mut low, mut high) = (correction_dim(*beta_fast), correction_dim(*beta_slow));
                if *truncate {
                    (low, high) = (low.floor(), high.ceil());
                }
                let (low, mut high) = (low.max(0.0), high.min(d - 1.0));
                if low == high {
                    high += 0.001; // transformers: prevents a division by zero
                }
                let inv = plain
                    .iter()
                    .enumerate()
                    .map(|(i, &x)| {
                        // extrapolation weight: 1 for the fast (short-wavelength) dims, 0 for the slow ones
                        let extrapolate = 1.0 - ((i as f64 - low) / (high - low)).clamp(0.0, 1.0);
                        x / factor * (1.0 - extrapolate) + x * extrapolate
                    })
                    .collect();
                (inv, *attention_factor)
            }
            RopeScaling::LongRope { short_factor, long_factor, original_context, attention_factor } => {
                let f = if seq_len > *original_context { long_factor } else { short_factor };
                (divided(f), *attention_factor)
            }
            RopeScaling::Factors { factors } => (divided(factors), 1.0),
        };
        RopeFrequencies { inv_freq, attention_factor }
    }

    /// Whether a forward of `seq_len` positions uses LongRoPE's long factors: the frequencies of
    /// every position change when a window crosses `original_context`, so cached keys from the
    /// other side of it cannot be reused.
    pub fn uses_long_factors(&self, seq_len: usize) -> bool {
        matches!(self, RopeScaling::LongRope { original_context, .. } if seq_len > *original_context)
    }

    /// Checks the values a hostile file could get wrong, for `dims` rotary dims; the error names
    /// the field (config.json's name).
    pub fn validate(&self, dims: usize) -> std::result::Result<(), String> {
        let positive = |what: &str, x: f64| {
            if x.is_finite() && x > 0.0 {
                Ok(())
            } else {
                Err(format!("rope scaling `{what}` = {x} is not a positive number"))
            }
        };
        let context = |n: usize| {
            if n == 0 { Err("rope scaling `original_max_position_embeddings` is 0".to_string()) } else { Ok(()) }
        };
        let pairs = |what: &str, f: &[f64]| {
            if f.len() != dims / 2 {
                return Err(format!(
                    "rope scaling `{what}` has {} values; the {dims} rotary dims need {} (one per pair)",
                    f.len(),
                    dims / 2
                ));
            }
            f.iter().try_for_each(|&x| positive(what, x))
        };
        match self {
            RopeScaling::None => Ok(()),
            RopeScaling::Linear { factor } => positive("factor", *factor),
            RopeScaling::Llama3 { factor, low_freq_factor, high_freq_factor, original_context } => {
                positive("factor", *factor)?;
                positive("low_freq_factor", *low_freq_factor)?;
                positive("high_freq_factor", *high_freq_factor)?;
                context(*original_context)?;
                if low_freq_factor >= high_freq_factor {
                    return Err(format!(
                        "rope scaling `low_freq_factor` = {low_freq_factor} is not below `high_freq_factor` = {high_freq_factor}"
                    ));
                }
                Ok(())
            }
            RopeScaling::Yarn { factor, original_context, beta_fast, beta_slow, attention_factor, .. } => {
                positive("factor", *factor)?;
                positive("beta_fast", *beta_fast)?;
                positive("beta_slow", *beta_slow)?;
                positive("attention_factor", *attention_factor)?;
                context(*original_context)
            }
            RopeScaling::LongRope { short_factor, long_factor, original_context, attention_factor } => {
                pairs("short_factor", short_factor)?;
                pairs("long_factor", long_factor)?;
                positive("attention_factor", *attention_factor)?;
                context(*original_context)
            }
            RopeScaling::Factors { factors } => pairs("rope_freqs", factors),
        }
    }

    /// The scaling as a user reads it in `densi info` ("no scaling", "llama3 scaling: factor 8, …").
    pub fn description(&self) -> String {
        match self {
            RopeScaling::None => "no scaling".into(),
            RopeScaling::Linear { factor } => format!("linear scaling: frequencies ÷ {factor}"),
            RopeScaling::Llama3 { factor, low_freq_factor, high_freq_factor, original_context } => format!(
                "llama3 scaling: factor {factor}, low/high freq factor {low_freq_factor}/{high_freq_factor}, original context {original_context}"
            ),
            RopeScaling::Yarn { factor, original_context, beta_fast, beta_slow, attention_factor, .. } => format!(
                "yarn scaling: factor {factor}, original context {original_context}, beta fast/slow {beta_fast}/{beta_slow}, cos/sin × {attention_factor:.4}"
            ),
            RopeScaling::LongRope { original_context, attention_factor, .. } => format!(
                "longrope scaling: short factors up to {original_context} tokens, long factors beyond, original context {original_context}, cos/sin × {attention_factor:.4}"
            ),
            RopeScaling::Factors { factors } => {
                let (lo, hi) = factors.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &f| (lo.min(f), hi.max(f)));
                format!("per-pair frequency divisors from `rope_freqs.weight` (llama3), {lo}–{hi}")
            }
        }
    }
}

/// The hyper-parameters of a model, from config.json or GGUF metadata.
#[derive(Debug, Clone, Serialize)]
pub struct ModelConfig {
    /// Which architecture.
    pub architecture: Architecture,
    /// Vocabulary size (rows of the embedding and the lm-head).
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Transformer blocks.
    pub num_layers: usize,
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads (grouped-query attention); equals `num_heads` without GQA.
    pub num_kv_heads: usize,
    /// Dimension of one head.
    pub head_dim: usize,
    /// Width of the MLP's hidden layer.
    pub intermediate_size: usize,
    /// Longest sequence the model was trained on (`n_positions`, `max_position_embeddings`, `context_length`).
    pub context_length: usize,
    /// RoPE base (Llama/Qwen2); unused for GPT-2.
    pub rope_theta: f32,
    /// LayerNorm / RMSNorm epsilon.
    pub norm_eps: f32,
    /// Whether the lm-head is the token embedding.
    pub tie_word_embeddings: bool,
    /// Sliding windows, per-layer RoPE bases and the score scale, where an architecture has them.
    pub attention: AttentionConfig,
}

impl ModelConfig {
    /// Layer `layer`'s attention: local or global, its RoPE base and its score scale.
    pub fn layer_attention(&self, layer: usize) -> LayerAttention {
        let a = &self.attention;
        let local = a.local_layers.get(layer).copied().unwrap_or(false);
        let scale = 1.0 / a.query_pre_attn_scalar.unwrap_or(self.head_dim as f32).sqrt();
        LayerAttention {
            window: if local { a.sliding_window } else { None },
            rope_theta: if local { a.rope_local_theta.unwrap_or(self.rope_theta) } else { self.rope_theta },
            scale,
            softcap: a.score_softcap,
        }
    }

    /// The rotary frequencies of the layers whose RoPE base is `theta`, for a forward of `seq_len`
    /// positions: the global base carries [`AttentionConfig::rope_scaling`], a local base (Gemma 3's
    /// sliding layers) none.
    pub fn rope_frequencies(&self, theta: f32, seq_len: usize) -> RopeFrequencies {
        let scaling = if theta == self.rope_theta { &self.attention.rope_scaling } else { &RopeScaling::None };
        scaling.frequencies(theta, self.rope_dims(), seq_len)
    }

    /// Dimensions of each head that RoPE rotates (the first ones): [`AttentionConfig::rope_dims`] or
    /// the whole head.
    pub fn rope_dims(&self) -> usize {
        self.attention.rope_dims.unwrap_or(self.head_dim)
    }

    /// The factor on the token embeddings: √hidden for Gemma (transformers computes it in f64 and
    /// rounds it to the weights' dtype, f32 here), none otherwise.
    pub fn embed_scale(&self) -> Option<f32> {
        self.architecture.is_gemma().then(|| (self.hidden_size as f64).sqrt() as f32)
    }

    /// What densi understood from the file, as `(label, description)` lines for `densi info`: norm,
    /// activation, positions (RoPE bases), attention (sliding windows, score scale), q/k norm,
    /// soft-capping, embedding scale.
    pub fn feature_lines(&self) -> Vec<(&'static str, String)> {
        let a = self.architecture;
        let positions = if a == Architecture::Gpt2 {
            "learned position embeddings".to_string()
        } else {
            let dims = match self.rope_dims() {
                r if r == self.head_dim => format!("all {r} dims"),
                r => format!("first {r} of {} dims", self.head_dim),
            };
            let scaling = self.attention.rope_scaling.description();
            let mut p = format!("RoPE (rotate-half, {dims}, {scaling}), base {}", self.rope_theta);
            if let Some(local) = self.attention.rope_local_theta.filter(|_| self.attention.local_layers.contains(&true))
            {
                p.push_str(&format!(" (global layers), {local} (local layers)"));
            }
            p
        };
        let local: Vec<usize> = (0..self.num_layers).filter(|&l| self.layer_attention(l).window.is_some()).collect();
        let mut attention = match self.attention.sliding_window {
            Some(w) if local.len() == self.num_layers => format!("causal; every layer local (sliding window {w} keys)"),
            Some(w) if !local.is_empty() => format!(
                "causal; {} local layers (sliding window {w} keys), {} global (layers {})",
                local.len(),
                self.num_layers - local.len(),
                (0..self.num_layers)
                    .filter(|l| !local.contains(l))
                    .map(|l| l.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => "causal, every layer global".to_string(),
        };
        if self.attention.parallel_residual {
            attention.push_str("; parallel residual (attention and MLP both read the block's input)");
        }
        match self.attention.query_pre_attn_scalar {
            Some(s) => attention.push_str(&format!("; scores × 1/√{s} (query_pre_attn_scalar)")),
            None => attention.push_str(&format!("; scores × 1/√{} (head dim)", self.head_dim)),
        }
        let softcap = match (self.attention.score_softcap, self.attention.logit_softcap) {
            (None, None) => "none".to_string(),
            (s, l) => {
                let cap = |c: Option<f32>| c.map_or("none".to_string(), |c| format!("{c} · tanh(x / {c})"));
                format!("attention scores {}, final logits {}", cap(s), cap(l))
            }
        };
        let qk = if a.qk_norm() { "RMSNorm over each head of q and k, before RoPE" } else { "none" };
        let embed = match self.embed_scale() {
            Some(s) => format!("token embeddings × √{} = {s}", self.hidden_size),
            None => "token embeddings as stored".to_string(),
        };
        vec![
            ("norm", format!("{}, eps {:e}", a.norm_description(), self.norm_eps)),
            ("activation", a.activation_description().to_string()),
            ("positions", positions),
            ("attention", attention),
            ("q/k norm", qk.to_string()),
            ("soft-capping", softcap),
            ("embeddings", embed),
        ]
    }

    /// Number of weights, counting a tied embedding once.
    pub fn parameter_count(&self) -> usize {
        let (h, i, v, l) = (self.hidden_size, self.intermediate_size, self.vocab_size, self.num_layers);
        let kv = self.num_kv_heads * self.head_dim;
        let q = self.num_heads * self.head_dim;
        let attn = h * q + 2 * h * kv + q * h;
        let (mlp, norms, biases, pos) = match self.architecture {
            Architecture::Gpt2 => (2 * h * i, 4 * h, q + 2 * kv + h + i + h, self.context_length * h),
            Architecture::Llama => (3 * h * i, 2 * h, 0, 0),
            Architecture::Qwen2 => (3 * h * i, 2 * h, q + 2 * kv, 0),
            Architecture::Qwen3 => (3 * h * i, 2 * h + 2 * self.head_dim, 0, 0),
            Architecture::Gemma => (3 * h * i, 2 * h, 0, 0),
            Architecture::Gemma2 => (3 * h * i, 4 * h, 0, 0),
            Architecture::Gemma3 => (3 * h * i, 4 * h + 2 * self.head_dim, 0, 0),
            Architecture::GptNeox => (2 * h * i, 4 * h, q + 2 * kv + h + i + h, 0),
            Architecture::Phi3 => (3 * h * i, 2 * h, 0, 0),
        };
        let final_norm =
            if matches!(self.architecture, Architecture::Gpt2 | Architecture::GptNeox) { 2 * h } else { h };
        let head = if self.tie_word_embeddings { 0 } else { v * h };
        v * h + pos + l * (attn + mlp + norms + biases) + final_norm + head
    }

    /// Forward FLOPs to score `context` tokens in one causal pass, as in the roofline:
    /// 2 × (matmul weights, including the lm_head) per token, plus causal attention
    /// (QKᵀ and PV: 2 × 2 × head_dim × heads per (query, key) pair, T(T+1)/2 pairs).
    pub fn forward_flops(&self, tokens: usize) -> f64 {
        let (h, i, v, l) = (self.hidden_size, self.intermediate_size, self.vocab_size, self.num_layers);
        let kv = self.num_kv_heads * self.head_dim;
        let q = self.num_heads * self.head_dim;
        let mlp = match self.architecture {
            Architecture::Gpt2 | Architecture::GptNeox => 2 * h * i,
            _ => 3 * h * i,
        };
        let matmul_weights = (l * (h * q + 2 * h * kv + q * h + mlp) + v * h) as f64;
        let t = tokens as f64;
        let attn_pairs = t * (t + 1.0) / 2.0;
        2.0 * matmul_weights * t + (l as f64) * 4.0 * (q as f64) * attn_pairs
    }
}

impl ModelConfig {
    /// Checks the dimensions a forward pass relies on; the error is a reason without the file name.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let nonzero = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_layers", self.num_layers),
            ("num_heads", self.num_heads),
            ("num_kv_heads", self.num_kv_heads),
            ("head_dim", self.head_dim),
            ("intermediate_size", self.intermediate_size),
            ("context_length", self.context_length),
        ];
        // A bound far above any real model keeps every product of two dimensions within 2^48,
        // so the loaders' shape arithmetic cannot overflow on a hostile file.
        const MAX_DIM: usize = 1 << 24;
        for (name, v) in nonzero {
            if v == 0 {
                return Err(format!("{name} is 0"));
            }
            if v > MAX_DIM {
                return Err(format!("{name} = {v} is absurd (more than {MAX_DIM})"));
            }
        }
        if !self.num_heads.is_multiple_of(self.num_kv_heads) {
            return Err(format!(
                "num_heads {} is not a multiple of num_kv_heads {}",
                self.num_heads, self.num_kv_heads
            ));
        }
        if !(self.norm_eps.is_finite() && self.norm_eps >= 0.0) {
            return Err(format!("norm epsilon {} is not a finite non-negative number", self.norm_eps));
        }
        match self.architecture {
            Architecture::Gpt2 => {
                if self.num_heads * self.head_dim != self.hidden_size {
                    return Err(format!(
                        "num_heads {} × head_dim {} != hidden_size {}",
                        self.num_heads, self.head_dim, self.hidden_size
                    ));
                }
            }
            Architecture::Llama
            | Architecture::Qwen2
            | Architecture::Qwen3
            | Architecture::Gemma
            | Architecture::Gemma2
            | Architecture::Gemma3
            | Architecture::GptNeox
            | Architecture::Phi3 => {
                if !self.head_dim.is_multiple_of(2) {
                    return Err(format!("head_dim {} is odd; rotary embeddings need pairs", self.head_dim));
                }
                let positive = |x: f32| x.is_finite() && x > 0.0;
                if !positive(self.rope_theta) {
                    return Err(format!("rope_theta {} is not a positive number", self.rope_theta));
                }
                let a = &self.attention;
                if let Some(theta) = a.rope_local_theta
                    && !positive(theta)
                {
                    return Err(format!("local rope_theta {theta} is not a positive number"));
                }
                a.rope_scaling.validate(self.rope_dims())?;
                if a.rope_scaling != RopeScaling::None
                    && a.rope_local_theta == Some(self.rope_theta)
                    && a.local_layers.contains(&true)
                {
                    return Err(format!(
                        "rope scaling on the global layers, but the local layers share their base {}: not supported",
                        self.rope_theta
                    ));
                }
                if let Some(s) = a.query_pre_attn_scalar
                    && !positive(s)
                {
                    return Err(format!("query_pre_attn_scalar {s} is not a positive number"));
                }
                for (what, cap) in
                    [("attn_logit_softcapping", a.score_softcap), ("final_logit_softcapping", a.logit_softcap)]
                {
                    if let Some(c) = cap
                        && !positive(c)
                    {
                        return Err(format!("{what} {c} is not a positive number"));
                    }
                }
                if let Some(r) = a.rope_dims
                    && (r == 0 || r > self.head_dim || !r.is_multiple_of(2))
                {
                    return Err(format!(
                        "rotary dims {r} per head: must be even, non-zero and at most head_dim {}",
                        self.head_dim
                    ));
                }
                if a.sliding_window == Some(0) {
                    return Err("sliding_window is 0 (a local layer would see no key)".into());
                }
                if !a.local_layers.is_empty() && a.local_layers.len() != self.num_layers {
                    return Err(format!(
                        "layer_types: {} entries for {} layers",
                        a.local_layers.len(),
                        self.num_layers
                    ));
                }
                if a.local_layers.contains(&true) && a.sliding_window.is_none() {
                    return Err("local (sliding-window) layers without a sliding_window".into());
                }
            }
        }
        Ok(())
    }

    /// Reads a Hugging Face `config.json`. Fields without a default in `transformers`' config
    /// class are required (a missing one is named in the error); the others take that class's
    /// default, so a config saved by `save_pretrained` and one written by hand read the same.
    pub fn from_hf_json(path: &std::path::Path, json: &serde_json::Value) -> crate::Result<ModelConfig> {
        let err = |reason: String| crate::DensiError::Config { path: path.to_path_buf(), reason };
        let architecture = hf_architecture(path, json)?;
        let f = HfFields { json, err: &err };
        let config = match architecture {
            Architecture::Gpt2 => {
                let hidden_size = f.usize_req("n_embd")?;
                let num_heads = f.usize_req("n_head")?;
                let act = f.str_or("activation_function", "gelu_new")?;
                if act != "gelu_new" {
                    return Err(err(format!("activation_function `{act}` is not supported (only gelu_new)")));
                }
                for flag in ["scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"] {
                    if f.bool_or(flag, false)? {
                        return Err(err(format!("`{flag}: true` is not supported")));
                    }
                }
                let context_length = match f.usize_opt("n_positions")? {
                    Some(n) => n,
                    None => f.usize_opt("n_ctx")?.ok_or_else(|| err("missing field `n_positions`".into()))?,
                };
                ModelConfig {
                    architecture,
                    vocab_size: f.usize_req("vocab_size")?,
                    hidden_size,
                    num_layers: f.usize_req("n_layer")?,
                    num_heads,
                    num_kv_heads: num_heads,
                    head_dim: hidden_size.checked_div(num_heads).unwrap_or(0),
                    intermediate_size: f.usize_opt("n_inner")?.unwrap_or(4 * hidden_size),
                    context_length,
                    rope_theta: 0.0,
                    norm_eps: f.f32_or("layer_norm_epsilon", 1e-5)?,
                    tie_word_embeddings: true,
                    attention: AttentionConfig::default(),
                }
            }
            Architecture::Llama | Architecture::Qwen2 | Architecture::Qwen3 => {
                let hidden_size = f.usize_req("hidden_size")?;
                let num_heads = f.usize_req("num_attention_heads")?;
                let act = f.str_or("hidden_act", "silu")?;
                if act != "silu" {
                    return Err(err(format!("hidden_act `{act}` is not supported (only silu)")));
                }
                if architecture != Architecture::Llama && f.bool_or("use_sliding_window", false)? {
                    return Err(err("`use_sliding_window: true` is not supported".into()));
                }
                // MistralForCausalLM: Llama's math, and a window on every layer unless `sliding_window`
                // is null (MistralConfig's default: 4096).
                let mistral = hf_is_mistral(json);
                let sliding_window = match (mistral, f.json.get("sliding_window")) {
                    (false, _) => None,
                    (true, None) => Some(4096),
                    (true, Some(_)) => f.usize_opt("sliding_window")?,
                };
                if sliding_window == Some(0) {
                    return Err(err("`sliding_window` is 0 (a layer would see no key)".into()));
                }
                let num_layers = f.usize_req("num_hidden_layers")?;
                let default_ctx = match architecture {
                    _ if mistral => 131_072,
                    Architecture::Llama => 2048,
                    _ => 32768,
                };
                let context_length = f.usize_opt("max_position_embeddings")?.unwrap_or(default_ctx);
                // transformers ≥ 5 keeps rope_theta (and scaling) under `rope_parameters`.
                let rope = json.get("rope_parameters").filter(|v| !v.is_null());
                let legacy_theta = f.f32_or("rope_theta", 10000.0)?;
                let (rope_theta, rope_scaling) =
                    hf_rope(json, json.get("rope_scaling"), rope, legacy_theta, "", context_length, false)
                        .map_err(err)?;
                // Qwen3Config's head_dim defaults to 128, the others' to hidden / heads.
                let head_dim = match f.usize_opt("head_dim")? {
                    Some(d) => d,
                    None if architecture == Architecture::Qwen3 => 128,
                    None => hf_head_dim(hidden_size, num_heads).map_err(err)?,
                };
                ModelConfig {
                    architecture,
                    vocab_size: f.usize_req("vocab_size")?,
                    hidden_size,
                    num_layers,
                    num_heads,
                    num_kv_heads: f.usize_opt("num_key_value_heads")?.unwrap_or(num_heads),
                    head_dim,
                    intermediate_size: f.usize_req("intermediate_size")?,
                    context_length,
                    rope_theta,
                    norm_eps: f.f32_or("rms_norm_eps", 1e-6)?,
                    tie_word_embeddings: f.bool_or("tie_word_embeddings", false)?,
                    attention: AttentionConfig {
                        sliding_window,
                        local_layers: if sliding_window.is_some() { vec![true; num_layers] } else { Vec::new() },
                        rope_scaling,
                        ..AttentionConfig::default()
                    },
                }
            }
            Architecture::Gemma => {
                // GemmaConfig's defaults where a field is missing; `gelu` is the legacy name of the
                // tanh GELU in Gemma's own configs (transformers reads it as gelu_pytorch_tanh).
                let act = f.str_or("hidden_act", "gelu_pytorch_tanh")?;
                if act != "gelu_pytorch_tanh" && act != "gelu" {
                    return Err(err(format!("hidden_act `{act}` is not supported (only gelu_pytorch_tanh)")));
                }
                if let Some(a) = f.get("hidden_activation").map(|_| f.str_or("hidden_activation", "")).transpose()?
                    && a != "gelu_pytorch_tanh"
                {
                    return Err(err(format!("hidden_activation `{a}` is not supported (only gelu_pytorch_tanh)")));
                }
                for flag in ["use_bidirectional_attention", "attention_bias"] {
                    if f.bool_or(flag, false)? {
                        return Err(err(format!("`{flag}: true` is not supported for gemma")));
                    }
                }
                let rope = json.get("rope_parameters").filter(|v| !v.is_null());
                let context_length = f.usize_opt("max_position_embeddings")?.unwrap_or(8192);
                let legacy_theta = f.f32_or("rope_theta", 10_000.0)?;
                let (rope_theta, rope_scaling) =
                    hf_rope(json, json.get("rope_scaling"), rope, legacy_theta, "", context_length, false)
                        .map_err(err)?;
                ModelConfig {
                    architecture,
                    vocab_size: f.usize_opt("vocab_size")?.unwrap_or(256_000),
                    hidden_size: f.usize_req("hidden_size")?,
                    num_layers: f.usize_req("num_hidden_layers")?,
                    num_heads: f.usize_req("num_attention_heads")?,
                    num_kv_heads: f.usize_req("num_key_value_heads")?,
                    head_dim: f.usize_opt("head_dim")?.unwrap_or(256),
                    intermediate_size: f.usize_req("intermediate_size")?,
                    context_length,
                    rope_theta,
                    norm_eps: f.f32_or("rms_norm_eps", 1e-6)?,
                    tie_word_embeddings: f.bool_or("tie_word_embeddings", true)?,
                    attention: AttentionConfig { rope_scaling, ..AttentionConfig::default() },
                }
            }
            Architecture::GptNeox => {
                // GPTNeoXConfig's defaults where a field is missing; transformers 4.x (Pythia's own
                // configs) keeps rotary_pct and rotary_emb_base at the top level, 5.x in rope_parameters.
                let hidden_size = f.usize_req("hidden_size")?;
                let num_heads = f.usize_req("num_attention_heads")?;
                let head_dim = hf_head_dim(hidden_size, num_heads).map_err(err)?;
                let act = f.str_or("hidden_act", "gelu")?;
                if act != "gelu" {
                    return Err(err(format!("hidden_act `{act}` is not supported (only gelu)")));
                }
                if !f.bool_or("attention_bias", true)? {
                    return Err(err("`attention_bias: false` is not supported for gpt_neox".into()));
                }
                let rope = json.get("rope_parameters").filter(|v| !v.is_null());
                let legacy_theta = match f.get("rotary_emb_base") {
                    Some(_) => f.f32_or("rotary_emb_base", 10_000.0)?,
                    None => f.f32_or("rope_theta", 10_000.0)?,
                };
                let context_length = f.usize_opt("max_position_embeddings")?.unwrap_or(2048);
                let (rope_theta, rope_scaling) =
                    hf_rope(json, json.get("rope_scaling"), rope, legacy_theta, "", context_length, false)
                        .map_err(err)?;
                let pct = match rope.and_then(|r| r.get("partial_rotary_factor")) {
                    Some(v) => v.as_f64().ok_or_else(|| {
                        err(format!("`rope_parameters.partial_rotary_factor` should be a number, found {v}"))
                    })?,
                    None => f.f32_or("rotary_pct", 0.25)? as f64,
                };
                if !(pct > 0.0 && pct <= 1.0) {
                    return Err(err(format!("rotary fraction {pct} is not in (0, 1]")));
                }
                // transformers: int(head_dim · partial_rotary_factor).
                let rope_dims = (head_dim as f64 * pct) as usize;
                ModelConfig {
                    architecture,
                    vocab_size: f.usize_opt("vocab_size")?.unwrap_or(50_432),
                    hidden_size,
                    num_layers: f.usize_req("num_hidden_layers")?,
                    num_heads,
                    num_kv_heads: num_heads,
                    head_dim,
                    intermediate_size: f.usize_opt("intermediate_size")?.unwrap_or(4 * hidden_size),
                    context_length,
                    rope_theta,
                    norm_eps: f.f32_or("layer_norm_eps", 1e-5)?,
                    tie_word_embeddings: f.bool_or("tie_word_embeddings", false)?,
                    attention: AttentionConfig {
                        rope_dims: Some(rope_dims),
                        rope_scaling,
                        parallel_residual: f.bool_or("use_parallel_residual", true)?,
                        ..AttentionConfig::default()
                    },
                }
            }
            Architecture::Phi3 => {
                // Phi3Config's defaults where a field is missing; `longrope` (`su`, `yarn`) scaling for
                // the 128k models, the original context from the top-level field (default 4096).
                let hidden_size = f.usize_req("hidden_size")?;
                let num_heads = f.usize_req("num_attention_heads")?;
                let head_dim = hf_head_dim(hidden_size, num_heads).map_err(err)?;
                let act = f.str_or("hidden_act", "silu")?;
                if act != "silu" {
                    return Err(err(format!("hidden_act `{act}` is not supported (only silu)")));
                }
                let rope = json.get("rope_parameters").filter(|v| !v.is_null());
                let context_length = f.usize_opt("max_position_embeddings")?.unwrap_or(4096);
                let mut top = json.clone();
                if top.get("original_max_position_embeddings").is_none_or(|v| v.is_null()) {
                    top["original_max_position_embeddings"] = 4096.into();
                }
                let legacy_theta = f.f32_or("rope_theta", 10_000.0)?;
                let (rope_theta, rope_scaling) =
                    hf_rope(&top, json.get("rope_scaling"), rope, legacy_theta, "", context_length, true)
                        .map_err(err)?;
                let pct = match rope.and_then(|r| r.get("partial_rotary_factor")) {
                    Some(v) => v.as_f64().ok_or_else(|| {
                        err(format!("`rope_parameters.partial_rotary_factor` should be a number, found {v}"))
                    })?,
                    None => f.f32_or("partial_rotary_factor", 1.0)? as f64,
                };
                if !(pct > 0.0 && pct <= 1.0) {
                    return Err(err(format!("rotary fraction {pct} is not in (0, 1]")));
                }
                let num_layers = f.usize_req("num_hidden_layers")?;
                // transformers' Phi3 masks every layer with the window when `sliding_window` is set.
                let sliding_window = f.usize_opt("sliding_window")?;
                if sliding_window == Some(0) {
                    return Err(err("`sliding_window` is 0 (a layer would see no key)".into()));
                }
                ModelConfig {
                    architecture,
                    vocab_size: f.usize_opt("vocab_size")?.unwrap_or(32_064),
                    hidden_size,
                    num_layers,
                    num_heads,
                    num_kv_heads: f.usize_opt("num_key_value_heads")?.unwrap_or(num_heads),
                    head_dim,
                    intermediate_size: f.usize_req("intermediate_size")?,
                    context_length,
                    rope_theta,
                    norm_eps: f.f32_or("rms_norm_eps", 1e-5)?,
                    tie_word_embeddings: f.bool_or("tie_word_embeddings", false)?,
                    attention: AttentionConfig {
                        sliding_window,
                        local_layers: vec![sliding_window.is_some(); num_layers],
                        rope_dims: Some((head_dim as f64 * pct) as usize),
                        rope_scaling,
                        ..AttentionConfig::default()
                    },
                }
            }
            Architecture::Gemma2 | Architecture::Gemma3 => {
                // Gemma2Config's / Gemma3TextConfig's defaults where a field is missing.
                let gemma2 = architecture == Architecture::Gemma2;
                let num_layers = f.usize_req("num_hidden_layers")?;
                let act = match f.get("hidden_activation") {
                    Some(_) => f.str_or("hidden_activation", "")?,
                    None => f.str_or("hidden_act", "gelu_pytorch_tanh")?,
                };
                if act != "gelu_pytorch_tanh" {
                    return Err(err(format!("hidden_activation `{act}` is not supported (only gelu_pytorch_tanh)")));
                }
                // Gemma 2 caps (50 and 30 unless set to null); Gemma 3 has no soft-capping in densi.
                let softcap = |key: &str, default: f32| -> crate::Result<Option<f32>> {
                    match (gemma2, f.get(key)) {
                        (true, None) if f.json.get(key).is_some() => Ok(None),
                        (true, None) => Ok(Some(default)),
                        (true, Some(_)) => Ok(Some(f.f32_or(key, default)?)),
                        (false, None) => Ok(None),
                        (false, Some(_)) => {
                            Err(err(format!("`{key}` is set: soft-capping is not implemented for gemma3")))
                        }
                    }
                };
                let score_softcap = softcap("attn_logit_softcapping", 50.0)?;
                let logit_softcap = softcap("final_logit_softcapping", 30.0)?;
                if f.bool_or("use_bidirectional_attention", false)? {
                    return Err(err("`use_bidirectional_attention: true` is not supported".into()));
                }
                if f.bool_or("attention_bias", false)? {
                    return Err(err("`attention_bias: true` is not supported for gemma3".into()));
                }
                // transformers 5: rope_parameters.{full_attention, sliding_attention}; 4.x: rope_theta,
                // rope_local_base_freq and rope_scaling (global layers only).
                let rope = json.get("rope_parameters").filter(|v| !v.is_null());
                let context_length =
                    f.usize_opt("max_position_embeddings")?.unwrap_or(if gemma2 { 8192 } else { 131_072 });
                let (rope_theta, rope_local_theta, rope_scaling) = if gemma2 {
                    // One base for every layer.
                    let legacy = f.f32_or("rope_theta", 10_000.0)?;
                    let (theta, scaling) =
                        hf_rope(json, json.get("rope_scaling"), rope, legacy, "", context_length, false)
                            .map_err(err)?;
                    (theta, None, scaling)
                } else {
                    let (global, scaling) = hf_rope(
                        json,
                        json.get("rope_scaling"),
                        rope.and_then(|r| r.get("full_attention")),
                        f.f32_or("rope_theta", 1_000_000.0)?,
                        "full_attention.",
                        context_length,
                        false,
                    )
                    .map_err(err)?;
                    let (local, local_scaling) = hf_rope(
                        json,
                        None,
                        rope.and_then(|r| r.get("sliding_attention")),
                        f.f32_or("rope_local_base_freq", 10_000.0)?,
                        "sliding_attention.",
                        context_length,
                        false,
                    )
                    .map_err(err)?;
                    if local_scaling != RopeScaling::None {
                        return Err(err(
                            "`rope_parameters.sliding_attention` scales RoPE: not supported on local layers".into(),
                        ));
                    }
                    (global, Some(local), scaling)
                };
                let local_layers = match f.get("layer_types") {
                    Some(v) => v
                        .as_array()
                        .ok_or_else(|| err(format!("field `layer_types` should be a list, found {v}")))?
                        .iter()
                        .map(|t| match t.as_str() {
                            Some("sliding_attention") => Ok(true),
                            Some("full_attention") => Ok(false),
                            _ => Err(err(format!("`layer_types` entry {t} is not supported"))),
                        })
                        .collect::<crate::Result<Vec<bool>>>()?,
                    None => {
                        // Gemma 2: every other layer; Gemma 3: every 6th layer global.
                        let pattern = f.usize_opt("sliding_window_pattern")?.unwrap_or(if gemma2 { 2 } else { 6 });
                        if pattern == 0 {
                            return Err(err("`sliding_window_pattern` is 0".into()));
                        }
                        (0..num_layers).map(|l| (l + 1) % pattern != 0).collect()
                    }
                };
                let sliding_window = f.usize_opt("sliding_window")?.unwrap_or(4096);
                if sliding_window == 0 {
                    return Err(err("`sliding_window` is 0 (a local layer would see no key)".into()));
                }
                let query_pre_attn_scalar = f.f32_or("query_pre_attn_scalar", 256.0)?;
                ModelConfig {
                    architecture,
                    vocab_size: f.usize_opt("vocab_size")?.unwrap_or(if gemma2 { 256_000 } else { 262_208 }),
                    hidden_size: f.usize_req("hidden_size")?,
                    num_layers,
                    num_heads: f.usize_req("num_attention_heads")?,
                    num_kv_heads: f.usize_req("num_key_value_heads")?,
                    head_dim: f.usize_opt("head_dim")?.unwrap_or(256),
                    intermediate_size: f.usize_req("intermediate_size")?,
                    context_length,
                    rope_theta,
                    norm_eps: f.f32_or("rms_norm_eps", 1e-6)?,
                    tie_word_embeddings: f.bool_or("tie_word_embeddings", true)?,
                    attention: AttentionConfig {
                        sliding_window: Some(sliding_window),
                        local_layers,
                        rope_local_theta,
                        rope_scaling,
                        query_pre_attn_scalar: Some(query_pre_attn_scalar),
                        score_softcap,
                        logit_softcap,
                        ..AttentionConfig::default()
                    },
                }
            }
        };
        config.validate().map_err(err)?;
        Ok(config)
    }
}

/// The RoPE base and scaling from transformers 5's `rope_parameters` (`params`) or 4.x's top-level
/// `rope_theta` (`legacy`) and `rope_scaling`, as `standardize_rope_params` and the
/// `_compute_*_parameters` of transformers' `modeling_rope_utils.py` read them: the original
/// context is the top-level `original_max_position_embeddings` (Phi-3's), else the dict's, else
/// `max_positions`. `dynamic` is refused (its frequencies change with the length of the text), as
/// is any type densi does not implement. `what` prefixes the keys in errors; `phi3`: Phi3Config
/// reads `su` and `yarn` as `longrope`.
fn hf_rope(
    top: &serde_json::Value,
    scaling: Option<&serde_json::Value>,
    params: Option<&serde_json::Value>,
    legacy: f32,
    what: &str,
    max_positions: usize,
    phi3: bool,
) -> std::result::Result<(f32, RopeScaling), String> {
    let kind_of = |s: &serde_json::Value| {
        s.get("rope_type").or_else(|| s.get("type")).and_then(|v| v.as_str()).unwrap_or("default").to_string()
    };
    let scaling = scaling.filter(|v| !v.is_null());
    // The dict that sets the scaling: rope_parameters, unless it is plain and a legacy rope_scaling is set.
    let (dict, prefix) = match (params, scaling) {
        (Some(p), _) if kind_of(p) != "default" => (Some(p), format!("rope_parameters.{what}")),
        (_, Some(s)) => (Some(s), "rope_scaling.".to_string()),
        _ => (None, String::new()),
    };
    let theta = match params.and_then(|r| r.get("rope_theta")) {
        Some(v) => {
            v.as_f64().map(|x| x as f32).ok_or_else(|| format!("`rope_parameters.{what}rope_theta` is not a number"))?
        }
        None => legacy,
    };
    let Some(d) = dict else { return Ok((theta, RopeScaling::None)) };
    let mut kind = kind_of(d);
    if kind == "su" || (phi3 && kind == "yarn") {
        kind = "longrope".into();
    }
    let field = |key: &str| d.get(key).filter(|v| !v.is_null());
    let num = |key: &str| -> std::result::Result<Option<f64>, String> {
        field(key)
            .map(|v| v.as_f64().ok_or_else(|| format!("`{prefix}{key}` should be a number, found {v}")))
            .transpose()
    };
    let req = |key: &str| -> std::result::Result<f64, String> {
        num(key)?.ok_or_else(|| format!("missing `{prefix}{key}` (needed by `{kind}` rope scaling)"))
    };
    let original = match top.get("original_max_position_embeddings").filter(|v| !v.is_null()) {
        Some(v) => Some(v),
        None => field("original_max_position_embeddings"),
    }
    .map(|v| {
        v.as_u64()
            .map(|n| n as usize)
            .ok_or_else(|| format!("`original_max_position_embeddings` should be a non-negative integer, found {v}"))
    })
    .transpose()?
    .unwrap_or(max_positions);
    let factors = |key: &str| -> std::result::Result<Vec<f64>, String> {
        let v = field(key).ok_or_else(|| format!("missing `{prefix}{key}` (needed by `longrope` rope scaling)"))?;
        v.as_array()
            .and_then(|a| a.iter().map(|x| x.as_f64()).collect::<Option<Vec<f64>>>())
            .ok_or_else(|| format!("`{prefix}{key}` should be a list of numbers"))
    };
    // transformers: the factor defaults to context / original (Phi-3, DeepSeek).
    let ratio = max_positions as f64 / original.max(1) as f64;
    let scaling = match kind.as_str() {
        "default" => RopeScaling::None,
        "linear" => RopeScaling::Linear { factor: req("factor")? },
        "llama3" => RopeScaling::Llama3 {
            factor: req("factor")?,
            low_freq_factor: req("low_freq_factor")?,
            high_freq_factor: req("high_freq_factor")?,
            original_context: original,
        },
        "yarn" => {
            let factor = num("factor")?.unwrap_or(ratio);
            // yarn_get_mscale
            let mscale = |scale: f64, m: f64| if scale <= 1.0 { 1.0 } else { 0.1 * m * scale.ln() + 1.0 };
            let attention_factor = match (num("attention_factor")?, num("mscale")?, num("mscale_all_dim")?) {
                (Some(a), _, _) => a,
                (None, Some(m), Some(all)) if m != 0.0 && all != 0.0 => mscale(factor, m) / mscale(factor, all),
                _ => mscale(factor, 1.0),
            };
            // Python's `or`: a 0 takes the default too.
            let nonzero_or = |x: Option<f64>, default: f64| x.filter(|&x| x != 0.0).unwrap_or(default);
            let truncate = match field("truncate") {
                None => true,
                Some(v) => {
                    v.as_bool().ok_or_else(|| format!("`{prefix}truncate` should be true or false, found {v}"))?
                }
            };
            RopeScaling::Yarn {
                factor,
                original_context: original,
                beta_fast: nonzero_or(num("beta_fast")?, 32.0),
                beta_slow: nonzero_or(num("beta_slow")?, 1.0),
                truncate,
                attention_factor,
            }
        }
        "longrope" => {
            let factor = num("factor")?.unwrap_or(ratio);
            let attention_factor = match num("attention_factor")? {
                Some(a) => a,
                None if factor <= 1.0 => 1.0,
                None => (1.0 + factor.ln() / (original as f64).ln()).sqrt(),
            };
            RopeScaling::LongRope {
                short_factor: factors("short_factor")?,
                long_factor: factors("long_factor")?,
                original_context: original,
                attention_factor,
            }
        }
        "dynamic" => {
            return Err(format!(
                "rope scaling `dynamic` (`{prefix}rope_type`) is not supported: its frequencies change with the length of the text"
            ));
        }
        other => {
            return Err(format!(
                "rope scaling `{other}` (`{prefix}rope_type`) is not supported (densi implements linear, llama3, yarn, longrope)"
            ));
        }
    };
    Ok((theta, scaling))
}

/// hidden / heads, when config.json gives no `head_dim`: the heads must split the width evenly.
fn hf_head_dim(hidden_size: usize, num_heads: usize) -> std::result::Result<usize, String> {
    if num_heads == 0 || !hidden_size.is_multiple_of(num_heads) {
        return Err(format!(
            "`num_attention_heads` = {num_heads} does not divide `hidden_size` = {hidden_size} (and no `head_dim` is given)"
        ));
    }
    Ok(hidden_size / num_heads)
}

/// MistralForCausalLM (`architectures[0]`, else `model_type` `mistral`): read as Llama plus its window.
fn hf_is_mistral(json: &serde_json::Value) -> bool {
    match json.get("architectures").and_then(|a| a.get(0)).and_then(|a| a.as_str()) {
        Some(class) => class.starts_with("Mistral"),
        None => json.get("model_type").and_then(|m| m.as_str()) == Some("mistral"),
    }
}

/// `architectures[0]`, else `model_type`.
fn hf_architecture(path: &std::path::Path, json: &serde_json::Value) -> crate::Result<Architecture> {
    let archs: Vec<&str> = json
        .get("architectures")
        .and_then(|a| a.as_array())
        .map(|a| a.iter().filter_map(|s| s.as_str()).collect())
        .unwrap_or_default();
    let model_type = json.get("model_type").and_then(|m| m.as_str());
    let by_class = archs.first().map(|a| match *a {
        "GPT2LMHeadModel" | "GPT2Model" => Some(Architecture::Gpt2),
        "LlamaForCausalLM" | "LlamaModel" | "MistralForCausalLM" | "MistralModel" => Some(Architecture::Llama),
        "Qwen2ForCausalLM" | "Qwen2Model" => Some(Architecture::Qwen2),
        "Qwen3ForCausalLM" | "Qwen3Model" => Some(Architecture::Qwen3),
        "GemmaForCausalLM" | "GemmaModel" => Some(Architecture::Gemma),
        "Gemma2ForCausalLM" | "Gemma2Model" => Some(Architecture::Gemma2),
        "Gemma3ForCausalLM" | "Gemma3TextModel" => Some(Architecture::Gemma3),
        "GPTNeoXForCausalLM" | "GPTNeoXModel" => Some(Architecture::GptNeox),
        "Phi3ForCausalLM" | "Phi3Model" => Some(Architecture::Phi3),
        _ => None,
    });
    let by_type = model_type.map(|m| match m {
        "gpt2" => Some(Architecture::Gpt2),
        "llama" | "mistral" => Some(Architecture::Llama),
        "qwen2" => Some(Architecture::Qwen2),
        "qwen3" => Some(Architecture::Qwen3),
        "gemma" => Some(Architecture::Gemma),
        "gemma2" => Some(Architecture::Gemma2),
        "gemma3_text" => Some(Architecture::Gemma3),
        "gpt_neox" => Some(Architecture::GptNeox),
        "phi3" => Some(Architecture::Phi3),
        _ => None,
    });
    match (by_class, by_type) {
        (Some(Some(a)), _) => Ok(a),
        (None, Some(Some(a))) => Ok(a),
        (None, None) => Err(crate::DensiError::Config {
            path: path.to_path_buf(),
            reason: "missing field `architectures` (and `model_type`)".into(),
        }),
        _ => Err(crate::DensiError::UnsupportedArchitecture {
            path: path.to_path_buf(),
            found: archs.first().copied().or(model_type).unwrap_or("?").to_string(),
            supported: Architecture::SUPPORTED,
        }),
    }
}

/// Typed access to config.json fields; errors name the field.
struct HfFields<'a, E: Fn(String) -> crate::DensiError> {
    json: &'a serde_json::Value,
    err: &'a E,
}

impl<E: Fn(String) -> crate::DensiError> HfFields<'_, E> {
    fn get(&self, key: &str) -> Option<&serde_json::Value> {
        self.json.get(key).filter(|v| !v.is_null())
    }

    fn usize_opt(&self, key: &str) -> crate::Result<Option<usize>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(|n| Some(n as usize))
                .ok_or_else(|| (self.err)(format!("field `{key}` should be a non-negative integer, found {v}"))),
        }
    }

    fn usize_req(&self, key: &str) -> crate::Result<usize> {
        self.usize_opt(key)?.ok_or_else(|| (self.err)(format!("missing field `{key}`")))
    }

    fn f32_or(&self, key: &str, default: f32) -> crate::Result<f32> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_f64()
                .map(|x| x as f32)
                .ok_or_else(|| (self.err)(format!("field `{key}` should be a number, found {v}"))),
        }
    }

    fn bool_or(&self, key: &str, default: bool) -> crate::Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => {
                v.as_bool().ok_or_else(|| (self.err)(format!("field `{key}` should be true or false, found {v}")))
            }
        }
    }

    fn str_or<'s>(&'s self, key: &str, default: &'s str) -> crate::Result<&'s str> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_str().ok_or_else(|| (self.err)(format!("field `{key}` should be a string, found {v}"))),
        }
    }
}
