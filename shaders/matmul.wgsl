// Tiled matmul with a fused epilogue (prepended: weights_f32.wgsl or weights_f16.wgsl, which bind `w`).
//
//   out[m, n0 + j] (= or +=) act(x[m, :] · W[j, :] + bias[n0 + j])      m < M, j < nc
//
// x [M, K] row-major; W is one chunk [nc, K] of an nn.Linear weight [N, K] (rows n0 .. n0+nc);
// out [M, N] row-major. act: 0 = none, 1 = gelu_new, 2 = silu(v) · aux[m, n] (SwiGLU: aux holds up(x)).
// flags bit 0: add bias; bit 1: accumulate into out (the residual add: out is the residual stream).
//
// Tiling: a 256-thread workgroup computes a 64 × 64 output tile; each thread a 4 × 4 micro-tile in
// registers. K is walked in steps of 16 through two shared-memory tiles (x: 64 × 16, W: 64 × 16, stored
// k-major so the inner loop reads 4 + 4 contiguous values per 16 FMAs). Edges (M, nc, K not multiples of
// the tile) load zeros and skip the stores.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    n0: u32,
    nc: u32,
    act: u32,
    flags: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> aux: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;

var<workgroup> xs: array<f32, 1024>; // [BK][BM]
var<workgroup> ws: array<f32, 1024>; // [BK][BN]

fn gelu_new(v: f32) -> f32 {
    // GPT-2's tanh approximation; tanh written via exp of a clamped argument (tanh(±10) = ±1 in f32).
    let u = clamp(0.7978846 * (v + 0.044715 * v * v * v), -10.0, 10.0);
    let e = exp(2.0 * u);
    return 0.5 * v * (1.0 + (e - 1.0) / (e + 1.0));
}

fn silu(v: f32) -> f32 {
    return v / (1.0 + exp(-v));
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let tx = lid % 16u; // column group: cols tx*4 .. tx*4+3
    let ty = lid / 16u; // row group: rows ty*4 .. ty*4+3
    let m0 = wid.y * BM;
    let j0 = wid.x * BN;
    var acc: array<f32, 16>;
    for (var i = 0u; i < 16u; i++) {
        acc[i] = 0.0;
    }
    for (var k0 = 0u; k0 < p.k; k0 += BK) {
        // 1024 values per tile, 4 per thread; consecutive threads read consecutive k (coalesced).
        for (var r = 0u; r < 4u; r++) {
            let e = lid + r * 256u;
            let row = e / BK;
            let kk = e % BK;
            let gk = k0 + kk;
            let gm = m0 + row;
            var xv = 0.0;
            if (gm < p.m && gk < p.k) {
                xv = x[gm * p.k + gk];
            }
            xs[kk * BM + row] = xv;
            let gj = j0 + row;
            var wv = 0.0;
            if (gj < p.nc && gk < p.k) {
                wv = wload(gj * p.k + gk);
            }
            ws[kk * BN + row] = wv;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            let a = vec4<f32>(xs[kk * BM + ty * 4u], xs[kk * BM + ty * 4u + 1u], xs[kk * BM + ty * 4u + 2u], xs[kk * BM + ty * 4u + 3u]);
            let b = vec4<f32>(ws[kk * BN + tx * 4u], ws[kk * BN + tx * 4u + 1u], ws[kk * BN + tx * 4u + 2u], ws[kk * BN + tx * 4u + 3u]);
            for (var i = 0u; i < 4u; i++) {
                acc[i * 4u + 0u] += a[i] * b[0];
                acc[i * 4u + 1u] += a[i] * b[1];
                acc[i * 4u + 2u] += a[i] * b[2];
                acc[i * 4u + 3u] += a[i] * b[3];
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        let gm = m0 + ty * 4u + i;
        for (var j = 0u; j < 4u; j++) {
            let gj = j0 + tx * 4u + j;
            if (gm < p.m && gj < p.nc) {
                let n = p.n0 + gj;
                let o = gm * p.n + n;
                var v = acc[i * 4u + j];
                if ((p.flags & 1u) != 0u) {
                    v += bias[n];
                }
                if (p.act == 1u) {
                    v = gelu_new(v);
                } else if (p.act == 2u) {
                    v = silu(v) * aux[o];
                }
                if ((p.flags & 2u) != 0u) {
                    v += out[o];
                }
                out[o] = v;
            }
        }
    }
}
