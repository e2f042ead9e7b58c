//! The compute pipelines (one per kernel, from `shaders/*.wgsl`), the ops they run with their
//! per-dispatch parameters and grids, and the executor that records a list of dispatches into one
//! command encoder and one compute pass (or one pass per dispatch when timing them).

use crate::dtype::Dtype;
use crate::error::{DensiError, GpuErrorKind, Result};

use super::context::GpuContext;
use super::contract::{
    ATT_BK_MAX, ATT_RW, ATT_TPR, Act, AttentionParams, AttentionRows, EmbedParams, LM_TILES, LmParams, MATMUL_ACC,
    MATMUL_BIAS, MATMUL_RMS, MM_BN, MM_TILES, MatmulParams, MmShape, NORM_LAYER, NORM_RMS, NormParams, ParamBlock,
    Shader, WeightFormat, att_hd_cap, att_tile_keys, attention_module,
};

/// Workgroup size of the simple kernels (norms, embedding): WGSL `override WG`.
pub const WG: u32 = 256;
/// The lm-head takes its small tile (16 rows) for at most this many scored rows.
pub const SMALL_M: u32 = 32;
/// Largest head_dim attention.wgsl takes.
pub const ATT_HD_MAX: usize = super::contract::ATT_HD_MAX as usize;
/// Workgroup memory of attention.wgsl compiled for heads of up to `hd_cap` with the workgroup-memory
/// row reductions (the larger variant): the Q block, the K and V tiles, P and the reduction slots.
pub fn att_shared_bytes(hd_cap: u32) -> u32 {
    let kv = super::contract::att_kv_floats(hd_cap);
    4 * (ATT_RW * (hd_cap + 1) + kv + ATT_BK_MAX + kv + ATT_RW * (ATT_BK_MAX + 1) + ATT_RW * ATT_TPR)
}
/// A matmul takes the tallest tile whose grid has at least this many workgroups (enough to fill a
/// large GPU about twice), else the shortest: narrow GEMMs (N = hidden) get more, shorter tiles.
pub const MM_MIN_GROUPS: u32 = 256;
/// Rows per workgroup of the direct (software-adapter) variants: 4 rows × 4 thread rows.
pub const DIRECT_ROWS: u32 = 16;
pub use super::contract::{LM_REC_PER_BLOCK, LM_VBLOCK, PARAM_BYTES};
/// Largest top-k the lm-head kernels keep.
pub const LM_KMAX: usize = super::contract::LM_KMAX as usize;

/// One compute pipeline. The kernels that read weights are compiled once per [`WeightFormat`] in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pipe {
    /// The matmul core with a tile of this many rows (one of the contract's MM_TILES).
    Matmul(u32, WeightFormat),
    /// Software adapters: no workgroup memory (matmul.wgsl `direct`).
    MatmulDirect(WeightFormat),
    Embed(WeightFormat),
    Norm,
    /// attention.wgsl specialised for one head_dim (`HD`), with one kind of row reduction.
    Attention {
        hd: u32,
        rows: AttentionRows,
    },
    LmTarget(WeightFormat),
    /// The lm-head with a tile of this many rows (one of the contract's LM_TILES).
    LmTile(u32, WeightFormat),
    LmTileDirect(WeightFormat),
    LmMerge,
}

/// Pipeline constants of a core tile shape.
fn shape_constants(s: MmShape) -> Vec<(&'static str, f64)> {
    vec![("TM", s.tm as f64), ("TY", s.ty as f64)]
}

/// (pipeline, module source, entry point, pipeline-overridable constants).
type PipeSpec = (Pipe, String, &'static str, Vec<(&'static str, f64)>);

