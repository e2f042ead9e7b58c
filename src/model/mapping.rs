//! From a checkpoint's tensors to [`Weights`], once for every format: an architecture's mapping
//! (`arch/`) asks for canonical tensors ([`Tensor`] × [`Part`] × layer) with the shape it expects;
//! a format's [`NameTable`] says what that tensor is called in the file and how its stored layout
//! differs ([`Fixup`]); the [`WeightLoader`] looks it up in the [`TensorSource`], checks the shape,
//! converts it ([`dequant`]) and applies the fix-up. This is gguf-py's `tensor_mapping` (one name
//! table per format) with candle's `VarBuilder` (one loader over every format).
//!
//! After the mapping has run, every tensor of the file must have been read or be one the format
//! declares as unused ([`NameTable::is_ignored`]): a tensor nobody reads would mean a model
//! computed without part of its weights, so it is an error that names it.

use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::Arc;

use rayon::prelude::*;

use super::config::ModelConfig;
use super::dequant;
use super::matrix::Matrix;
use super::source::TensorSource;
use super::source::{DType, TensorView};
use super::weights::{Linear, Norm, NormKind, WeightStorage};
use crate::error::{DensiError, Result};

/// The tensors of every supported architecture, by role (gguf-py's `MODEL_TENSOR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tensor {
    /// `[vocab, hidden]`.
    TokenEmbedding,
    /// `[context, hidden]` (GPT-2).
    PositionEmbedding,
    OutputNorm,
    /// The lm-head `[vocab, hidden]` (absent when tied to the token embedding).
    Output,
    AttnNorm,
    AttnQ,
    AttnK,
    AttnV,
    /// Q, K and V fused in one `[3·hidden, hidden]` matrix, rows q, k, v (GPT-2's `c_attn`).
    AttnQkv,
    AttnOutput,
    FfnNorm,
    FfnGate,
    FfnUp,
    FfnDown,
    /// `[head_dim]` RMSNorm over each query head (Qwen3, Gemma 3).
    AttnQNorm,
    /// `[head_dim]` RMSNorm over each key head.
    AttnKNorm,
    /// Norm of the attention output before the residual add (Gemma).
    AttnPostNorm,
    /// Norm of the MLP output before the residual add (Gemma).
    FfnPostNorm,
}

/// Which parameter of a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    Weight,
    Bias,
}

/// Whether a mapping reads an optional tensor (a bias).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Optional {
    /// The architecture has it: a file without it is an error.
    Required,
    /// Read when the file has it (e.g. Llama's `attention_bias`), else none.
    IfPresent,
    /// The architecture has none: a file that has one is an error (an unused tensor).
    Absent,
}

/// How a format stores a tensor differently from the canonical layout of [`Weights`]
/// (`[out, in]` row-major; Q/K rows in Hugging Face rotate-half order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fixup {
    /// Stored as canonical.
    None,
    /// Stored `[in, out]` (GPT-2's Conv1D in Hugging Face checkpoints); 1-D tensors are unchanged.
    Transpose,
    /// Rows permuted by llama.cpp's converter for ggml's interleaved RoPE, `heads` heads of
    /// `head_dim` rows each (weights and biases alike).
    UnpermuteRope { heads: usize, head_dim: usize },
    /// A Gemma norm weight stored as w for y = x̂ · (1 + w) (Hugging Face): 1 is added at load.
    AddOne,
    /// GPT-NeoX's fused `query_key_value` (Hugging Face): rows `[heads, 3, head_dim]` (each head's
    /// q, k, v together), regrouped to the canonical q | k | v (weights and biases alike).
    NeoxQkv { heads: usize, head_dim: usize },
}

/// A format's names and layout fix-ups for the canonical tensors of one architecture.
pub trait NameTable {
    /// The tensor's name in the file; `layer` is `Some` for per-block tensors.
    fn name(&self, tensor: Tensor, layer: Option<usize>, part: Part) -> String;

