//! The Rust ↔ WGSL contract, written once, here: every kernel's parameter block (a `#[repr(C)]`
//! Pod struct), its bindings by name, and the named constants both sides use (activations, flags,
//! the lm-head's record layouts). The WGSL side is generated from these definitions and put in
//! front of each `shaders/*.wgsl` source ([`prelude`]), so the two cannot drift; the shaders
//! declare none of it themselves (a test checks that too).

use bytemuck::{Pod, Zeroable};

use crate::dtype::Dtype;
use crate::model::DType;

/// Fused activation of a matmul's epilogue (`MatmulParams::act` holds its code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    None,
    /// GPT-2's tanh-approximated GELU (its MLP `fc`).
    GeluNew,
    /// silu(x·Wᵀ + b) · aux (SwiGLU; aux holds up(x)).
    SiluMul,
    /// The whole SwiGLU in one matmul: W = gate stacked over up ([2·N, K], one chunk),
    /// out = silu(x·gateᵀ + b_g) · (x·upᵀ + b_u).
    SwiGlu,
    /// The exact GELU, 0.5·v·(1 + erf(v/√2)) (GPT-NeoX's MLP `fc`).
    GeluErf,
    /// gelu_tanh(x·Wᵀ + b) · aux (GeGLU with gate and up apart; aux holds up(x)).
    GeluMul,
    /// The whole GeGLU in one matmul, as [`Act::SwiGlu`] with gelu_tanh for silu (Gemma).
    GeGlu,
}

pub const ACT_NONE: u32 = 0;
pub const ACT_GELU_NEW: u32 = 1;
pub const ACT_SILU_MUL: u32 = 2;
pub const ACT_SWIGLU: u32 = 3;
pub const ACT_GELU_ERF: u32 = 4;
pub const ACT_GELU_MUL: u32 = 5;
pub const ACT_GEGLU: u32 = 6;

impl Act {
    /// The code the kernel compares `p.act` against.
    pub fn code(self) -> u32 {
        match self {
            Act::None => ACT_NONE,
            Act::GeluNew => ACT_GELU_NEW,
            Act::SiluMul => ACT_SILU_MUL,
            Act::SwiGlu => ACT_SWIGLU,
            Act::GeluErf => ACT_GELU_ERF,
            Act::GeluMul => ACT_GELU_MUL,
            Act::GeGlu => ACT_GEGLU,
        }
    }
}
/// `MatmulParams::flags`: add the bias.
pub const MATMUL_BIAS: u32 = 1;
/// `MatmulParams::flags`: accumulate into `out` (the residual add).
pub const MATMUL_ACC: u32 = 2;
/// `MatmulParams::flags`: RMS-normalize each x row as it is loaded (the RMSNorm before the matmul,
/// folded in): x[m, k] · w_norm[k] / sqrt(mean_k x[m, k]² + eps).
pub const MATMUL_RMS: u32 = 4;
/// `NormParams::kind`.
pub const NORM_RMS: u32 = 0;
pub const NORM_LAYER: u32 = 1;

/// Largest top-k the lm-head kernels keep (the size of their private top-k lists).
pub const LM_KMAX: u32 = 16;
/// 64-column tiles per lm-head workgroup: one workgroup covers `LM_VBLOCK` vocabulary ids.
pub const LM_NT: u32 = 32;
/// Vocabulary ids per lm-head `tile` workgroup.
pub const LM_VBLOCK: u32 = LM_NT * 64;
/// Records each `tile` workgroup writes per row (one per 16-column group of a 64-column tile).
pub const LM_REC_PER_BLOCK: u32 = 4;
/// Words before the top-k list in one partial record: m, S0, S1, S2, count above the target, SB
/// (Σ e^(z−m) over the word-boundary set).
pub const LM_REC_HEAD: u32 = 6;
/// Words before the top-k list in one merged row: the record's six, then z_t.
pub const LM_OUT_HEAD: u32 = 7;
/// Id of an empty top-k slot.
pub const LM_NO_ID: u32 = u32::MAX;