/// The pipelines of the kernels that read weights held in `format`.
fn weight_specs(format: WeightFormat) -> Vec<PipeSpec> {
    let src = |shader: Shader| shader.module_for(format);
    let direct = vec![("TM", 4.0), ("TY", (DIRECT_ROWS / 4) as f64)];
    let lm_direct = vec![("TM", 4.0), ("TY", (DIRECT_ROWS / 4) as f64), ("DIRECT", 1.0)];
    let mut specs: Vec<PipeSpec> = MM_TILES
        .iter()
        .map(|s| (Pipe::Matmul(s.rows(), format), src(Shader::Matmul), "main", shape_constants(*s)))
        .collect();
    specs.extend(
        LM_TILES.iter().map(|s| (Pipe::LmTile(s.rows(), format), src(Shader::LmHead), "tile", shape_constants(*s))),
    );
    specs.extend([
        (Pipe::MatmulDirect(format), src(Shader::Matmul), "direct", direct),
        (Pipe::Embed(format), src(Shader::Embedding), "main", vec![("WG", WG as f64)]),
        (Pipe::LmTarget(format), src(Shader::LmHead), "target_logit", vec![]),
        (Pipe::LmTileDirect(format), src(Shader::LmHead), "tile", lm_direct),
    ]);
    specs
}

/// Compiles `specs` (one shader module per distinct source).
fn compile(ctx: &GpuContext, specs: &[PipeSpec]) -> Result<Vec<(Pipe, wgpu::ComputePipeline)>> {
    ctx.scoped("compiling the kernels", || {
        let mut modules: Vec<(&str, wgpu::ShaderModule)> = Vec::new();
        specs
            .iter()
            .map(|(pipe, src, entry, constants)| {
                let module = match modules.iter().find(|(s, _)| s == src) {
                    Some((_, m)) => m.clone(),
                    None => {
                        let m = ctx.device.create_shader_module(wgpu::ShaderModuleDescriptor {
                            label: Some(&format!("{pipe:?}")),
                            source: wgpu::ShaderSource::Wgsl(src.clone().into()),
                        });
                        modules.push((src, m.clone()));
                        m
                    }
                };
                let p = ctx.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(&format!("{pipe:?}")),
                    layout: None,
                    module: &module,
                    entry_point: Some(entry),
                    compilation_options: wgpu::PipelineCompilationOptions {
                        constants,
                        zero_initialize_workgroup_memory: false,
                    },
                    cache: None,
                });
                (*pipe, p)
            })
            .collect::<Vec<_>>()
    })
}

pub struct Kernels {
    pipes: Vec<(Pipe, wgpu::ComputePipeline)>,
    /// How f32 weights are held (`--dtype`), or the one stored format of [`Kernels::for_format`];
    /// [`Kernels::prepare_format`] adds the pipelines of further formats.
    pub format: WeightFormat,
    /// Matmuls without workgroup memory: the default on software adapters, where workgroup memory and
    /// barriers are emulated slowly; `DENSI_GPU_MATMUL=tiled|direct` overrides.
    pub direct: bool,
    /// Attention's row reductions: subgroup shuffles where the adapter has subgroups of ≥ ATT_TPR
    /// invocations, else workgroup memory; `DENSI_GPU_ATTENTION=subgroup|shared` overrides.
    pub attention_rows: AttentionRows,
    /// Tiled matmuls: force the tile of this many rows (tests run every shape); None = by shape.
    pub tile_rows: Option<u32>,
}

impl Kernels {
    pub fn new(ctx: &GpuContext, wtype: Dtype) -> Result<Kernels> {
        Kernels::for_format(ctx, wtype.into())
    }

    /// The pipelines for weights held in `format` (one weight reader compiled in).
    pub fn for_format(ctx: &GpuContext, format: WeightFormat) -> Result<Kernels> {
        if format == WeightFormat::F16 && !ctx.has(wgpu::Features::SHADER_F16) {
            return Err(DensiError::gpu(
                GpuErrorKind::Unsupported,
                format!(
                    "--dtype f16 needs the SHADER_F16 feature, which {} does not have; use --dtype f32",
                    ctx.describe()
                ),
            ));
        }
        if let WeightFormat::Stored(t) = format
            && !WeightFormat::unpacks(t)
            && t != crate::model::DType::F32
        {
            return Err(DensiError::gpu(
                GpuErrorKind::Unsupported,
                format!("the shaders do not unpack {} blocks (see WeightFormat::for_stored)", t.name()),
            ));
        }
        let wg = vec![("WG", WG as f64)];
        let mut specs = weight_specs(format);
        specs.extend([
            (Pipe::Norm, Shader::Norms.module_for(format), "main", wg),
            (Pipe::LmMerge, Shader::LmHead.module_for(format), "merge", vec![]),
        ]);
        let pipes = compile(ctx, &specs)?;
        let direct = match std::env::var("DENSI_GPU_MATMUL").as_deref() {
            Ok("direct") => true,
            Ok("tiled") => false,
            _ => ctx.info.is_software,
        };
        let attention_rows = match std::env::var("DENSI_GPU_ATTENTION").as_deref() {
            Ok("subgroup") => AttentionRows::Subgroup,
            Ok("shared") => AttentionRows::Shared,
            _ if subgroup_rows_work(ctx) => AttentionRows::Subgroup,
            _ => AttentionRows::Shared,
        };
        Ok(Kernels { pipes, format, direct, attention_rows, tile_rows: None })
    }