    /// How the stored tensor differs from the canonical layout.
    fn fixup(&self, _tensor: Tensor, _config: &ModelConfig) -> Fixup {
        Fixup::None
    }

    /// Tensors the file may hold that no mapping reads (buffers the forward recomputes, a copy
    /// of a tied lm-head).
    fn is_ignored(&self, _name: &str, _config: &ModelConfig) -> bool {
        false
    }
}

/// Reads canonical tensors from a source through a name table, and remembers which it read.
pub struct WeightLoader<'a> {
    src: &'a dyn TensorSource,
    names: &'a dyn NameTable,
    config: &'a ModelConfig,
    storage: WeightStorage,
    read: RefCell<HashSet<String>>,
}

impl<'a> WeightLoader<'a> {
    pub fn new(
        src: &'a dyn TensorSource,
        names: &'a dyn NameTable,
        config: &'a ModelConfig,
        storage: WeightStorage,
    ) -> Self {
        WeightLoader { src, names, config, storage, read: RefCell::new(HashSet::new()) }
    }

    pub fn config(&self) -> &ModelConfig {
        self.config
    }

    /// Whether the file has this tensor.
    pub fn has(&self, tensor: Tensor, layer: Option<usize>, part: Part) -> bool {
        self.src.has(&self.names.name(tensor, layer, part))
    }

    /// The tensor as f32 in the canonical layout, checked to have `shape` (canonical order).
    pub fn tensor(&self, tensor: Tensor, layer: Option<usize>, part: Part, shape: &[usize]) -> Result<Vec<f32>> {
        let (view, dtype, fixup) = self.view(tensor, layer, part, shape)?;
        let data = dequant::dequantize(dtype, view.bytes, view.n_elements());
        Ok(match fixup {
            Fixup::Transpose if shape.len() == 2 => transpose(&data, shape[1], shape[0]),
            Fixup::UnpermuteRope { heads, head_dim } => {
                let cols = if shape.len() == 2 { shape[1] } else { 1 };
                unpermute_rows(&data, heads, head_dim, cols)
            }
            Fixup::NeoxQkv { heads, head_dim } => {
                let cols = if shape.len() == 2 { shape[1] } else { 1 };
                let mut out = vec![0f32; data.len()];
                for (r, dst) in out.chunks_exact_mut(cols).enumerate().take(3 * heads * head_dim) {
                    let src = neox_qkv_source_row(r, heads, head_dim);
                    dst.copy_from_slice(&data[src * cols..(src + 1) * cols]);
                }
                out
            }
            // In f32, as transformers' `1.0 + self.weight.float()`.
            Fixup::AddOne => data.into_iter().map(|w| 1.0 + w).collect(),
            _ => data,
        })
    }

    /// The `[rows, cols]` matrix in the canonical layout, kept as [`WeightStorage`] says: resident
    /// matrices borrow the file's bytes (rows moved by a fix-up are copied, still in the file's
    /// type; a transposed or unaligned F32 tensor becomes owned f32 values).
    pub fn matrix(&self, tensor: Tensor, layer: Option<usize>, part: Part, rows: usize, cols: usize) -> Result<Matrix> {
        if self.storage == WeightStorage::F32 {
            return Ok(Matrix::from_f32(rows, cols, self.tensor(tensor, layer, part, &[rows, cols])?));
        }
        let (view, dtype, fixup) = self.view(tensor, layer, part, &[rows, cols])?;
        let stored = match (&view.shared, fixup) {
            (_, Fixup::Transpose) => None,
            (Some((bytes, range)), _) => Matrix::from_stored(rows, cols, dtype, Arc::clone(bytes), range.clone()),
            (None, _) => Matrix::from_owned_bytes(rows, cols, dtype, view.bytes.to_vec()),
        };
        // F32 rows the CPU cannot read in place (unaligned) are copied into owned values.
        let stored = stored.filter(|m| dtype != DType::F32 || m.as_f32().is_some());
        let Some(m) = stored else {
            if fixup != Fixup::Transpose && !cols.is_multiple_of(dequant::block_layout(dtype).0) {
                return Err(DensiError::InvalidModelFile {
                    path: view.file.to_path_buf(),
                    format: self.src.format(),
                    reason: format!(
                        "tensor `{}`: rows of {cols} values are not whole {} blocks",
                        view.name,
                        dtype.name()
                    ),
                });
            }
            return Ok(Matrix::from_f32(rows, cols, self.tensor(tensor, layer, part, &[rows, cols])?));
        };
        Ok(match fixup {
            Fixup::UnpermuteRope { head_dim, .. } => m.gather_rows(|r| unpermuted_source_row(r, head_dim)),
            Fixup::NeoxQkv { heads, head_dim } => m.gather_rows(|r| neox_qkv_source_row(r, heads, head_dim)),
            _ => m,
        })
    }