/// Threads per query row in attention.wgsl; the subgroup row reductions need subgroups of at least
/// this many invocations.
pub const ATT_TPR: u32 = 4;
/// Rows (position, query head) per attention workgroup: ATT_RW · ATT_TPR = 64 threads.
pub const ATT_RW: u32 = 16;
/// Largest head_dim attention.wgsl takes. The kernel is compiled with its arrays sized for
/// [`att_hd_cap`]`(head_dim)` (128 or 256), so models with heads of ≤ 128 keep the smaller registers
/// and workgroup memory.
pub const ATT_HD_MAX: u32 = 256;
/// The smaller of attention.wgsl's two array sizes.
pub const ATT_HD_SMALL: u32 = 128;
/// Most keys per K/V tile.
pub const ATT_BK_MAX: u32 = 32;
/// Floats of one K or V tile: BK · head_dim ≤ this (the kernel compiled for heads of ≤ 128; see
/// [`att_kv_floats`]).
pub const ATT_KV_FLOATS: u32 = 2048;

/// Floats of one K or V tile in the kernel compiled for heads of up to `hd_cap` (`KV_FLOATS` in the
/// module): ATT_KV_FLOATS for 128, half that for 256, so that its larger Q block still leaves the
/// workgroup memory within 32 KiB (4 keys per tile for heads of 256).
pub fn att_kv_floats(hd_cap: u32) -> u32 {
    ATT_KV_FLOATS * ATT_HD_SMALL / hd_cap
}

/// Keys per attention K/V tile for `head_dim` (the pipeline constant `BK`): as many as fit
/// [`att_kv_floats`], at most ATT_BK_MAX, a multiple of ATT_TPR.
pub fn att_tile_keys(head_dim: u32) -> u32 {
    (att_kv_floats(att_hd_cap(head_dim)) / head_dim.max(1)).min(ATT_BK_MAX) / ATT_TPR * ATT_TPR
}

/// The head_dim attention.wgsl's arrays are sized for (`HD_CAP` in the module): 128, or
/// [`ATT_HD_MAX`] for larger heads (Gemma's 256).
pub fn att_hd_cap(head_dim: u32) -> u32 {
    if head_dim <= ATT_HD_SMALL { ATT_HD_SMALL } else { ATT_HD_MAX }
}

/// Words of one partial record with top-k `k`: head, then k × (logit, id).
pub fn lm_rec_stride(k: usize) -> usize {
    LM_REC_HEAD as usize + 2 * k
}

/// Words of one merged row with top-k `k`: head, then k × (logit, id).
pub fn lm_out_stride(k: usize) -> usize {
    LM_OUT_HEAD as usize + 2 * k
}

/// The matmul core (shaders/mm_core.wgsl): K step of one shared-memory tile.
pub const MM_BK: u32 = 32;
/// Output columns per workgroup tile.
pub const MM_BN: u32 = 64;
/// Threads across the columns of a tile; thread `tx` owns columns `tx + MM_TX·j`, j < MM_TN, so the
/// lanes of a warp read consecutive tile rows.
pub const MM_TX: u32 = 16;
/// Output columns per thread (one vec4 accumulator per row).
pub const MM_TN: u32 = MM_BN / MM_TX;
/// Floats per shared-tile row: MM_BK values then one vec4 of padding, so that consecutive rows start
/// on different 16-byte bank groups (a stride of 9 vec4: rows r and r+1 differ by one group mod 8).
pub const MM_STRIDE: u32 = MM_BK + 4;
/// Vec4 slots per shared-tile row.
pub const MM_SV: u32 = MM_STRIDE / 4;
/// Most rows one thread computes (the size of its private accumulator array).
pub const MM_TM_MAX: u32 = 8;
/// Largest tile height (rows of x per workgroup): the x tile's share of the shared memory.
pub const MM_BM_MAX: u32 = 64;
/// Fewest thread rows a tile shape may have (the W tile's prefetch registers are sized for it).
pub const MM_TY_MIN: u32 = 4;
/// Vec4 slots of the shared memory: the x tile [MM_BM_MAX][MM_SV], then the W tile [MM_BN][MM_SV].
pub const MM_SMEM_VEC4: u32 = (MM_BM_MAX + MM_BN) * MM_SV;
/// First vec4 slot of the W tile.
pub const MM_WOFF: u32 = MM_BM_MAX * MM_SV;
/// Prefetch registers per thread: x tile vec4s (BM·MM_BK/4 over MM_TX·TY threads, at most TM_MAX/2)
/// and W tile vec4s (MM_BN·MM_BK/4 over MM_TX·TY threads, at most for TY = MM_TY_MIN).
pub const MM_XR_MAX: u32 = MM_TM_MAX * MM_BK / (4 * MM_TX);
pub const MM_WR_MAX: u32 = MM_BN * MM_BK / (4 * MM_TX * MM_TY_MIN);