    /// Compiles the weight-reading pipelines for `format` too, unless already there.
    pub fn prepare_format(&mut self, ctx: &GpuContext, format: WeightFormat) -> Result<()> {
        if self.pipes.iter().any(|(p, _)| *p == Pipe::Embed(format)) {
            return Ok(());
        }
        let pipes = compile(ctx, &weight_specs(format))?;
        self.pipes.extend(pipes);
        Ok(())
    }

    /// Picks attention's row reductions (a clear error when the adapter cannot do subgroup ones).
    pub fn set_attention_rows(&mut self, ctx: &GpuContext, rows: AttentionRows) -> Result<()> {
        if rows == AttentionRows::Subgroup && !subgroup_rows_work(ctx) {
            return Err(DensiError::gpu(
                GpuErrorKind::Unsupported,
                format!(
                    "subgroup attention needs the SUBGROUP feature with subgroups of at least {ATT_TPR} invocations; \
                     {} has {} (sizes {}..{})",
                    ctx.describe(),
                    if ctx.has(wgpu::Features::SUBGROUP) { "SUBGROUP" } else { "no SUBGROUP" },
                    ctx.subgroup_sizes.0,
                    ctx.subgroup_sizes.1
                ),
            ));
        }
        self.attention_rows = rows;
        Ok(())
    }

    /// Compiles attention for `head_dim` with the current row reductions, unless already there.
    pub fn prepare_attention(&mut self, ctx: &GpuContext, head_dim: usize) -> Result<()> {
        if head_dim == 0 || head_dim > ATT_HD_MAX || !head_dim.is_multiple_of(2) {
            return Err(DensiError::gpu(
                GpuErrorKind::Unsupported,
                format!("head_dim {head_dim} is not supported by the attention kernel (even, at most {ATT_HD_MAX})"),
            ));
        }
        self.set_attention_rows(ctx, self.attention_rows)?;
        let hd_cap = att_hd_cap(head_dim as u32);
        let shared = att_shared_bytes(hd_cap);
        if ctx.limits.max_compute_workgroup_storage_size < shared {
            return Err(DensiError::gpu(
                GpuErrorKind::Unsupported,
                format!(
                    "{}: attention with head_dim {head_dim} needs {shared} bytes of workgroup memory, the adapter has {}",
                    ctx.describe(),
                    ctx.limits.max_compute_workgroup_storage_size
                ),
            ));
        }
        let pipe = Pipe::Attention { hd: head_dim as u32, rows: self.attention_rows };
        if self.pipes.iter().any(|(p, _)| *p == pipe) {
            return Ok(());
        }
        let hd = head_dim as u32;
        let constants = [("HD", hd as f64), ("BK", att_tile_keys(hd) as f64)];
        let p = ctx.scoped("compiling the attention kernel", || {
            let module = ctx.device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(&format!("{pipe:?}")),
                source: wgpu::ShaderSource::Wgsl(attention_module(self.attention_rows, hd_cap).into()),
            });
            ctx.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&format!("{pipe:?}")),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: &constants,
                    zero_initialize_workgroup_memory: false,
                },
                cache: None,
            })
        })?;
        self.pipes.push((pipe, p));
        Ok(())
    }

    /// The pipeline of `p` (attention's are compiled by [`Kernels::prepare_attention`] first).
    pub fn pipeline(&self, p: Pipe) -> &wgpu::ComputePipeline {
        &self.pipes.iter().find(|(q, _)| *q == p).expect("every Pipe in use has a pipeline").1
    }
}

