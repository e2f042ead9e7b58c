// Tiled matmul with a fused epilogue (prepended: weights_f32.wgsl or weights_f16.wgsl, which bind `w`).
//
//   out[m, n0 + j] (= or +=) act(x[m, :] · W[j, :] + bias[n0 + j])      m < M, j < nc
//
// x [M, K] row-major; W is one chunk [nc, K] of an nn.Linear weight [N, K] (rows n0 .. n0+nc);
// out [M, N] row-major. act: 0 = none, 1 = gelu_new, 2 = silu(v) · aux[m, n] (SwiGLU: aux holds up(x)).
// flags bit 0: add bias; bit 1: accumulate into out (the residual add: out is the residual stream).
//
// Tiling: a workgroup of 16·RG threads computes a (4·RG) × 64 output tile; each thread a 4 × 4
// micro-tile in four vec4 registers. K is walked in steps of 16 through two shared-memory tiles (x: 64 × 16, W: 64 × 16, stored
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

// RG row groups of 4 rows: the tile is BM = 4·RG rows × 64 columns, computed by 16·RG threads
// (RG = 16: 64 × 64 tiles for long windows; RG = 4: 16 × 64 tiles, less padding for short ones).
override RG: u32 = 16u;
const BN: u32 = 64u;
const BK: u32 = 16u;

// Shared tiles as vec4 so the inner loop does two 16-byte loads per 16 FMAs: [BK][BM/4] (BM ≤ 64) and [BK][BN/4].
var<workgroup> xs: array<vec4<f32>, 256>;
var<workgroup> ws: array<vec4<f32>, 256>;

fn gelu_new(v: f32) -> f32 {
    // GPT-2's tanh approximation; tanh written via exp of a clamped argument (tanh(±10) = ±1 in f32).
    let u = clamp(0.7978846 * (v + 0.044715 * v * v * v), -10.0, 10.0);
    let e = exp(2.0 * u);
    return 0.5 * v * (1.0 + (e - 1.0) / (e + 1.0));
}

fn silu(v: f32) -> f32 {
    return v / (1.0 + exp(-v));
}

fn epilogue(gm: u32, j: u32, acc: vec4<f32>) {
    if (gm >= p.m) {
        return;
    }
    for (var c = 0u; c < 4u; c++) {
        let gj = j + c;
        if (gj < p.nc) {
            let n = p.n0 + gj;
            let o = gm * p.n + n;
            var v = acc[c];
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

@compute @workgroup_size(16u * RG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let tx = lid % 16u; // column group: cols tx*4 .. tx*4+3
    let ty = lid / 16u; // row group: rows ty*4 .. ty*4+3
    let BM = 4u * RG;
    let nt = 16u * RG;
    let m0 = wid.y * BM;
    let j0 = wid.x * BN;
    // The 4 × 4 micro-tile as four vec4 rows: plain registers, no indexed private array.
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var k0 = 0u; k0 < p.k; k0 += BK) {
        // BM × 16 values of x and 64 × 16 of W per step; consecutive threads read consecutive k (coalesced).
        for (var e = lid; e < BM * BK; e += nt) {
            let row = e / BK;
            let kk = e % BK;
            let gk = k0 + kk;
            let gm = m0 + row;
            var xv = 0.0;
            if (gm < p.m && gk < p.k) {
                xv = x[gm * p.k + gk];
            }
            xs[kk * 16u + row / 4u][row % 4u] = xv;
        }
        for (var e = lid; e < BN * BK; e += nt) {
            let row = e / BK;
            let kk = e % BK;
            let gk = k0 + kk;
            let gj = j0 + row;
            var wv = 0.0;
            if (gj < p.nc && gk < p.k) {
                wv = wload(gj * p.k + gk);
            }
            ws[kk * 16u + row / 4u][row % 4u] = wv;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            let a = xs[kk * 16u + ty];
            let b = ws[kk * 16u + tx];
            acc0 += a.x * b;
            acc1 += a.y * b;
            acc2 += a.z * b;
            acc3 += a.w * b;
        }
        workgroupBarrier();
    }
    let gm = m0 + ty * 4u;
    let j = j0 + tx * 4u;
    epilogue(gm, j, acc0);
    epilogue(gm + 1u, j, acc1);
    epilogue(gm + 2u, j, acc2);
    epilogue(gm + 3u, j, acc3);
}

// Variant for software adapters (lavapipe, WARP): no workgroup memory and no barriers, which a CPU
// driver emulates slowly; each thread reads its 4 rows of x and 4 rows of W straight from the buffers
// (edges clamped to valid rows, stores skipped). Same micro-tile and epilogue; tile (4·RG) × 64.
@compute @workgroup_size(16u * RG)
fn direct(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let tx = lid % 16u;
    let ty = lid / 16u;
    let gm = wid.y * 4u * RG + ty * 4u;
    let j = wid.x * BN + tx * 4u;
    if (gm >= p.m || j >= p.nc) {
        return;
    }
    let last_m = p.m - 1u;
    let last_j = p.nc - 1u;
    let x0 = min(gm, last_m) * p.k;
    let x1 = min(gm + 1u, last_m) * p.k;
    let x2 = min(gm + 2u, last_m) * p.k;
    let x3 = min(gm + 3u, last_m) * p.k;
    let w0 = min(j, last_j) * p.k;
    let w1 = min(j + 1u, last_j) * p.k;
    let w2 = min(j + 2u, last_j) * p.k;
    let w3 = min(j + 3u, last_j) * p.k;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var k = 0u; k < p.k; k++) {
        let b = vec4<f32>(wload(w0 + k), wload(w1 + k), wload(w2 + k), wload(w3 + k));
        acc0 += x[x0 + k] * b;
        acc1 += x[x1 + k] * b;
        acc2 += x[x2 + k] * b;
        acc3 += x[x3 + k] * b;
    }
    epilogue(gm, j, acc0);
    epilogue(gm + 1u, j, acc1);
    epilogue(gm + 2u, j, acc2);
    epilogue(gm + 3u, j, acc3);
}