/// Shared-memory slot (vec4 index) of row `row`, k-quad `kq` of the x tile; the W tile's rows start
/// at [`MM_WOFF`]. mm_core.wgsl uses the generated `mm_slot`, the same expression.
pub fn mm_slot(row: u32, kq: u32) -> u32 {
    row * MM_SV + kq
}

/// One tile shape of the matmul core: `tm` rows per thread, `ty` thread rows (pipeline constants
/// TM and TY): a (tm·ty) × MM_BN tile computed by MM_TX·ty threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MmShape {
    pub tm: u32,
    pub ty: u32,
}

impl MmShape {
    /// Output rows per workgroup (BM).
    pub fn rows(self) -> u32 {
        self.tm * self.ty
    }
    /// Threads per workgroup.
    pub fn threads(self) -> u32 {
        MM_TX * self.ty
    }
    /// x-tile vec4s each thread loads per K step.
    pub fn x_loads(self) -> u32 {
        self.rows() * MM_BK / 4 / self.threads()
    }
    /// W-tile vec4s each thread loads per K step.
    pub fn w_loads(self) -> u32 {
        MM_BN * MM_BK / 4 / self.threads()
    }
}

/// Matmul tiles: 64 rows (8 × 4 outputs per thread), 32 and 16 rows (narrower tiles for short windows
/// and for the narrow GEMMs, N = hidden, whose 64-row grids would fill a large GPU about once).
pub const MM_TILES: [MmShape; 3] = [MmShape { tm: 8, ty: 8 }, MmShape { tm: 4, ty: 8 }, MmShape { tm: 2, ty: 8 }];
/// lm-head tiles (64 and 16 rows): 4 rows per thread, so that the fold phase has 4 threads per row
/// (LM_REC_PER_BLOCK records of 16 columns each).
pub const LM_TILES: [MmShape; 2] = [MmShape { tm: 4, ty: 16 }, MmShape { tm: 4, ty: 4 }];

// Each shape divides its loads evenly over its threads and fits the private arrays.
const _: () = {
    let all = [MM_TILES[0], MM_TILES[1], MM_TILES[2], LM_TILES[0], LM_TILES[1]];
    let mut i = 0;
    while i < all.len() {
        let s = all[i];
        assert!(s.tm <= MM_TM_MAX && s.tm.is_multiple_of(2) && s.ty >= MM_TY_MIN && s.tm * s.ty <= MM_BM_MAX);
        assert!(
            (s.tm * s.ty * MM_BK / 4).is_multiple_of(MM_TX * s.ty) && (MM_BN * MM_BK / 4).is_multiple_of(MM_TX * s.ty)
        );
        i += 1;
    }
    // lm-head: 4 fold threads per row, each folding 16 of the 64 columns into one record.
    assert!(LM_TILES[0].tm * LM_REC_PER_BLOCK == MM_TX && LM_TILES[1].tm * LM_REC_PER_BLOCK == MM_TX);
    // mm_multiply reads MM_TN = 4 W rows per k-quad into b0 .. b3.
    assert!(MM_TN == 4 && MM_BN == 64 && MM_BN * MM_BM_MAX <= 4 * MM_SMEM_VEC4);
};

/// The constants above as WGSL declarations.
pub fn constants() -> String {
    let u = |name: &str, v: u32| format!("const {name}: u32 = {v}u;\n");
    [
        u("ACT_NONE", ACT_NONE),
        u("ACT_GELU_NEW", ACT_GELU_NEW),
        u("ACT_SILU_MUL", ACT_SILU_MUL),
        u("ACT_SWIGLU", ACT_SWIGLU),
        u("ACT_GELU_ERF", ACT_GELU_ERF),
        u("ACT_GELU_MUL", ACT_GELU_MUL),
        u("ACT_GEGLU", ACT_GEGLU),
        u("MATMUL_BIAS", MATMUL_BIAS),
        u("MATMUL_ACC", MATMUL_ACC),
        u("MATMUL_RMS", MATMUL_RMS),
        u("NORM_RMS", NORM_RMS),
        u("NORM_LAYER", NORM_LAYER),
        u("LM_KMAX", LM_KMAX),
        u("LM_NT", LM_NT),
        u("LM_REC_PER_BLOCK", LM_REC_PER_BLOCK),
        u("LM_REC_HEAD", LM_REC_HEAD),
        u("LM_OUT_HEAD", LM_OUT_HEAD),
        u("LM_NO_ID", LM_NO_ID),
        u("ATT_TPR", ATT_TPR),
        u("ATT_RW", ATT_RW),
        u("ATT_HD_MAX", ATT_HD_MAX),
        u("ATT_BK_MAX", ATT_BK_MAX),
        u("ATT_KV_FLOATS", ATT_KV_FLOATS),
        u("MM_BK", MM_BK),
        u("MM_BN", MM_BN),
        u("MM_TX", MM_TX),
        u("MM_TN", MM_TN),
        u("MM_SV", MM_SV),
        u("MM_TM_MAX", MM_TM_MAX),
        u("MM_BM_MAX", MM_BM_MAX),
        u("MM_SMEM_VEC4", MM_SMEM_VEC4),
        u("MM_WOFF", MM_WOFF),
        u("MM_XR_MAX", MM_XR_MAX),
        u("MM_WR_MAX", MM_WR_MAX),
        // The shared-tile layout, the same expression as `mm_slot` in Rust.
        "fn mm_slot(row: u32, kq: u32) -> u32 { return row * MM_SV + kq; }\n".to_string(),
    ]
    .concat()
}