/// What one dispatch computes; its parameters and grid follow from this and the run's [`RunShape`].
#[derive(Debug, Clone, Copy)]
pub enum Op {
    /// Rows row0 .. row0+rows of the token embedding.
    Embed {
        h: u32,
        row0: u32,
        rows: u32,
        has_pos: bool,
        /// Factor on the embedding rows (1, or Gemma's √hidden).
        scale: f32,
        /// How the embedding table chunk is held.
        w: WeightFormat,
    },
    /// A norm over `heads` slices of `h` values per token row (`heads` = 1: the whole row), the
    /// slices at `col + head·h` of rows `stride` wide; see NormParams.
    Norm {
        h: u32,
        layer_norm: bool,
        has_bias: bool,
        eps: f32,
        heads: u32,
        stride: u32,
        col: u32,
        /// Normalize `out` in place (x unused): the q/k norm on the qkv rows.
        in_place: bool,
        /// out += the normed rows: a post-norm with its residual add.
        acc: bool,
    },
    /// out[:, n0 .. n0+nc] of an [n, k] linear with the fused `act`; acc = residual add.
    Matmul {
        n: u32,
        k: u32,
        n0: u32,
        nc: u32,
        act: Act,
        has_bias: bool,
        acc: bool,
        /// The RMSNorm folded into the matmul (x rows normalized as they are loaded): its eps.
        rms_eps: Option<f32>,
        /// How the weight chunk is held.
        w: WeightFormat,
    },
    /// Causal attention over the fused qkv rows, RoPE applied to the first `rot` dims of q and k as
    /// they are loaded when `rope`; scores · `scale`, soft-capped by `softcap` (0: none), keys within
    /// the last `window` positions (0: all).
    Attention {
        nh: u32,
        nkv: u32,
        hd: u32,
        stride: u32,
        koff: u32,
        voff: u32,
        rope: bool,
        rot: u32,
        scale: f32,
        window: u32,
        softcap: f32,
    },
    /// `softcap`: final-logit soft-capping (0: none), in LmTarget and LmTile alike.
    LmTarget {
        h: u32,
        v0: u32,
        vc: u32,
        has_bias: bool,
        /// The final RMSNorm folded in (x rows normalized as they are loaded): its eps.
        rms_eps: Option<f32>,
        softcap: f32,
        w: WeightFormat,
    },
    LmTile {
        h: u32,
        v0: u32,
        vc: u32,
        block0: u32,
        nrec: u32,
        has_bias: bool,
        /// As `LmTarget`'s.
        rms_eps: Option<f32>,
        softcap: f32,
        w: WeightFormat,
    },
    LmMerge {
        nrec: u32,
    },
}

/// The sizes of one run: t tokens, of which positions past .. t are computed (0 .. past are a reused
/// prefix whose keys and values are in the qkv buffers already); r scored rows whose hidden states
/// start at row0 (≥ past); top-k.
#[derive(Debug, Clone, Copy)]
pub struct RunShape {
    pub t: u32,
    pub past: u32,
    pub r: u32,
    pub row0: u32,
    pub k: u32,
    /// Use the matmul variant without workgroup memory (software adapters).
    pub direct: bool,
    /// Attention's row reductions.
    pub attention_rows: AttentionRows,
    /// Force the tiled matmuls' tile height (rows); None = chosen per GEMM shape.
    pub tile_rows: Option<u32>,
}

impl RunShape {
    /// Positions computed: past .. t.
    pub fn rows(&self) -> u32 {
        self.t - self.past
    }
}

fn b(v: bool) -> u32 {
    v as u32
}

/// Grid for `n` workgroups laid out over (x ≤ 65535, y).
fn rows_grid(n: u32) -> [u32; 3] {
    [n.clamp(1, 65535), n.div_ceil(65535).max(1), 1]
}

/// Subgroup row reductions work: the SUBGROUP feature, and subgroups of at least ATT_TPR invocations
/// (sizes are powers of two, so the ATT_TPR threads of a row never straddle two subgroups).
fn subgroup_rows_work(ctx: &GpuContext) -> bool {
    ctx.has(wgpu::Features::SUBGROUP) && ctx.subgroup_sizes.0 >= ATT_TPR
}

