// LayerNorm and RMSNorm over the rows of x [rows, h]; one workgroup per row.
//   RMSNorm:   out = x / sqrt(mean(x²) + eps) · weight
//   LayerNorm: out = (x − mean) / sqrt(var + eps) · weight + bias   (two passes: mean, then var, as PyTorch)
// kind: NORM_RMS or NORM_LAYER. Norm row r is the h values at (r / heads)·stride + col + (r % heads)·h:
// whole rows (heads 1, stride h), or each head of q or k in the qkv rows (Qwen3's and Gemma 3's q/k
// norm, in_place = 1: read and written in `out`). acc = 1: out += the result (a post-norm, Gemma 2/3,
// with its residual add). Token rows start at tok0 (the positions after a reused prefix; 0 for a full
// pass). `p: Params` (NormParams) and the bindings come from the contract generated
// by src/gpu/contract.rs. Sums are tree reductions in workgroup memory (WG must be a power of two ≤ 1024).

override WG: u32 = 256u;

var<workgroup> red: array<f32, 1024>;

fn reduce_sum(lid: u32, v: f32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (lid < s) {
            red[lid] += red[lid + s];
        }
        workgroupBarrier();
    }
    let total = red[0];
    workgroupBarrier();
    return total;
}

// Value i of norm row `base` (in place: read from out).
fn src(i: u32) -> f32 {
    if (p.in_place != 0u) {
        return out[i];
    }
    return x[i];
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row = wid.x + wid.y * 65535u;
    if (row >= p.rows) {
        return; // uniform across the workgroup
    }
    let base = (p.tok0 + row / p.heads) * p.stride + p.col + (row % p.heads) * p.h;
    let hf = f32(p.h);
    var mean = 0.0;
    if (p.kind == NORM_LAYER) {
        var s = 0.0;
        for (var i = lid; i < p.h; i += WG) {
            s += src(base + i);
        }
        mean = reduce_sum(lid, s) / hf;
    }
    var s2 = 0.0;
    for (var i = lid; i < p.h; i += WG) {
        let d = src(base + i) - mean;
        s2 += d * d;
    }
    let inv = 1.0 / sqrt(reduce_sum(lid, s2) / hf + p.eps);
    for (var i = lid; i < p.h; i += WG) {
        var v = (src(base + i) - mean) * inv * weight[i];
        if (p.has_bias != 0u) {
            v += bias[i];
        }
        if (p.acc != 0u) {
            v += out[base + i];
        }
        out[base + i] = v;
    }
}