/// Defines a parameter block: the Rust struct and its field list for the WGSL `struct Params`.
/// Uniform blocks are padded to 16 bytes (`_p*` fields), and every block fits one 64-byte slot.
macro_rules! params {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $f:ident : $t:ident),* $(,)? }) => {
        $(#[$m])*
        #[repr(C)]
        #[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable)]
        pub struct $name {
            $($(#[$fm])* pub $f: $t,)*
        }
        impl ParamBlock for $name {
            const FIELDS: &'static [(&'static str, &'static str)] = &[$((stringify!($f), stringify!($t))),*];
        }
        const _: () = assert!(size_of::<$name>() % 16 == 0 && size_of::<$name>() <= PARAM_BYTES as usize);
    };
}

/// Bytes per parameter slot in the uniform buffer.
pub const PARAM_BYTES: u64 = 64;

/// A kernel's uniform parameter block.
pub trait ParamBlock: Pod {
    /// (name, WGSL type) of each field, in order.
    const FIELDS: &'static [(&'static str, &'static str)];

    /// The block in one 64-byte parameter slot.
    fn slot(&self) -> [u8; PARAM_BYTES as usize] {
        let mut out = [0u8; PARAM_BYTES as usize];
        let bytes = bytemuck::bytes_of(self);
        out[..bytes.len()].copy_from_slice(bytes);
        out
    }
}

params!(
    /// embedding.wgsl: rows row0 .. row0+rows of the token embedding, for tokens tok0 .. t (positions;
    /// tok0 > 0 when the first ones come from the prefix cache), times `scale` (1, or Gemma's √hidden).
    EmbedParams { t: u32, h: u32, row0: u32, rows: u32, has_pos: u32, scale: f32, tok0: u32, _p2: u32 }
);
params!(
    /// norms.wgsl: `kind` is NORM_RMS or NORM_LAYER. Norm row r (< rows) is the `h` values at
    /// (r / heads)·stride + col + (r % heads)·h: whole rows (heads 1, stride h, col 0) or the heads of
    /// q or k in the qkv rows (q/k norm). `in_place` = 1 reads `out` instead of `x`; `acc` = 1 adds
    /// the result to `out` (a post-norm and its residual add). Token rows start at `tok0` (norm row r
    /// lies in token row tok0 + r / heads: the positions after a reused prefix).
    NormParams {
        rows: u32,
        h: u32,
        kind: u32,
        has_bias: u32,
        eps: f32,
        heads: u32,
        stride: u32,
        col: u32,
        in_place: u32,
        acc: u32,
        tok0: u32,
        _p1: u32,
    }
);
params!(
    /// matmul.wgsl: out[:, n0 .. n0+nc] of an [n, k] linear over m rows; `act` ACT_*, `flags` MATMUL_*;
    /// `eps` the folded RMSNorm's (MATMUL_RMS). The m rows are rows row0 .. row0+m of x, out and aux
    /// (row0 > 0: the positions after a reused prefix).
    MatmulParams {
        m: u32,
        n: u32,
        k: u32,
        n0: u32,
        nc: u32,
        act: u32,
        flags: u32,
        eps: f32,
        row0: u32,
        _p0: u32,
        _p1: u32,
        _p2: u32,
    }
);
params!(
    /// attention.wgsl: q, k, v at columns 0, koff, voff of each `stride`-wide qkv row; `rope` = 1
    /// rotates the first `rot` dims of q and k as they are loaded. Scores are q·k · `scale`, then
    /// c · tanh(s / c) with `softcap` = c > 0; `window` > 0 keeps keys pos − window < j ≤ pos only.
    /// head_dim is the pipeline constant `HD`. Queries are positions q0 .. t (q0 > 0: the keys and
    /// values of positions 0 .. q0 are a reused prefix's, already in qkv), keys 0 ..= the query's.
    AttentionParams {
        t: u32,
        nh: u32,
        nkv: u32,
        stride: u32,
        koff: u32,
        voff: u32,
        scale: f32,
        rope: u32,
        rot: u32,
        window: u32,
        softcap: f32,
        q0: u32,
    }
);
params!(
    /// lmhead.wgsl (all three entry points).
    LmParams {
        /// Scored rows.
        r: u32,
        /// Hidden size.
        h: u32,
        /// Hidden row of the first scored position.
        row0: u32,
        /// First vocabulary id of this chunk.
        v0: u32,
        /// Vocabulary ids in this chunk.
        vc: u32,
        /// First LM_VBLOCK-id vocabulary block of this chunk (tile).
        block0: u32,
        /// Records per row.
        nrec: u32,
        /// Top-k.
        k: u32,
        has_bias: u32,
        /// 1: the final RMSNorm folded in (x rows normalized as they are loaded, weight `norm_w`).
        rms: u32,
        /// Its eps.
        eps: f32,
        /// Final-logit soft-capping c · tanh(z / c) with c > 0 (Gemma 2); 0: none.
        softcap: f32,
    }
);

/// How a kernel may use a bound buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    ReadWrite,
}

/// One storage binding: its index, WGSL name, access and element type (`WEIGHTS` = the weight dtype).
pub type Binding = (u32, &'static str, Access, &'static str);

/// The element type of the weight binding, substituted per [`Dtype`].
const WEIGHTS: &str = "weights";

/// Binding 0 of every kernel is its parameter block.
pub const PARAMS: u32 = 0;

/// Binding indices of each kernel, by name (Rust names the buffers it binds with these).
pub mod bind {
    pub mod embed {
        pub const IDS: u32 = 1;
        pub const W: u32 = 2;
        pub const POS: u32 = 3;
        pub const OUT: u32 = 4;
    }
    pub mod norm {
        pub const X: u32 = 1;
        pub const WEIGHT: u32 = 2;
        pub const BIAS: u32 = 3;
        pub const OUT: u32 = 4;
    }
    pub mod matmul {
        pub const X: u32 = 1;
        pub const W: u32 = 2;
        pub const BIAS: u32 = 3;
        pub const AUX: u32 = 4;
        pub const OUT: u32 = 5;
        pub const NORM: u32 = 6;
    }
    pub mod attention {
        pub const QKV: u32 = 1;
        pub const OUT: u32 = 2;
        /// RoPE tables [t, head_dim/2] (`cpu::ops::rope_tables`).
        pub const COS: u32 = 3;
        pub const SIN: u32 = 4;
    }
    pub mod lm {
        pub const X: u32 = 1;
        pub const W: u32 = 2;
        pub const BIAS: u32 = 3;
        pub const TARGETS: u32 = 4;
        pub const ZT: u32 = 5;
        pub const PART: u32 = 6;
        pub const MERGED: u32 = 7;
        /// The word-boundary set as a bitset over the vocabulary (`metrics::BoundaryMask::words`).
        pub const BOUNDARY: u32 = 8;
        /// The folded final RMSNorm's weight (`LmParams::rms`).
        pub const NORM: u32 = 9;
    }
}

/// How the GPU holds one weight matrix, and so which weight reader (`shaders/weights_*.wgsl`) the
/// kernels that read it are compiled with: one pipeline per format, no per-element branch on type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    /// f32 values (array<f32>).
    F32,
    /// f16 values (`array<vec4<f16>>`, 4 halves per load; needs SHADER_F16): F16 and BF16 tensors
    /// under `--dtype auto`, any float tensor under `--dtype f16`.
    F16,
    /// The file's bytes as they are, as u32 words, unpacked in the shader: F16 and BF16 two values a
    /// word, the GGML block types block by block.
    Stored(DType),
}