    /// The stored tensor, checked to exist, to have the stored layout of canonical `shape`, and to
    /// be of a readable type; marked as read.
    fn view(
        &self,
        tensor: Tensor,
        layer: Option<usize>,
        part: Part,
        shape: &[usize],
    ) -> Result<(TensorView<'a>, DType, Fixup)> {
        let name = self.names.name(tensor, layer, part);
        let fixup = self.names.fixup(tensor, self.config);
        let transposed = fixup == Fixup::Transpose && shape.len() == 2;
        let stored: Vec<usize> = if transposed { vec![shape[1], shape[0]] } else { shape.to_vec() };
        let Some(view) = self.src.get(&name) else {
            return Err(DensiError::MissingTensor { path: self.src.path().to_path_buf(), tensor: name });
        };
        if view.shape != stored {
            return Err(DensiError::TensorShape {
                path: view.file.to_path_buf(),
                tensor: name,
                found: view.shape,
                expected: stored,
            });
        }
        let dtype = *view.dtype.as_ref().map_err(|found| DensiError::UnsupportedTensorType {
            path: view.file.to_path_buf(),
            tensor: name.clone(),
            found: found.clone(),
            supported: self.src.supported_dtypes(),
        })?;
        self.read.borrow_mut().insert(name);
        Ok((view, dtype, fixup))
    }

    /// A `[out, in]` projection and its `[out]` bias as `bias` says.
    pub fn linear(
        &self,
        tensor: Tensor,
        layer: Option<usize>,
        out: usize,
        inp: usize,
        bias: Optional,
    ) -> Result<Linear> {
        let weight = self.matrix(tensor, layer, Part::Weight, out, inp)?;
        let read_bias = match bias {
            Optional::Required => true,
            Optional::IfPresent => self.has(tensor, layer, Part::Bias),
            Optional::Absent => false,
        };
        let bias = if read_bias { Some(self.tensor(tensor, layer, Part::Bias, &[out])?) } else { None };
        Ok(Linear { weight, bias, in_features: inp, out_features: out })
    }

    /// A `[hidden]` norm: LayerNorm has a bias, RMSNorm none.
    pub fn norm(&self, tensor: Tensor, layer: Option<usize>, kind: NormKind) -> Result<Norm> {
        self.norm_of(tensor, layer, kind, self.config.hidden_size)
    }

    /// A norm over rows of `h` values (`[head_dim]` for the q/k norms).
    pub fn norm_of(&self, tensor: Tensor, layer: Option<usize>, kind: NormKind, h: usize) -> Result<Norm> {
        let weight = self.tensor(tensor, layer, Part::Weight, &[h])?;
        let bias = match kind {
            NormKind::LayerNorm => Some(self.tensor(tensor, layer, Part::Bias, &[h])?),
            NormKind::RmsNorm => None,
        };
        Ok(Norm { kind, weight, bias, eps: self.config.norm_eps })
    }

