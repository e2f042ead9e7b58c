// The matmul core shared by matmul.wgsl and lmhead.wgsl (after the contract, before the kernel):
//
//   acc[i][j] = Σ_k X(m0 + ty + TY·i, k) · W(j0 + tx + MM_TX·j, k)      i < TM, j < MM_TN
//
// for one BM × MM_BN output tile (BM = TM·TY) computed by MM_TX·TY threads; thread (ty, tx) =
// (lid / MM_TX, lid % MM_TX). Rows and columns are strided over the threads, so the lanes of a warp
// touch consecutive tile rows. The kernel defines `xload(m, k)` (activation row m, unchecked) and
// `wrow(j)` (the weight row behind tile column j: j itself, or a permutation — matmul.wgsl's SwiGLU
// puts gate and up rows side by side); W is read through the weight reader (`wload4` / `wload`,
// shaders/weights_*.wgsl) as rows of length kdim. Rows ≥ mrows, weight rows ≥ ncols and k ≥ kdim load
// zeros; the kernel skips their stores.
//
// Shared memory holds the x tile [BM][MM_BK] and the W tile [MM_BN][MM_BK], both `[row][k]` with one
// vec4 of padding per row (MM_SV = 9 vec4 per row; `mm_slot`): a warp reading 8 consecutive rows at
// the same k touches 8 different 16-byte bank groups (tests/gpu/bank_conflicts.rs checks every access).
// K advances MM_BK = 32 at a time; the next step's tiles are loaded into registers (xr, wr) while the
// current one is multiplied, then stored to shared memory between two barriers.

// Rows per thread and thread rows: the tile shape (contract's MM_TILES / LM_TILES).
override TM: u32 = 8u;
override TY: u32 = 8u;

var<workgroup> mm_s: array<vec4<f32>, MM_SMEM_VEC4>;
var<private> acc: array<vec4<f32>, MM_TM_MAX>;
var<private> xr: array<vec4<f32>, MM_XR_MAX>;
var<private> wr: array<vec4<f32>, MM_WR_MAX>;

// 1 / sqrt(mean x[base .. base+n]² + eps): the RMSNorm scale of the x row starting at `base` (one
// thread per row), for the kernels that fold an RMSNorm into their x loads.
fn rms_scale_at(base: u32, n: u32, eps: f32) -> f32 {
    var s2 = 0.0;
    for (var k = 0u; k < n; k++) {
        let v = x[base + k];
        s2 += v * v;
    }
    return 1.0 / sqrt(s2 / f32(n) + eps);
}

// x[m, k .. k+3] (zeros past mrows / kdim).
fn mm_x4(m: u32, k: u32, mrows: u32, kdim: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    if (m < mrows) {
        if (k + 3u < kdim) {
            v = vec4<f32>(xload(m, k), xload(m, k + 1u), xload(m, k + 2u), xload(m, k + 3u));
        } else {
            for (var c = 0u; c < 4u; c++) {
                if (k + c < kdim) {
                    v[c] = xload(m, k + c);
                }
            }
        }
    }
    return v;
}

// W[j, k .. k+3] (zeros past ncols / kdim).
fn mm_w4(j: u32, k: u32, ncols: u32, kdim: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    if (j < ncols) {
        let i = j * kdim + k;
        if (k + 3u < kdim) {
            v = wload4(i);
        } else {
            for (var c = 0u; c < 4u; c++) {
                if (k + c < kdim) {
                    v[c] = wload(i + c);
                }
            }
        }
    }
    return v;
}

// Global → registers: the tiles of the K step at k0. Load e covers row e / (MM_BK/4), k-quad e % (MM_BK/4):
// 8 consecutive lanes read 32 consecutive floats of one row.
fn mm_fetch(lid: u32, m0: u32, mrows: u32, j0: u32, ncols: u32, kdim: u32, k0: u32) {
    let nt = MM_TX * TY;
    let qs = MM_BK / 4u;
    for (var i = 0u; i < TM * TY * qs / nt; i++) {
        let e = lid + i * nt;
        xr[i] = mm_x4(m0 + e / qs, k0 + 4u * (e % qs), mrows, kdim);
    }
    for (var i = 0u; i < MM_BN * qs / nt; i++) {
        let e = lid + i * nt;
        wr[i] = mm_w4(wrow(j0 + e / qs), k0 + 4u * (e % qs), ncols, kdim);
    }
}

// Registers → shared memory, in the same order.
fn mm_stash(lid: u32) {
    let nt = MM_TX * TY;
    let qs = MM_BK / 4u;
    for (var i = 0u; i < TM * TY * qs / nt; i++) {
        let e = lid + i * nt;
        mm_s[mm_slot(e / qs, e % qs)] = xr[i];
    }
    for (var i = 0u; i < MM_BN * qs / nt; i++) {
        let e = lid + i * nt;
        mm_s[MM_WOFF + mm_slot(e / qs, e % qs)] = wr[i];
    }
}

// acc += x tile · W tileᵀ for this thread's TM × MM_TN outputs: per k-quad, TM + MM_TN vec4 reads
// for 4·TM·MM_TN FMAs.
fn mm_multiply(lid: u32) {
    let tx = lid % MM_TX;
    let ty = lid / MM_TX;
    for (var kq = 0u; kq < MM_BK / 4u; kq++) {
        let b0 = mm_s[MM_WOFF + mm_slot(tx, kq)];
        let b1 = mm_s[MM_WOFF + mm_slot(tx + MM_TX, kq)];
        let b2 = mm_s[MM_WOFF + mm_slot(tx + 2u * MM_TX, kq)];
        let b3 = mm_s[MM_WOFF + mm_slot(tx + 3u * MM_TX, kq)];
        for (var i = 0u; i < TM; i++) {
            let a = mm_s[mm_slot(ty + TY * i, kq)];
            acc[i] += vec4<f32>(dot(a, b0), dot(a, b1), dot(a, b2), dot(a, b3));
        }
    }
}

// The whole tile: acc[i][j] for rows m0 + ty + TY·i and columns j0 + tx + MM_TX·j. Call from uniform
// control flow (it has barriers); ends with the last multiply, so a kernel that reuses mm_s
// afterwards must put a barrier first.
fn mm_tile(lid: u32, m0: u32, mrows: u32, j0: u32, ncols: u32, kdim: u32) {
    for (var i = 0u; i < MM_TM_MAX; i++) {
        acc[i] = vec4<f32>(0.0);
    }
    mm_fetch(lid, m0, mrows, j0, ncols, kdim, 0u);
    for (var k0 = 0u; k0 < kdim; k0 += MM_BK) {
        workgroupBarrier(); // everyone is done reading the previous step's tiles
        mm_stash(lid);
        workgroupBarrier();
        if (k0 + MM_BK < kdim) {
            mm_fetch(lid, m0, mrows, j0, ncols, kdim, k0 + MM_BK); // in flight during the multiply
        }
        mm_multiply(lid);
    }
}