impl WeightFormat {
    /// Whether the shaders unpack `dtype`'s stored blocks themselves (a `weights_<type>.wgsl` reader).
    pub fn unpacks(dtype: DType) -> bool {
        matches!(
            dtype,
            DType::F16
                | DType::BF16
                | DType::Q8_0
                | DType::Q4_0
                | DType::Q4_1
                | DType::Q5_0
                | DType::Q5_1
                | DType::Q4_K
                | DType::Q5_K
                | DType::Q6_K
        )
    }

    /// The one storage choice: how the GPU holds a tensor stored as `stored` in the file under
    /// `--dtype dtype`, on an adapter with (`shader_f16`) or without SHADER_F16.
    /// - F32: f32 values, f16 only under `--dtype f16`.
    /// - F16 and BF16: f16 values (`array<vec4<f16>>`, vec4 loads) under `auto` where the adapter
    ///   has SHADER_F16 and under `f16`; else their stored words, read exactly in f32 (`auto`
    ///   without SHADER_F16, and `f32`). F16 → f16 is the file's bytes; BF16 → f16 rounds only
    ///   below f16's normal range, and a BF16 tensor beyond its range (|v| > 65504) keeps its
    ///   stored words instead (`forward::upload_weights` checks and says so).
    /// - The types the shaders unpack: as stored; IQ4_NL as Q8_0 (the same f16 scale times a table
    ///   value that fits an i8), Q3_K as Q6_K (the same scale and 6-bit sub-scales of 16 values,
    ///   3-bit quants fit in 6 bits), both exact, converted once at upload (`forward::convert_blocks`).
    /// - Q2_K and IQ4_XS: expanded once (no reader, and no supported type holds them exactly:
    ///   Q2_K's mins per 16 values, IQ4_XS's sub-scale times the table needs more than an f16), to
    ///   f16 under `--dtype f16`, else to f32.
    pub fn for_stored(stored: DType, dtype: Dtype, shader_f16: bool) -> WeightFormat {
        match (stored, dtype) {
            (DType::F32, Dtype::F16) => WeightFormat::F16,
            (DType::F32, _) => WeightFormat::F32,
            (DType::F16 | DType::BF16, Dtype::F16) => WeightFormat::F16,
            (DType::F16 | DType::BF16, Dtype::Auto) if shader_f16 => WeightFormat::F16,
            (t, _) if WeightFormat::unpacks(t) => WeightFormat::Stored(t),
            (DType::IQ4_NL, _) => WeightFormat::Stored(DType::Q8_0),
            (DType::Q3_K, _) => WeightFormat::Stored(DType::Q6_K),
            (_, Dtype::F16) => WeightFormat::F16,
            _ => WeightFormat::F32,
        }
    }