    /// Checks that every tensor of the file was read or is declared unused; the error names the
    /// first few that are neither.
    pub fn finish(self) -> Result<()> {
        let read = self.read.into_inner();
        let unused: Vec<&str> = self
            .src
            .names()
            .into_iter()
            .filter(|n| !read.contains(*n) && !self.names.is_ignored(n, self.config))
            .collect();
        if unused.is_empty() {
            return Ok(());
        }
        const SHOWN: usize = 5;
        let mut list = unused.iter().take(SHOWN).map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
        if unused.len() > SHOWN {
            list.push_str(&format!(" and {} more", unused.len() - SHOWN));
        }
        let (noun, verb) = if unused.len() == 1 { ("tensor", "is") } else { ("tensors", "are") };
        Err(DensiError::InvalidModelFile {
            path: self.src.path().to_path_buf(),
            format: self.src.format(),
            reason: format!(
                "{noun} {list} {verb} not part of a {} model (computing without {} would give wrong numbers)",
                self.config.architecture.name(),
                if unused.len() == 1 { "it" } else { "them" }
            ),
        })
    }
}

/// `[rows, cols]` → `[cols, rows]`.
fn transpose(w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; rows * cols];
    out.par_chunks_mut(rows).enumerate().for_each(|(c, row)| {
        for (r, x) in row.iter_mut().enumerate() {
            *x = w[r * cols + c];
        }
    });
    out
}

/// Undoes llama.cpp's Q/K row permutation (convert_hf_to_gguf.py `permute`): within each head
/// of `head_dim` rows, HF row `s·(head_dim/2) + i` was stored at row `2·i + s` (s ∈ {0, 1}), which
/// turns rotate-half RoPE into ggml's interleaved-pair RoPE. `rows` is `[n_head·head_dim, cols]`.
pub(crate) fn unpermute_rows(rows: &[f32], n_head: usize, head_dim: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; rows.len()];
    for (r, dst) in out.chunks_exact_mut(cols).enumerate().take(n_head * head_dim) {
        let src = unpermuted_source_row(r, head_dim);
        dst.copy_from_slice(&rows[src * cols..(src + 1) * cols]);
    }
    out
}

/// The stored row that canonical row `r` comes from under [`unpermute_rows`]'s permutation.
fn unpermuted_source_row(r: usize, head_dim: usize) -> usize {
    let half = head_dim / 2;
    let (h, s, i) = (r / head_dim, r % head_dim / half, r % half);
    h * head_dim + 2 * i + s
}

/// The stored row of [`Fixup::NeoxQkv`] that canonical row `r` (of q | k | v) comes from: part
/// j ∈ {q, k, v}, head h, dim i is stored at row (h·3 + j)·head_dim + i.
fn neox_qkv_source_row(r: usize, heads: usize, head_dim: usize) -> usize {
    let (j, h, i) = (r / (heads * head_dim), r % (heads * head_dim) / head_dim, r % head_dim);
    (h * 3 + j) * head_dim + i
}

/// Splits a `[3·n, in]` Linear into three `[n, in]` ones (rows q, k, v).
pub(crate) fn split_rows3(l: &Linear) -> [Linear; 3] {
    let n = l.out_features / 3;
    split_rows(l, [n; 3])
}

