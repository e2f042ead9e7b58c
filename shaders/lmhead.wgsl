// The fused lm-head and its reductions (prepended: weights_f32.wgsl or weights_f16.wgsl, binding `w` =
// one row-chunk [vc, h] of the output projection holding vocabulary ids v0 .. v0+vc).
// The [rows × vocab] logits never exist in memory: each workgroup computes logit tiles and folds them
// at once into per-row running statistics.
//
// Three entry points:
//  - `target_logit`: z_t[r] = x[row0 + r] · W[target[r]] + b; one workgroup per row, in the chunk that holds the target.
//  - `tile`: a workgroup of 16·RG threads owns BM = 4·RG rows × (NT · 64) vocabulary columns. Each BM × 64 logit
//    tile is computed exactly as matmul.wgsl does (4 × 4 register micro-tiles, K in steps of 16 through
//    workgroup memory), staged once through workgroup memory (zs, 16 KiB), and then thread (row, cg)
//    folds the 16 logits of columns cg·16 .. cg·16+15 of its row into its running record:
//      m (max), S0 = Σ e^(z−m), S1 = Σ e^(z−m)(z−m), S2 = Σ e^(z−m)(z−m)², the count of z > z_t
//      (the target itself excluded), and its top-k (logit, id) list (ties to the lower id).
//    When m grows by c = m_old − m_new < 0 the sums move with r = e^c:
//      S0 ← r S0, S1 ← r (S1 + c S0), S2 ← r (S2 + 2c S1 + c² S0)   (LogitSums::merge's formulas).
//    Each thread writes its record: records per row = 4 × (vocabulary blocks of NT · 64).
//  - `merge`: one thread per row folds that row's records (same formulas, top-k by insertion) and
//    writes [m, S0, S1, S2, count, z_t, k × (logit, id)]; the host turns them into entropy, etc. in f64.
// Ids and counts travel through f32 arrays as bit patterns (bitcast).