    /// What `densi info` says the GPU holds for a tensor stored as `stored` under `--dtype dtype`
    /// (both cases where the adapter's SHADER_F16 decides).
    pub fn describe_stored(stored: DType, dtype: Dtype) -> String {
        let say = |f: WeightFormat| match f {
            WeightFormat::Stored(t) if t == stored => {
                if matches!(t, DType::F16 | DType::BF16) {
                    format!("{} words as stored, read exactly in f32", t.name())
                } else {
                    format!("{} blocks as stored, unpacked in the shader", t.name())
                }
            }
            WeightFormat::Stored(t) => {
                format!("converted once at upload to {} (exact), unpacked in the shader", t.name())
            }
            WeightFormat::F16 if stored == DType::F16 => "f16 values (the file's bytes), vec4<f16> loads".into(),
            WeightFormat::F16 if stored == DType::BF16 => {
                "converted once at upload to f16 values (f16's range checked), vec4<f16> loads".into()
            }
            f if stored == DType::F32 => format!("{} values", f.name()),
            f => format!("expanded once at upload to {} values (no shader reader for {})", f.name(), stored.name()),
        };
        let (with, without) =
            (WeightFormat::for_stored(stored, dtype, true), WeightFormat::for_stored(stored, dtype, false));
        if with == without { say(with) } else { format!("{} with SHADER_F16, else {}", say(with), say(without)) }
    }