impl Op {
    /// The pipeline for this op at this shape (tile shapes per GEMM shape, see [`matmul_rows`]).
    pub fn pipe(&self, s: &RunShape) -> Pipe {
        match *self {
            Op::Embed { w, .. } => Pipe::Embed(w),
            Op::Norm { .. } => Pipe::Norm,
            Op::Matmul { w, .. } if s.direct => Pipe::MatmulDirect(w),
            Op::Matmul { nc, w, .. } => Pipe::Matmul(s.tile_rows.unwrap_or_else(|| matmul_rows(s.rows(), nc)), w),
            Op::LmTile { w, .. } if s.direct => Pipe::LmTileDirect(w),
            Op::LmTile { w, .. } => Pipe::LmTile(LM_TILES[(s.r <= SMALL_M) as usize].rows(), w),
            Op::Attention { hd, .. } => Pipe::Attention { hd, rows: s.attention_rows },
            Op::LmTarget { w, .. } => Pipe::LmTarget(w),
            Op::LmMerge { .. } => Pipe::LmMerge,
        }
    }

    /// Every pipeline this op may take with attention's row reductions `rows` (a bind group is built
    /// for each).
    pub fn pipes(&self, rows: AttentionRows) -> Vec<Pipe> {
        match self {
            Op::Matmul { w, .. } => {
                let mut v: Vec<Pipe> = MM_TILES.iter().map(|s| Pipe::Matmul(s.rows(), *w)).collect();
                v.push(Pipe::MatmulDirect(*w));
                v
            }
            Op::LmTile { w, .. } => {
                let mut v: Vec<Pipe> = LM_TILES.iter().map(|s| Pipe::LmTile(s.rows(), *w)).collect();
                v.push(Pipe::LmTileDirect(*w));
                v
            }
            _ => vec![self.pipe(&RunShape {
                t: 1,
                past: 0,
                r: 1,
                row0: 0,
                k: 0,
                direct: false,
                attention_rows: rows,
                tile_rows: None,
            })],
        }
    }

    /// Rows per workgroup of this op's dispatch at this shape.
    fn tile_rows(&self, s: &RunShape) -> u32 {
        match self.pipe(s) {
            Pipe::Matmul(rows, _) | Pipe::LmTile(rows, _) => rows,
            _ => DIRECT_ROWS,
        }
    }