struct Params {
    r: u32,      // rows (scored positions)
    h: u32,      // hidden size
    row0: u32,   // hidden row of the first scored position
    v0: u32,     // first vocabulary id of this chunk
    vc: u32,     // vocabulary ids in this chunk
    block0: u32, // first 2048-id vocabulary block of this chunk (tile)
    nrec: u32,   // records per row
    k: u32,      // top-k
    has_bias: u32,
    _p0: u32,
    _p1: u32,
    _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> targets: array<u32>;
@group(0) @binding(5) var<storage, read_write> zt: array<f32>;
@group(0) @binding(6) var<storage, read_write> part: array<f32>;
@group(0) @binding(7) var<storage, read_write> merged: array<f32>;

const NT: u32 = 32u;     // 64-column tiles per workgroup: each workgroup covers 2048 vocabulary ids
const KMAX: u32 = 16u;   // largest top-k the kernels keep
const NEG: f32 = -3.0e38;
const NO_ID: u32 = 0xffffffffu;

var<workgroup> xs: array<vec4<f32>, 256>; // x tile [16 k][64 rows / 4]
var<workgroup> ws: array<vec4<f32>, 256>; // W tile [16 k][64 columns / 4]
var<workgroup> zs: array<vec4<f32>, 1024>; // logit tile [64 rows][64 columns / 4]
var<workgroup> red: array<f32, 256>;

// ---- target logits ----

@compute @workgroup_size(256)
fn target_logit(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let r = wid.x + wid.y * 65535u;
    if (r >= p.r) {
        return;
    }
    let id = targets[r];
    if (id < p.v0 || id >= p.v0 + p.vc) {
        return; // uniform: another chunk's dispatch owns this row
    }
    var s = 0.0;
    for (var i = lid; i < p.h; i += 256u) {
        s += x[(p.row0 + r) * p.h + i] * wload((id - p.v0) * p.h + i);
    }
    red[lid] = s;
    workgroupBarrier();
    for (var st = 128u; st > 0u; st = st / 2u) {
        if (lid < st) {
            red[lid] += red[lid + st];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        var z = red[0];
        if (p.has_bias != 0u) {
            z += bias[id];
        }
        zt[r] = z;
    }
}

// ---- running state shared by `tile` and `merge` ----

struct Sums {
    m: f32,
    s0: f32,
    s1: f32,
    s2: f32,
}

// Moves `a` onto max `mn` (≥ a.m).
fn recentre(a: Sums, mn: f32) -> Sums {
    if (a.s0 == 0.0) {
        return Sums(mn, 0.0, 0.0, 0.0);
    }
    let c = a.m - mn;
    let r = exp(c);
    return Sums(mn, r * a.s0, r * (a.s1 + c * a.s0), r * (a.s2 + 2.0 * c * a.s1 + c * c * a.s0));
}

fn merge_sums(a: Sums, b: Sums) -> Sums {
    if (b.s0 == 0.0) {
        return a;
    }
    if (a.s0 == 0.0) {
        return b;
    }
    let mn = max(a.m, b.m);
    let x = recentre(a, mn);
    let y = recentre(b, mn);
    return Sums(mn, x.s0 + y.s0, x.s1 + y.s1, x.s2 + y.s2);
}

var<private> tz: array<f32, 16>;
var<private> ti: array<u32, 16>;

fn better(z: f32, id: u32, z2: f32, id2: u32) -> bool {
    return z > z2 || (z == z2 && id < id2);
}

// Inserts (z, id) into the sorted private list tz/ti of length k if it belongs there.
fn topk_push(z: f32, id: u32, k: u32) {
    if (k == 0u || !better(z, id, tz[k - 1u], ti[k - 1u])) {
        return;
    }
    var i = k - 1u;
    loop {
        if (i == 0u || !better(z, id, tz[i - 1u], ti[i - 1u])) {
            break;
        }
        tz[i] = tz[i - 1u];
        ti[i] = ti[i - 1u];
        i -= 1u;
    }
    tz[i] = z;
    ti[i] = id;
}

fn topk_clear() {
    for (var i = 0u; i < KMAX; i++) {
        tz[i] = NEG;
        ti[i] = NO_ID;
    }
}

// ---- logit tiles reduced on the spot ----

// The running record of this thread's row (module-scope so the fold helpers can update it).
var<private> st: Sums;
var<private> above: u32;
var<private> zt_r: f32;
var<private> tgt: u32;
var<private> worst: f32; // tz[k − 1]: most logits are rejected by one compare against it


// Masked max of 4 logits at chunk-local columns c .. c+3 (bias added in place).
fn prep4(c: u32, v: ptr<function, vec4<f32>>) -> f32 {
    var m = NEG;
    for (var i = 0u; i < 4u; i++) {
        if (c + i < p.vc) {
            var z = (*v)[i];
            if (p.has_bias != 0u) {
                z += bias[p.v0 + c + i];
                (*v)[i] = z;
            }
            m = max(m, z);
        }
    }
    return m;
}

fn fold4(c: u32, v: vec4<f32>) {
    for (var i = 0u; i < 4u; i++) {
        if (c + i < p.vc) {
            let z = v[i];
            let id = p.v0 + c + i;
            let d = z - st.m;
            let e = exp(d);
            st.s0 += e;
            st.s1 += e * d;
            st.s2 += e * d * d;
            if (z > zt_r && id != tgt) {
                above += 1u;
            }
            if (p.k > 0u && z >= worst) {
                topk_push(z, id, p.k);
                worst = tz[p.k - 1u];
            }
        }
    }
}

// Row groups of 4 rows per tile, as in matmul.wgsl: BM = 4·RG rows, 16·RG threads.
override RG: u32 = 16u;
// Software adapters: compute the logit micro-tiles straight from the buffers (no x/W tiles in workgroup
// memory, no barriers in the K loop), as matmul.wgsl's `direct`.
override DIRECT: bool = false;

@compute @workgroup_size(16u * RG)
fn tile(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    // GEMM phase: thread (ty, tx) computes rows ty·4 .. +3 × columns tx·4 .. +3 of the 64 × 64 tile.
    let tx = lid % 16u;
    let ty = lid / 16u;
    // Fold phase: thread (row, cg) folds columns cg·16 .. cg·16 + 15 of one row into its record.
    let row = lid / 4u;
    let cg = lid % 4u;
    let BM = 4u * RG;
    let nt = 16u * RG;
    let m0 = wid.y * BM;
    let r = m0 + row;
    let live = r < p.r;
    zt_r = 0.0;
    tgt = NO_ID;
    if (live) {
        zt_r = zt[r];
        tgt = targets[r];
    }
    st = Sums(NEG, 0.0, 0.0, 0.0);
    above = 0u;
    topk_clear();
    worst = NEG;
    let vblock = wid.x * NT * 64u; // chunk-local first column of this workgroup

    for (var vt = 0u; vt < NT; vt++) {
        let c0 = vblock + vt * 64u;
        if (c0 >= p.vc) {
            break; // uniform
        }
        var a0 = vec4<f32>(0.0);
        var a1 = vec4<f32>(0.0);
        var a2 = vec4<f32>(0.0);
        var a3 = vec4<f32>(0.0);
        if (DIRECT) {
            let last_m = p.r - 1u;
            let last_c = p.vc - 1u;
            let x0 = (p.row0 + min(m0 + ty * 4u, last_m)) * p.h;
            let x1 = (p.row0 + min(m0 + ty * 4u + 1u, last_m)) * p.h;
            let x2 = (p.row0 + min(m0 + ty * 4u + 2u, last_m)) * p.h;
            let x3 = (p.row0 + min(m0 + ty * 4u + 3u, last_m)) * p.h;
            let cj = c0 + tx * 4u;
            let w0 = min(cj, last_c) * p.h;
            let w1 = min(cj + 1u, last_c) * p.h;
            let w2 = min(cj + 2u, last_c) * p.h;
            let w3 = min(cj + 3u, last_c) * p.h;
            for (var k = 0u; k < p.h; k++) {
                let b = vec4<f32>(wload(w0 + k), wload(w1 + k), wload(w2 + k), wload(w3 + k));
                a0 += x[x0 + k] * b;
                a1 += x[x1 + k] * b;
                a2 += x[x2 + k] * b;
                a3 += x[x3 + k] * b;
            }
        } else {
            for (var k0 = 0u; k0 < p.h; k0 += 16u) {
                for (var e = lid; e < BM * 16u; e += nt) {
                    let rr = e / 16u;
                    let kk = e % 16u;
                    let gk = k0 + kk;
                    var xv = 0.0;
                    if (m0 + rr < p.r && gk < p.h) {
                        xv = x[(p.row0 + m0 + rr) * p.h + gk];
                    }
                    xs[kk * 16u + rr / 4u][rr % 4u] = xv;
                }
                for (var e = lid; e < 64u * 16u; e += nt) {
                    let rr = e / 16u;
                    let kk = e % 16u;
                    let gk = k0 + kk;
                    var wv = 0.0;
                    if (c0 + rr < p.vc && gk < p.h) {
                        wv = wload((c0 + rr) * p.h + gk);
                    }
                    ws[kk * 16u + rr / 4u][rr % 4u] = wv;
                }
                workgroupBarrier();
                for (var kk = 0u; kk < 16u; kk++) {
                    let a = xs[kk * 16u + ty];
                    let b = ws[kk * 16u + tx];
                    a0 += a.x * b;
                    a1 += a.y * b;
                    a2 += a.z * b;
                    a3 += a.w * b;
                }
                workgroupBarrier();
            }
        }
        // The logit tile goes through workgroup memory once, from the GEMM layout to the fold layout.
        zs[(ty * 4u) * 16u + tx] = a0;
        zs[(ty * 4u + 1u) * 16u + tx] = a1;
        zs[(ty * 4u + 2u) * 16u + tx] = a2;
        zs[(ty * 4u + 3u) * 16u + tx] = a3;
        workgroupBarrier();
        if (live) {
            var z0 = zs[row * 16u + cg * 4u];
            var z1 = zs[row * 16u + cg * 4u + 1u];
            var z2 = zs[row * 16u + cg * 4u + 2u];
            var z3 = zs[row * 16u + cg * 4u + 3u];
            // Tile max first, so the running sums move at most once per tile.
            let c = c0 + cg * 16u;
            let mt = max(max(prep4(c, &z0), prep4(c + 4u, &z1)), max(prep4(c + 8u, &z2), prep4(c + 12u, &z3)));
            if (mt > st.m) {
                st = recentre(st, mt);
            }
            fold4(c, z0);
            fold4(c + 4u, z1);
            fold4(c + 8u, z2);
            fold4(c + 12u, z3);
        }
        workgroupBarrier();
    }
    if (live) {
        let stride = 5u + 2u * p.k;
        let rec = r * p.nrec + (p.block0 + wid.x) * 4u + cg;
        let b = rec * stride;
        part[b] = st.m;
        part[b + 1u] = st.s0;
        part[b + 2u] = st.s1;
        part[b + 3u] = st.s2;
        part[b + 4u] = bitcast<f32>(above);
        for (var i = 0u; i < p.k; i++) {
            part[b + 5u + 2u * i] = tz[i];
            part[b + 6u + 2u * i] = bitcast<f32>(ti[i]);
        }
    }
}

// ---- merge of the vocabulary blocks ----

@compute @workgroup_size(64)
fn merge(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.x;
    if (r >= p.r) {
        return;
    }
    let stride = 5u + 2u * p.k;
    var st = Sums(NEG, 0.0, 0.0, 0.0);
    var above = 0u;
    topk_clear();
    for (var q = 0u; q < p.nrec; q++) {
        let b = (r * p.nrec + q) * stride;
        st = merge_sums(st, Sums(part[b], part[b + 1u], part[b + 2u], part[b + 3u]));
        above += bitcast<u32>(part[b + 4u]);
        for (var i = 0u; i < p.k; i++) {
            let id = bitcast<u32>(part[b + 6u + 2u * i]);
            if (id == NO_ID) {
                break;
            }
            topk_push(part[b + 5u + 2u * i], id, p.k);
        }
    }
    let os = 6u + 2u * p.k;
    let o = r * os;
    merged[o] = st.m;
    merged[o + 1u] = st.s0;
    merged[o + 2u] = st.s1;
    merged[o + 3u] = st.s2;
    merged[o + 4u] = bitcast<f32>(above);
    merged[o + 5u] = zt[r];
    for (var i = 0u; i < p.k; i++) {
        merged[o + 6u + 2u * i] = tz[i];
        merged[o + 7u + 2u * i] = bitcast<f32>(ti[i]);
    }
}