    /// Short name: `f32`, `f16`, or the stored type's.
    pub fn name(self) -> &'static str {
        match self {
            WeightFormat::F32 => "f32",
            WeightFormat::F16 => "f16",
            WeightFormat::Stored(t) => t.name(),
        }
    }

    /// WGSL element type of the weight binding.
    fn element(self) -> &'static str {
        match self {
            WeightFormat::F32 => "f32",
            WeightFormat::F16 => "vec4<f16>",
            WeightFormat::Stored(_) => "u32",
        }
    }

    /// The weight reader: (shared byte helpers, the format's `wload4`).
    fn reader(self) -> [&'static str; 2] {
        let blocks = include_str!("../../shaders/weights_blocks.wgsl");
        match self {
            WeightFormat::F32 => ["", include_str!("../../shaders/weights_f32.wgsl")],
            WeightFormat::F16 => ["", include_str!("../../shaders/weights_f16.wgsl")],
            WeightFormat::Stored(t) => [
                blocks,
                match t {
                    DType::F32 => include_str!("../../shaders/weights_f32_words.wgsl"),
                    DType::F16 => include_str!("../../shaders/weights_f16_words.wgsl"),
                    DType::BF16 => include_str!("../../shaders/weights_bf16.wgsl"),
                    DType::Q8_0 => include_str!("../../shaders/weights_q8_0.wgsl"),
                    DType::Q4_0 => include_str!("../../shaders/weights_q4_0.wgsl"),
                    DType::Q4_1 => include_str!("../../shaders/weights_q4_1.wgsl"),
                    DType::Q5_0 => include_str!("../../shaders/weights_q5_0.wgsl"),
                    DType::Q5_1 => include_str!("../../shaders/weights_q5_1.wgsl"),
                    DType::Q4_K => include_str!("../../shaders/weights_q4_k.wgsl"),
                    DType::Q5_K => include_str!("../../shaders/weights_q5_k.wgsl"),
                    DType::Q6_K => include_str!("../../shaders/weights_q6_k.wgsl"),
                    // No reader: for_stored never picks these (expanded or converted at upload).
                    DType::Q2_K | DType::Q3_K | DType::IQ4_NL | DType::IQ4_XS => "",
                },
            ],
        }
    }
}

impl From<Dtype> for WeightFormat {
    fn from(d: Dtype) -> WeightFormat {
        match d {
            Dtype::Auto | Dtype::F32 => WeightFormat::F32,
            Dtype::F16 => WeightFormat::F16,
        }
    }
}

/// The matmul core shared by matmul.wgsl and lmhead.wgsl.
pub const MM_CORE: &str = include_str!("../../shaders/mm_core.wgsl");

/// Each WGSL source and what the contract gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shader {
    Embedding,
    Norms,
    Matmul,
    Attention,
    LmHead,
}

impl Shader {
    pub const ALL: [Shader; 5] = [Shader::Embedding, Shader::Norms, Shader::Matmul, Shader::Attention, Shader::LmHead];