    /// The kernel's parameter block (in one 64-byte slot) and its dispatch grid; None = nothing to do.
    pub fn params(&self, s: &RunShape) -> Option<([u8; PARAM_BYTES as usize], [u32; 3])> {
        // The computed positions past .. t.
        let n_rows = s.rows();
        let (slot, grid) = match *self {
            Op::Embed { h, row0, rows, has_pos, scale, .. } => (
                EmbedParams { t: s.t, h, row0, rows, has_pos: b(has_pos), scale, tok0: s.past, ..Default::default() }
                    .slot(),
                [h.div_ceil(WG), n_rows.min(65535), n_rows.div_ceil(65535)],
            ),
            Op::Norm { h, layer_norm, has_bias, eps, heads, stride, col, in_place, acc } => (
                NormParams {
                    rows: n_rows * heads,
                    h,
                    kind: if layer_norm { NORM_LAYER } else { NORM_RMS },
                    has_bias: b(has_bias),
                    eps,
                    heads,
                    stride,
                    col,
                    in_place: b(in_place),
                    acc: b(acc),
                    tok0: s.past,
                    ..Default::default()
                }
                .slot(),
                rows_grid(n_rows * heads),
            ),
            Op::Matmul { n, k, n0, nc, act, has_bias, acc, rms_eps, .. } => {
                let flags = if has_bias { MATMUL_BIAS } else { 0 }
                    | if acc { MATMUL_ACC } else { 0 }
                    | if rms_eps.is_some() { MATMUL_RMS } else { 0 };
                let eps = rms_eps.unwrap_or(0.0);
                (
                    MatmulParams {
                        m: n_rows,
                        n,
                        k,
                        n0,
                        nc,
                        act: act.code(),
                        flags,
                        eps,
                        row0: s.past,
                        ..Default::default()
                    }
                    .slot(),
                    [nc.div_ceil(MM_BN), n_rows.div_ceil(self.tile_rows(s)), 1],
                )
            }
            Op::Attention { nh, nkv, stride, koff, voff, rope, rot, scale, window, softcap, .. } => {
                // Row blocks of one KV head: ATT_RW (position, query head) rows each, paired long with short.
                let blocks = (n_rows * (nh / nkv.max(1))).div_ceil(ATT_RW);
                (
                    AttentionParams {
                        t: s.t,
                        nh,
                        nkv,
                        stride,
                        koff,
                        voff,
                        scale,
                        rope: b(rope),
                        rot,
                        window,
                        softcap,
                        q0: s.past,
                    }
                    .slot(),
                    [blocks.div_ceil(2), nkv, 1],
                )
            }
            Op::LmTarget { h, v0, vc, has_bias, rms_eps, softcap, .. } => (
                LmParams {
                    r: s.r,
                    h,
                    row0: s.row0,
                    v0,
                    vc,
                    k: s.k,
                    has_bias: b(has_bias),
                    rms: b(rms_eps.is_some()),
                    eps: rms_eps.unwrap_or(0.0),
                    softcap,
                    ..Default::default()
                }
                .slot(),
                rows_grid(s.r),
            ),
            Op::LmTile { h, v0, vc, block0, nrec, has_bias, rms_eps, softcap, .. } => {
                let bm = self.tile_rows(s);
                (
                    LmParams {
                        r: s.r,
                        h,
                        row0: s.row0,
                        v0,
                        vc,
                        block0,
                        nrec,
                        k: s.k,
                        has_bias: b(has_bias),
                        rms: b(rms_eps.is_some()),
                        eps: rms_eps.unwrap_or(0.0),
                        softcap,
                    }
                    .slot(),
                    [vc.div_ceil(LM_VBLOCK), s.r.div_ceil(bm), 1],
                )
            }
            Op::LmMerge { nrec } => {
                (LmParams { r: s.r, row0: s.row0, nrec, k: s.k, ..Default::default() }.slot(), [s.r.div_ceil(64), 1, 1])
            }
        };
        if n_rows == 0 || grid.contains(&0) {
            return None;
        }
        Some((slot, grid))
    }

    /// Short name for kernel timings.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Embed { .. } => "embedding",
            Op::Norm { layer_norm: true, .. } => "layernorm",
            Op::Norm { in_place: true, .. } => "q/k rmsnorm",
            Op::Norm { acc: true, .. } => "rmsnorm+residual",
            Op::Norm { .. } => "rmsnorm",
            Op::Matmul { act: Act::GeluNew, .. } => "matmul+gelu",
            Op::Matmul { act: Act::SiluMul, .. } => "matmul+silu·up",
            Op::Matmul { act: Act::SwiGlu, .. } => "matmul gate|up+swiglu",
            Op::Matmul { act: Act::GeluErf, .. } => "matmul+gelu(erf)",
            Op::Matmul { act: Act::GeluMul, .. } => "matmul+gelu·up",
            Op::Matmul { act: Act::GeGlu, .. } => "matmul gate|up+geglu",
            Op::Matmul { acc: true, .. } => "matmul+residual",
            Op::Matmul { .. } => "matmul",
            Op::Attention { .. } => "attention",
            Op::LmTarget { .. } => "lm-head target logit",
            Op::LmTile { .. } => "lm-head tiles",
            Op::LmMerge { .. } => "lm-head merge",
        }
    }

    /// Floating-point operations of this dispatch (for `densi bench`).
    pub fn flops(&self, s: &RunShape) -> f64 {
        match *self {
            Op::Matmul { k, nc, .. } => 2.0 * s.rows() as f64 * k as f64 * nc as f64,
            Op::LmTile { h, vc, .. } => 2.0 * s.r as f64 * h as f64 * vc as f64,
            Op::Attention { nh, hd, .. } => {
                // Query i attends to keys 0 ..= i: Σ_{i = past}^{t−1} (i + 1) scores.
                let (t, past) = (s.t as f64, s.past as f64);
                4.0 * nh as f64 * hd as f64 * (t * (t + 1.0) - past * (past + 1.0)) / 2.0
            }
            _ => 0.0,
        }
    }
}

