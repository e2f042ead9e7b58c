//! attention.wgsl (FlashAttention-2 style, RoPE applied while q and k are loaded) against the CPU
//! oracle (`cpu::ops::rope` then `cpu::ops::attention`) on odd shapes, with each row reduction forced:
//! subgroup shuffles (lavapipe's subgroups are not 32 wide, so nothing may assume 32) and workgroup
//! memory. And the number of dispatches per forward. Tolerance 1e-5 relative, as for every kernel:
//! f32 sums in another order (the online softmax, the pre-scaled q), nothing more.

use crate::common;

use common::*;
use densi::backend::Dtype;
use densi::cpu::ops;
use densi::gpu::GpuModel;
use densi::gpu::contract::AttentionRows;
use densi::gpu::ops::GpuOps;
use densi::model::Architecture;

/// The reductions to force on this adapter: both, or (loudly) only the workgroup one when the adapter
/// cannot run subgroup reductions; under DENSI_REQUIRE_SUBGROUP=1 that is a failure instead.
fn reductions(g: &mut GpuOps) -> Vec<AttentionRows> {
    eprintln!("subgroup sizes {:?}", g.ctx.subgroup_sizes);
    if g.set_attention_rows(AttentionRows::Subgroup).is_ok() {
        return vec![AttentionRows::Subgroup, AttentionRows::Shared];
    }
    if std::env::var("DENSI_REQUIRE_SUBGROUP").as_deref() == Ok("1") {
        panic!("DENSI_REQUIRE_SUBGROUP=1 but {} cannot run the subgroup reductions", g.ctx.describe());
    }
    eprintln!("\n*** NOT RUN: subgroup attention ({} has no usable subgroups) ***\n", g.ctx.describe());
    vec![AttentionRows::Shared]
}

#[test]
fn attention_matches_cpu_with_each_reduction() {
    let Some(ctx) = gpu_ctx() else { return };
    let mut g = GpuOps::new(ctx, Dtype::F32).expect("kernels compile");
    // (t, nh, nkv, hd): n_kv = n_heads, n_heads/3 and 1; head_dim 64 and 128, and odd widths
    // (6 and 100 are not multiples of the 4 threads per row, 16 gives BK = 32).
    let mut cases = Vec::new();
    for t in [1, 7, 33, 65, 127] {
        cases.extend([(t, 6, 6, 64), (t, 6, 2, 128), (t, 6, 1, 64)]);
    }
    cases.extend([(1000, 3, 1, 64), (1000, 2, 2, 128), (9, 3, 3, 6), (33, 4, 2, 16), (65, 3, 1, 100)]);
    for rows in reductions(&mut g) {
        g.set_attention_rows(rows).unwrap();
        let mut rng = Rng::new(6);
        for (i, &(t, nh, nkv, hd)) in cases.iter().enumerate() {
            // Scale 2: peaked attention weights, so the online softmax's rescaling is exercised.
            let q = rng.vec(t * nh * hd, 2.0);
            let k = rng.vec(t * nkv * hd, 2.0);
            let v = rng.vec(t * nkv * hd, 1.0);
            let rope = i % 2 == 0 || t == 1000;
            let (cos, sin) = ops::rope_tables(t, hd, 10000.0);
            let (mut rq, mut rk) = (q.clone(), k.clone());
            if rope {
                ops::rope(&mut rq, nh, hd, &cos, &sin);
                ops::rope(&mut rk, nkv, hd, &cos, &sin);
            }
            let mut want = vec![0.0; t * nh * hd];
            ops::attention(&rq, &rk, &v, t, nh, nkv, hd, &mut want);
            let tables = rope.then_some((&cos[..], &sin[..]));
            let got = g.attention(&q, &k, &v, t, nh, nkv, hd, tables).unwrap();
            let what = format!("attention {rows:?} t={t} nh={nh} nkv={nkv} hd={hd} rope={rope}");
            assert_close(&what, &got, &want, 1e-5);
        }
    }
}

/// head_dim outside what the kernel takes is a clear Unsupported error, not a shader fault.
#[test]
fn attention_refuses_head_dims_it_cannot_take() {
    let Some(ctx) = gpu_ctx() else { return };
    let mut g = GpuOps::new(ctx, Dtype::F32).expect("kernels compile");
    for hd in [7, 258, 260] {
        let err = g.attention(&vec![0.0; hd], &vec![0.0; hd], &vec![0.0; hd], 1, 1, 1, hd, None).unwrap_err();
        assert!(err.to_string().contains(&format!("head_dim {hd}")), "{err}");
    }
}

/// Dispatches per forward, counted by the executor. One embedding chunk and one lm-head chunk:
/// embedding, per layer (attention norm, qkv, attention with RoPE inside, o + residual, MLP norm,
/// the MLP's matmuls), final norm, lm-head target logit, tiles, merge. Before RoPE moved into
/// attention a Llama layer took 9 (SmolLM2-135M: 1 + 30·9 + 4 = 275), then 8 (245); with gate and up
/// in one matmul, 7 (215); with both RMSNorms folded into the following matmuls, 5 (155); with the
/// final RMSNorm folded into the lm-head, no final norm dispatch (154). A GPT-2 layer keeps its two
/// LayerNorm dispatches, and its final LayerNorm stays a dispatch. The Llama forward
/// also matches the CPU with each row reduction forced.
#[test]
fn dispatches_per_forward() {
    // (architecture, dispatches per layer, final norm dispatches)
    for (arch, per_layer, final_norm) in [(Architecture::Llama, 5, 0), (Architecture::Gpt2, 7, 1)] {
        let Some(ctx) = gpu_ctx() else { return };
        let layers = 3;
        let (cfg, w) =
            random_model(arch, 500, 64, layers, 4, if arch == Architecture::Gpt2 { 4 } else { 2 }, 96, 128, true, 21);
        let mut gpu = GpuModel::new(ctx, &cfg, &w, Dtype::F32).expect("upload");
        let ids: Vec<u32> = (0..40).map(|i| (i * 37 % 500) as u32).collect();
        let want = cpu_forward_stats(&cfg, &w, &ids, 1, 5);
        for rows in [AttentionRows::Shared, AttentionRows::Subgroup] {
            if gpu.set_attention_rows(rows).is_err() {
                eprintln!("*** NOT RUN: {rows:?} attention in the whole model ***");
                continue;
            }
            let got = gpu.score_window(&ids, 1, 5).expect("gpu forward");
            assert_rows_close(&format!("{arch:?} {rows:?}"), &got, &want, 1e-3);
            let want = 1 + per_layer * layers + final_norm + 3;
            assert_eq!(gpu.last_dispatches(), want, "{arch:?} dispatches per forward");
        }
    }
}
