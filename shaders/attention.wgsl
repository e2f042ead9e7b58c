// Causal multi-head attention with grouped KV heads, flash style: online softmax over key tiles, so
// the T × T score matrix never exists (only one tile of ≤ 32 scores per query, in registers).
//
// qkv [t, stride] holds q (cols 0 .. nh·hd), k (koff ..) and v (voff ..) after RoPE; out [t, nh·hd].
// Query head h reads KV head h / (nh / nkv). Workgroup = BQ query rows × one head, one thread per
// query row (its q and output accumulator in registers, hd ≤ 128). Keys/values of the group's KV head
// are staged through workgroup memory in tiles of bk = min(32, 2048 / hd) keys; a thread only uses the
// keys j ≤ its own position. Per tile: s_j = q·k_j/√hd, m' = max(m, max_j s_j),
//   l ← l·e^(m−m') + Σ_j e^(s_j−m'),   o ← o·e^(m−m') + Σ_j e^(s_j−m') v_j,   and finally out = o / l.

struct Params {
    t: u32,
    nh: u32,
    nkv: u32,
    hd: u32,
    stride: u32,
    koff: u32,
    voff: u32,
    scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const BQ: u32 = 64u;
const HD_MAX: u32 = 128u;
const KV_FLOATS: u32 = 2048u;
const BK_MAX: u32 = 32u;
const NEG: f32 = -3.0e38;

var<workgroup> ks: array<f32, 2048>;
var<workgroup> vs: array<f32, 2048>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wid.y;
    let q0 = wid.x * BQ;
    let qi = q0 + lid;
    let hd = p.hd;
    let kvh = h / (p.nh / p.nkv);
    let bk = min(BK_MAX, KV_FLOATS / hd);
    let live = qi < p.t;

    var q: array<f32, 128>;
    var o: array<f32, 128>;
    for (var d = 0u; d < hd; d++) {
        o[d] = 0.0;
        q[d] = 0.0;
        if (live) {
            q[d] = qkv[qi * p.stride + h * hd + d] * p.scale;
        }
    }
    var m = NEG;
    var l = 0.0;
    // Keys any row of this block can see: 0 .. min(t, q0 + BQ) − 1 (uniform over the workgroup).
    let kend = min(p.t, q0 + BQ);
    for (var kb = 0u; kb < kend; kb += bk) {
        let n = min(bk, kend - kb);
        for (var e = lid; e < n * hd; e += BQ) {
            let j = e / hd;
            let d = e % hd;
            let row = (kb + j) * p.stride + kvh * hd + d;
            ks[e] = qkv[row + p.koff];
            vs[e] = qkv[row + p.voff];
        }
        workgroupBarrier();
        if (live && kb <= qi) {
            let nj = min(n, qi + 1u - kb);
            var s: array<f32, 32>;
            var mt = NEG;
            for (var j = 0u; j < nj; j++) {
                var acc = 0.0;
                for (var d = 0u; d < hd; d++) {
                    acc += q[d] * ks[j * hd + d];
                }
                s[j] = acc;
                mt = max(mt, acc);
            }
            let mn = max(m, mt);
            let corr = exp(m - mn);
            l = l * corr;
            for (var d = 0u; d < hd; d++) {
                o[d] = o[d] * corr;
            }
            for (var j = 0u; j < nj; j++) {
                let pj = exp(s[j] - mn);
                l += pj;
                for (var d = 0u; d < hd; d++) {
                    o[d] += pj * vs[j * hd + d];
                }
            }
            m = mn;
        }
        workgroupBarrier();
    }
    if (live) {
        let inv = 1.0 / l;
        for (var d = 0u; d < hd; d++) {
            out[qi * p.nh * hd + h * hd + d] = o[d] * inv;
        }
    }
}
