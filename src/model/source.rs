//! One view of a checkpoint, whatever its file format: a [`TensorSource`] lists its tensors and
//! hands out each one as a [`TensorView`] (name, shape, storage type, bytes borrowed from the
//! map). Nothing here converts: turning the bytes into f32 is the explicit [`super::dequant`] step,
//! so a later backend can keep quantized weights as they are on disk.

use std::path::Path;

/// A storage type this crate can read, over every format: safetensors stores F32/F16/BF16,
/// GGUF those and the GGML block quantizations (layouts in `gguf::quants`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum DType {
    F32,
    F16,
    BF16,
    Q8_0,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q4_K,
    Q5_K,
    Q6_K,
    Q2_K,
    Q3_K,
    IQ4_NL,
    IQ4_XS,
}

impl DType {
    /// Every storage type, in the order above (tests cover each one).
    pub const ALL: [DType; 15] = [
        DType::F32,
        DType::F16,
        DType::BF16,
        DType::Q8_0,
        DType::Q4_0,
        DType::Q4_1,
        DType::Q5_0,
        DType::Q5_1,
        DType::Q4_K,
        DType::Q5_K,
        DType::Q6_K,
        DType::Q2_K,
        DType::Q3_K,
        DType::IQ4_NL,
        DType::IQ4_XS,
    ];

    /// The name ggml, safetensors and `densi info` use (`Q4_1`, `BF16`).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "F32",
            DType::F16 => "F16",
            DType::BF16 => "BF16",
            DType::Q8_0 => "Q8_0",
            DType::Q4_0 => "Q4_0",
            DType::Q4_1 => "Q4_1",
            DType::Q5_0 => "Q5_0",
            DType::Q5_1 => "Q5_1",
            DType::Q4_K => "Q4_K",
            DType::Q5_K => "Q5_K",
            DType::Q6_K => "Q6_K",
            DType::Q2_K => "Q2_K",
            DType::Q3_K => "Q3_K",
            DType::IQ4_NL => "IQ4_NL",
            DType::IQ4_XS => "IQ4_XS",
        }
    }
}

/// One tensor of a checkpoint, borrowed from its file.
#[derive(Clone)]
pub struct TensorView<'a> {
    pub name: &'a str,
    /// The file that holds it (sharded checkpoints have several).
    pub file: &'a Path,
    /// Outermost dimension first (PyTorch order), as stored.
    pub shape: Vec<usize>,
    /// The storage type, or the file's name for a type this crate cannot read (`I32`, `ggml type 99`).
    pub dtype: Result<DType, String>,
    /// The stored bytes (in bounds and of the right length for a readable type; checked when the
    /// header was parsed). Empty when the type's layout is unknown.
    pub bytes: &'a [u8],
    /// The shared buffer `bytes` lies in and their range there, so a resident
    /// [`Matrix`](super::matrix::Matrix) can keep borrowing them; `None` for a source that cannot share.
    pub shared: Option<(&'a super::matrix::SharedBytes, std::ops::Range<usize>)>,
}

impl std::fmt::Debug for TensorView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TensorView")
            .field("name", &self.name)
            .field("file", &self.file)
            .field("shape", &self.shape)
            .field("dtype", &self.dtype)
            .field("bytes", &self.bytes.len())
            .field("shared", &self.shared.as_ref().map(|s| s.1.clone()))
            .finish()
    }
}

impl TensorView<'_> {
    /// The storage type's name, readable or not.
    pub fn dtype_name(&self) -> String {
        match &self.dtype {
            Ok(d) => d.name().to_string(),
            Err(name) => name.clone(),
        }
    }

    pub fn n_elements(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A checkpoint's tensors by name: a GGUF file, or one or more safetensors files.
pub trait TensorSource {
    /// Every tensor's name, in a stable order (file order, or sorted).
    fn names(&self) -> Vec<&str>;

    /// The tensor `name`, or `None` when the checkpoint has none of that name.
    fn get(&self, name: &str) -> Option<TensorView<'_>>;

    /// The file that errors about an absent tensor name.
    fn path(&self) -> &Path;

    /// `InvalidModelFile`'s format word: `GGUF` or `safetensors`.
    fn format(&self) -> &'static str;

    /// The storage types of this format that [`super::dequant`] reads, for error messages.
    fn supported_dtypes(&self) -> &'static str;

    fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// Storage types of the matrices (tensors of 2 or more dimensions), most common first, ties by
/// name: `Q4_1`, `F16`, or `mixed Q4_1/Q8_0`. The `weight_dtype` of `densi info` and exports.
pub fn weight_dtype_summary(src: &dyn TensorSource) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for t in src.names().into_iter().filter_map(|n| src.get(n)).filter(|t| t.shape.len() >= 2) {
        let name = t.dtype_name();
        match counts.iter_mut().find(|(n, _)| *n == name) {
            Some((_, c)) => *c += 1,
            None => counts.push((name, 1)),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    match counts.len() {
        0 => "none".to_string(),
        1 => counts[0].0.clone(),
        _ => format!("mixed {}", counts.iter().map(|c| c.0.as_str()).collect::<Vec<_>>().join("/")),
    }
}