/// Tile rows of a tiled matmul over `t` rows and `nc` output columns: the tallest of MM_TILES whose
/// grid has at least [`MM_MIN_GROUPS`] workgroups, else the shortest.
pub fn matmul_rows(t: u32, nc: u32) -> u32 {
    let groups = |s: &MmShape| nc.div_ceil(MM_BN) * t.div_ceil(s.rows());
    let shortest = MM_TILES.iter().map(|s| s.rows()).min().expect("tiles");
    MM_TILES.iter().filter(|s| groups(s) >= MM_MIN_GROUPS).map(|s| s.rows()).max().unwrap_or(shortest)
}

/// One dispatch: its op and the buffers of its bind group (binding index from
/// [`super::contract::bind`] → buffer); the parameter slot ([`super::contract::PARAMS`]) is added by
/// [`Program::new`].
pub struct Step {
    pub op: Op,
    pub buffers: Vec<(u32, wgpu::Buffer)>,
}

/// A fixed list of dispatches with their bind groups, built once and re-run with new shapes.
pub struct Program {
    /// (op, bind group per pipeline the op may use: auto layouts are not shared between pipelines).
    steps: Vec<(Op, Vec<(Pipe, wgpu::BindGroup)>)>,
    params: wgpu::Buffer,
    slot: u64,
    timing: Option<Timing>,
    /// (name, seconds) of the last timed run.
    pub last_timings: Option<Vec<(String, f64)>>,
    /// Dispatches the last run recorded.
    pub last_dispatches: usize,
}

struct Timing {
    queries: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    readback: wgpu::Buffer,
    period_ns: f64,
}

impl Program {
    /// Bytes of the buffers the program created (parameter slots, timestamp resolve and read-back).
    pub fn buffer_bytes(&self) -> u64 {
        self.params.size() + self.timing.as_ref().map_or(0, |t| t.resolve.size() + t.readback.size())
    }