    /// The kernel source in `shaders/`, without the contract.
    pub fn source(self) -> &'static str {
        match self {
            Shader::Embedding => include_str!("../../shaders/embedding.wgsl"),
            Shader::Norms => include_str!("../../shaders/norms.wgsl"),
            Shader::Matmul => include_str!("../../shaders/matmul.wgsl"),
            Shader::Attention => include_str!("../../shaders/attention.wgsl"),
            Shader::LmHead => include_str!("../../shaders/lmhead.wgsl"),
        }
    }

    /// (name, WGSL type) of each field of this shader's parameter block.
    pub fn param_fields(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Shader::Embedding => EmbedParams::FIELDS,
            Shader::Norms => NormParams::FIELDS,
            Shader::Matmul => MatmulParams::FIELDS,
            Shader::Attention => AttentionParams::FIELDS,
            Shader::LmHead => LmParams::FIELDS,
        }
    }

    /// The storage bindings of this shader (binding 0, the parameters, comes on top).
    pub fn bindings(self) -> &'static [Binding] {
        use Access::{Read, ReadWrite};
        use bind::*;
        match self {
            Shader::Embedding => &[
                (embed::IDS, "ids", Read, "u32"),
                (embed::W, "w", Read, WEIGHTS),
                (embed::POS, "pos", Read, "f32"),
                (embed::OUT, "out", ReadWrite, "f32"),
            ],
            Shader::Norms => &[
                (norm::X, "x", Read, "f32"),
                (norm::WEIGHT, "weight", Read, "f32"),
                (norm::BIAS, "bias", Read, "f32"),
                (norm::OUT, "out", ReadWrite, "f32"),
            ],
            Shader::Matmul => &[
                (matmul::X, "x", Read, "f32"),
                (matmul::W, "w", Read, WEIGHTS),
                (matmul::BIAS, "bias", Read, "f32"),
                (matmul::AUX, "aux", Read, "f32"),
                (matmul::OUT, "out", ReadWrite, "f32"),
                (matmul::NORM, "norm_w", Read, "f32"),
            ],
            Shader::Attention => &[
                (attention::QKV, "qkv", Read, "f32"),
                (attention::OUT, "out", ReadWrite, "f32"),
                (attention::COS, "cos_t", Read, "f32"),
                (attention::SIN, "sin_t", Read, "f32"),
            ],
            Shader::LmHead => &[
                (lm::X, "x", Read, "f32"),
                (lm::W, "w", Read, WEIGHTS),
                (lm::BIAS, "bias", Read, "f32"),
                (lm::TARGETS, "targets", Read, "u32"),
                (lm::ZT, "zt", ReadWrite, "f32"),
                (lm::PART, "part", ReadWrite, "f32"),
                (lm::MERGED, "merged", ReadWrite, "f32"),
                (lm::BOUNDARY, "boundary", Read, "u32"),
                (lm::NORM, "norm_w", Read, "f32"),
            ],
        }
    }

    /// Whether the shader reads weights (through `wload`, from `shaders/weights_*.wgsl`).
    pub fn reads_weights(self) -> bool {
        self.bindings().iter().any(|b| b.3 == WEIGHTS)
    }

    /// The generated contract for this shader: the constants, `struct Params` and every binding.
    pub fn prelude(self, dtype: Dtype) -> String {
        self.prelude_for(dtype.into())
    }

    /// [`Shader::prelude`] for weights held in `format`.
    pub fn prelude_for(self, format: WeightFormat) -> String {
        let weight = format.element();
        let mut out = String::from("// ---- generated by src/gpu/contract.rs: the Rust ↔ WGSL contract ----\n");
        out += &constants();
        out += "struct Params {\n";
        for (name, ty) in self.param_fields() {
            out += &format!("    {name}: {ty},\n");
        }
        out += "}\n";
        out += &format!("@group(0) @binding({PARAMS}) var<uniform> p: Params;\n");
        for &(index, name, access, ty) in self.bindings() {
            let access = match access {
                Access::Read => "read",
                Access::ReadWrite => "read_write",
            };
            let ty = if ty == WEIGHTS { weight } else { ty };
            out += &format!("@group(0) @binding({index}) var<storage, {access}> {name}: array<{ty}>;\n");
        }
        out += "// ---- end of the generated contract ----\n";
        out
    }

    /// Whether the kernel multiplies through the matmul core (shaders/mm_core.wgsl).
    pub fn uses_mm_core(self) -> bool {
        matches!(self, Shader::Matmul | Shader::LmHead)
    }

    /// The whole module: the weight reader (its `enable` directive must come first), the contract,
    /// the matmul core where the kernel uses it, then the kernel (attention: with its workgroup-memory
    /// row reductions, see [`attention_module`]).
    pub fn module(self, dtype: Dtype) -> String {
        self.module_for(dtype.into())
    }

    /// [`Shader::module`] for weights held in `format`.
    pub fn module_for(self, format: WeightFormat) -> String {
        if self == Shader::Attention {
            return attention_module(AttentionRows::Shared, ATT_HD_SMALL);
        }
        let [helpers, reader] = if self.reads_weights() { format.reader() } else { ["", ""] };
        let core = if self.uses_mm_core() { MM_CORE } else { "" };
        format!("{reader}\n{helpers}\n{}\n{core}\n{}", self.prelude_for(format), self.source())
    }
}

/// How attention.wgsl reduces a row's max and sum over the threads that share the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttentionRows {
    /// Subgroup shuffles (`Features::SUBGROUP`, smallest subgroup ≥ [`ATT_TPR`] threads).
    Subgroup,
    /// Workgroup memory and barriers (any adapter).
    Shared,
}

/// attention.wgsl with the row reductions of `rows`, its arrays sized for heads of up to `hd_cap`
/// ([`att_hd_cap`]). (Naga 30 rejects `enable subgroups;`: the subgroup builtins are available,
/// without the directive, on a device opened with `Features::SUBGROUP`.)
pub fn attention_module(rows: AttentionRows, hd_cap: u32) -> String {
    let reduce = match rows {
        AttentionRows::Subgroup => include_str!("../../shaders/attention_rows_subgroup.wgsl"),
        AttentionRows::Shared => include_str!("../../shaders/attention_rows_shared.wgsl"),
    };
    format!(
        "{}const HD_CAP: u32 = {hd_cap}u;\nconst KV_FLOATS: u32 = {}u;\n{reduce}\n{}",
        Shader::Attention.prelude(Dtype::F32),
        att_kv_floats(hd_cap),
        Shader::Attention.source()
    )
}