/// Splits a Linear into consecutive blocks of `rows` rows each (their sum is its `out_features`).
pub(crate) fn split_rows<const N: usize>(l: &Linear, rows: [usize; N]) -> [Linear; N] {
    debug_assert_eq!(rows.iter().sum::<usize>(), l.out_features);
    let start = |j: usize| rows[..j].iter().sum::<usize>();
    std::array::from_fn(|j| {
        let r = start(j)..start(j) + rows[j];
        Linear {
            weight: l.weight.slice_rows(r.clone()),
            bias: l.bias.as_ref().map(|b| b[r].to_vec()),
            in_features: l.in_features,
            out_features: rows[j],
        }
    })
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::model::config::Architecture;
    use crate::model::source::{DType, TensorView};

    /// One tensor of [`Memory`]: name, shape, storage type, bytes.
    type Stored = (String, Vec<usize>, Result<DType, String>, Vec<u8>);

    /// An in-memory checkpoint of F32 tensors, named as given.
    struct Memory {
        path: PathBuf,
        tensors: Vec<Stored>,
    }

    impl Memory {
        fn new(tensors: &[(&str, &[usize])]) -> Memory {
            let tensors = tensors
                .iter()
                .map(|(name, shape)| {
                    let n: usize = shape.iter().product();
                    let bytes = (0..n).flat_map(|i| (i as f32).to_le_bytes()).collect();
                    (name.to_string(), shape.to_vec(), Ok(DType::F32), bytes)
                })
                .collect();
            Memory { path: PathBuf::from("memory.bin"), tensors }
        }
    }

    impl TensorSource for Memory {
        fn names(&self) -> Vec<&str> {
            self.tensors.iter().map(|t| t.0.as_str()).collect()
        }
        fn get(&self, name: &str) -> Option<TensorView<'_>> {
            let t = self.tensors.iter().find(|t| t.0 == name)?;
            Some(TensorView {
                name: &t.0,
                file: &self.path,
                shape: t.1.clone(),
                dtype: t.2.clone(),
                bytes: &t.3,
                shared: None,
            })
        }
        fn path(&self) -> &Path {
            &self.path
        }
        fn format(&self) -> &'static str {
            "memory"
        }
        fn supported_dtypes(&self) -> &'static str {
            "F32"
        }
    }

    /// `{tensor:?}.{layer}.{part}`, with GPT-2's Conv1D transpose on `FfnUp`.
    struct Names;

    impl NameTable for Names {
        fn name(&self, tensor: Tensor, layer: Option<usize>, part: Part) -> String {
            format!("{tensor:?}.{}.{part:?}", layer.unwrap_or(0))
        }
        fn fixup(&self, tensor: Tensor, _: &ModelConfig) -> Fixup {
            if tensor == Tensor::FfnUp { Fixup::Transpose } else { Fixup::None }
        }
        fn is_ignored(&self, name: &str, _: &ModelConfig) -> bool {
            name == "buffer"
        }
    }

    fn config() -> ModelConfig {
        ModelConfig {
            architecture: Architecture::Llama,
            vocab_size: 8,
            hidden_size: 2,
            num_layers: 1,
            num_heads: 1,
            num_kv_heads: 1,
            head_dim: 2,
            intermediate_size: 3,
            context_length: 4,
            rope_theta: 10000.0,
            norm_eps: 1e-5,
            tie_word_embeddings: true,
            attention: Default::default(),
        }
    }

    #[test]
    fn optional_bias_is_a_named_choice() {
        let src = Memory::new(&[("AttnQ.0.Weight", &[2, 2]), ("AttnQ.0.Bias", &[2]), ("AttnK.0.Weight", &[2, 2])]);
        let c = config();
        let w = WeightLoader::new(&src, &Names, &c, WeightStorage::F32);
        // IfPresent reads a bias the file has and skips one it lacks.
        assert_eq!(w.linear(Tensor::AttnQ, Some(0), 2, 2, Optional::IfPresent).unwrap().bias, Some(vec![0.0, 1.0]));
        assert_eq!(w.linear(Tensor::AttnK, Some(0), 2, 2, Optional::IfPresent).unwrap().bias, None);
        // Required fails without it, naming the tensor.
        match w.linear(Tensor::AttnK, Some(0), 2, 2, Optional::Required) {
            Err(DensiError::MissingTensor { tensor, .. }) => assert_eq!(tensor, "AttnK.0.Bias"),
            other => panic!("{other:?}"),
        }
        // Absent does not read it, so the bias the file has is left unread: an error naming it.
        let w = WeightLoader::new(&src, &Names, &c, WeightStorage::F32);
        assert_eq!(w.linear(Tensor::AttnQ, Some(0), 2, 2, Optional::Absent).unwrap().bias, None);
        w.tensor(Tensor::AttnK, Some(0), Part::Weight, &[2, 2]).unwrap();
        let err = w.finish().unwrap_err().to_string();
        assert!(err.contains("memory.bin") && err.contains("`AttnQ.0.Bias`"), "{err}");
    }

    #[test]
    fn tensors_no_mapping_reads_are_named() {
        let src = Memory::new(&[("AttnQ.0.Weight", &[2, 2]), ("buffer", &[1]), ("rope_freqs", &[1])]);
        let c = config();
        let w = WeightLoader::new(&src, &Names, &c, WeightStorage::F32);
        w.tensor(Tensor::AttnQ, Some(0), Part::Weight, &[2, 2]).unwrap();
        // `buffer` is declared unused by the name table; `rope_freqs` is not.
        match w.finish() {
            Err(DensiError::InvalidModelFile { reason, .. }) => {
                assert!(reason.contains("`rope_freqs`") && !reason.contains("buffer"), "{reason}");
                assert!(reason.contains("llama"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        let w = WeightLoader::new(&src, &Names, &c, WeightStorage::F32);
        assert!(w.finish().unwrap_err().to_string().contains("`AttnQ.0.Weight`, `rope_freqs`"));
    }

    #[test]
    fn fixups_shapes_and_types() {
        let mut src = Memory::new(&[("FfnUp.0.Weight", &[2, 3]), ("FfnGate.0.Weight", &[3, 2])]);
        let c = config();
        let w = WeightLoader::new(&src, &Names, &c, WeightStorage::F32);
        // Stored [in 2, out 3] = [[0 1 2] [3 4 5]] → canonical [out 3, in 2].
        let up = w.tensor(Tensor::FfnUp, Some(0), Part::Weight, &[3, 2]).unwrap();
        assert_eq!(up, [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        // A shape error names the stored layout the file should have had.
        match w.tensor(Tensor::FfnGate, Some(0), Part::Weight, &[2, 3]) {
            Err(DensiError::TensorShape { tensor, found, expected, .. }) => {
                assert_eq!((tensor.as_str(), found, expected), ("FfnGate.0.Weight", vec![3, 2], vec![2, 3]));
            }
            other => panic!("{other:?}"),
        }
        src.tensors[1].2 = Err("I32".into());
        let w = WeightLoader::new(&src, &Names, &c, WeightStorage::F32);
        let err = w.tensor(Tensor::FfnGate, Some(0), Part::Weight, &[3, 2]).unwrap_err();
        assert!(matches!(err, DensiError::UnsupportedTensorType { .. }), "{err:?}");
        assert!(err.to_string().contains("I32") && err.to_string().contains("FfnGate.0.Weight"), "{err}");
    }

    #[test]
    fn unpermute_inverts_the_converters_permutation() {
        // convert_hf_to_gguf: w.reshape(n_head, 2, hd/2, cols).swapaxes(1, 2).reshape(...)
        let (n_head, hd, cols) = (2, 4, 3);
        let hf: Vec<f32> = (0..n_head * hd * cols).map(|x| x as f32).collect();
        let mut gguf = vec![0f32; hf.len()];
        for h in 0..n_head {
            for i in 0..hd / 2 {
                for s in 0..2 {
                    let src = (h * hd + s * hd / 2 + i) * cols;
                    let dst = (h * hd + i * 2 + s) * cols;
                    gguf[dst..dst + cols].copy_from_slice(&hf[src..src + cols]);
                }
            }
        }
        assert_eq!(unpermute_rows(&gguf, n_head, hd, cols), hf);
    }
}