    pub fn new(ctx: &GpuContext, kernels: &Kernels, steps: Vec<Step>, timing: bool) -> Result<Program> {
        let align = ctx.limits.min_uniform_buffer_offset_alignment as u64;
        let slot = PARAM_BYTES.div_ceil(align) * align;
        let n = steps.len().max(1) as u64;
        ctx.scoped("building the kernel program", || {
            let params = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("params"),
                size: slot * n,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let built = steps
                .iter()
                .enumerate()
                .map(|(i, st)| {
                    // Every pipeline the op may take (tile sizes, direct variant).
                    let groups = st
                        .op
                        .pipes(kernels.attention_rows)
                        .into_iter()
                        .map(|pipe| {
                            let layout = kernels.pipeline(pipe).get_bind_group_layout(0);
                            let mut entries = vec![wgpu::BindGroupEntry {
                                binding: super::contract::PARAMS,
                                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                    buffer: &params,
                                    offset: slot * i as u64,
                                    size: wgpu::BufferSize::new(PARAM_BYTES),
                                }),
                            }];
                            entries.extend(st.buffers.iter().map(|(b, buf)| wgpu::BindGroupEntry {
                                binding: *b,
                                resource: buf.as_entire_binding(),
                            }));
                            let bg = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                                label: Some(st.op.name()),
                                layout: &layout,
                                entries: &entries,
                            });
                            (pipe, bg)
                        })
                        .collect::<Vec<_>>();
                    (st.op, groups)
                })
                .collect::<Vec<_>>();
            let timing = (timing && ctx.has(wgpu::Features::TIMESTAMP_QUERY)).then(|| {
                let count = 2 * n as u32;
                Timing {
                    queries: ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
                        label: Some("kernel timestamps"),
                        ty: wgpu::QueryType::Timestamp,
                        count,
                    }),
                    resolve: ctx.device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("timestamps"),
                        size: 8 * count as u64,
                        usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                        mapped_at_creation: false,
                    }),
                    readback: ctx.device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("timestamps readback"),
                        size: 8 * count as u64,
                        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                        mapped_at_creation: false,
                    }),
                    period_ns: ctx.queue.get_timestamp_period() as f64,
                }
            });
            Program { steps: built, params, slot, timing, last_timings: None, last_dispatches: 0 }
        })
    }

    /// FLOPs of one run of this program at `shape`.
    pub fn flops(&self, shape: &RunShape) -> f64 {
        self.steps.iter().map(|(op, _)| op.flops(shape)).sum()
    }

    /// Records every step for `shape` (one compute pass; one per step when timing), then `after`
    /// (copies of results), submits, and waits for completion.
    pub fn run(
        &mut self,
        ctx: &GpuContext,
        kernels: &Kernels,
        shape: &RunShape,
        after: impl FnOnce(&mut wgpu::CommandEncoder),
    ) -> Result<()> {
        let mut bytes = vec![0u8; (self.slot * self.steps.len().max(1) as u64) as usize];
        let mut todo = Vec::with_capacity(self.steps.len());
        for (i, (op, groups)) in self.steps.iter().enumerate() {
            if let Some((p, grid)) = op.params(shape) {
                let pipe = op.pipe(shape);
                let bg = &groups.iter().find(|(q, _)| *q == pipe).expect("a bind group per pipeline").1;
                if grid.iter().any(|&g| g > ctx.limits.max_compute_workgroups_per_dimension) {
                    return Err(DensiError::gpu(
                        GpuErrorKind::Unsupported,
                        format!(
                            "{}: a grid of {grid:?} workgroups exceeds the adapter's limit of {} per dimension",
                            op.name(),
                            ctx.limits.max_compute_workgroups_per_dimension
                        ),
                    ));
                }
                let at = i * self.slot as usize;
                bytes[at..at + PARAM_BYTES as usize].copy_from_slice(&p);
                todo.push((op, pipe, bg, grid));
            }
        }
        self.last_dispatches = todo.len();
        let timing = self.timing.as_ref();
        ctx.scoped("running the forward pass", || {
            ctx.queue.write_buffer(&self.params, 0, &bytes);
            let mut enc = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("forward") });
            match timing {
                None => {
                    let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some("forward"),
                        timestamp_writes: None,
                    });
                    for (_, pipe, bg, g) in &todo {
                        pass.set_pipeline(kernels.pipeline(*pipe));
                        pass.set_bind_group(0, *bg, &[]);
                        pass.dispatch_workgroups(g[0], g[1], g[2]);
                    }
                }
                Some(t) => {
                    for (i, (op, pipe, bg, g)) in todo.iter().enumerate() {
                        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                            label: Some(op.name()),
                            timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                                query_set: &t.queries,
                                beginning_of_pass_write_index: Some(2 * i as u32),
                                end_of_pass_write_index: Some(2 * i as u32 + 1),
                            }),
                        });
                        pass.set_pipeline(kernels.pipeline(*pipe));
                        pass.set_bind_group(0, *bg, &[]);
                        pass.dispatch_workgroups(g[0], g[1], g[2]);
                    }
                    let n = 2 * todo.len().max(1) as u32;
                    enc.resolve_query_set(&t.queries, 0..n, &t.resolve, 0);
                    enc.copy_buffer_to_buffer(&t.resolve, 0, &t.readback, 0, 8 * n as u64);
                }
            }
            after(&mut enc);
            ctx.queue.submit([enc.finish()]);
        })?;
        ctx.wait()?;
        if let Some(t) = &self.timing {
            let n = 2 * todo.len().max(1);
            let raw = ctx.map_read(&t.readback, 8 * n as u64)?;
            let ticks: Vec<u64> = raw.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).collect();
            let mut agg: Vec<(String, f64)> = Vec::new();
            for (i, (op, _, _, _)) in todo.iter().enumerate() {
                let s = ticks[2 * i + 1].saturating_sub(ticks[2 * i]) as f64 * t.period_ns * 1e-9;
                match agg.iter_mut().find(|(n, _)| n == op.name()) {
                    Some(e) => e.1 += s,
                    None => agg.push((op.name().to_string(), s)),
                }
            }
            self.last_timings = Some(agg);
        }
        Ok(())
    }
}
