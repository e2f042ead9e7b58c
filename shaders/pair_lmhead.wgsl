// The fused pair reduction (src/gpu/pair.rs; its CPU reference is src/pair/reduce.rs): the logit rows
// of model A and model B (one vocabulary) for the same positions, [r, vocab] each, read together and
// reduced online with max-rescaling to, per row and per model X (y = the other model's logits):
//   m = max x,  S0 = Σ e^(x−m),  S1 = Σ e^(x−m)(x−m),  D = Σ e^(x−m)(x − y),
//   the count of x > x_target (the rank − 1) and the top-k (logit, id) list (ties to the lower id).
// The host turns them into entropies, KL both ways and the cross-entropy in f64 (reduce.rs's formulas).
// When m grows by c = m_old − m_new < 0 the sums move with r = e^c:
//   S0 ← r S0,  S1 ← r (S1 + c S0),  D ← r D.
//
// Two entry points:
//  - `tile`: workgroup (g, row) of 64 threads covers the ids g·64·S .. (g+1)·64·S of one row; thread j
//    folds ids g·64·S + j + 64·i (i < S: neighbouring threads read neighbouring logits) into its
//    record, in f32 (each thread's S terms are one block of a blocked sum). Records per row: nrec.
//  - `merge`: one thread per row folds that row's records (same formulas, top-k by insertion) and
//    writes [A: m, S0, S1, D, count, z_t | B: the same] (PAIR_OUT_HEAD words), then A's and B's k × (logit, id).
// Ids and counts travel through f32 arrays as bit patterns (bitcast).

struct PairParams {
    r: u32,      // rows in this block
    vocab: u32,  // logits per row
    k: u32,      // top-k kept (≥ 1: the argmax)
    nrec: u32,   // records per row
    cap_a: f32,  // final-logit soft-cap of A, c · tanh(z / c) (Gemma 2); 0: none
    cap_b: f32,  // the same for B
    _p0: u32,
    _p1: u32,
}

const S: u32 = 64u;            // ids per thread in `tile` (src/gpu/pair.rs PAIR_IDS_PER_THREAD)
const KMAX: u32 = 16u;         // largest top-k (src/gpu/pair.rs, = LM_KMAX)
const REC_HEAD: u32 = 10u;     // record words before the two k × (logit, id) lists
const OUT_HEAD: u32 = 12u;     // merged words before the two lists
const NO_ID: u32 = 0xffffffffu;
const NEG: f32 = -3.0e38;

@group(0) @binding(0) var<uniform> p: PairParams;
@group(0) @binding(1) var<storage, read> za: array<f32>;
@group(0) @binding(2) var<storage, read> zb: array<f32>;
@group(0) @binding(3) var<storage, read> targets: array<u32>;
@group(0) @binding(4) var<storage, read_write> part: array<f32>;
@group(0) @binding(5) var<storage, read_write> merged: array<f32>;

struct Side {
    m: f32,
    s0: f32,
    s1: f32,
    d: f32,
}

// Moves `a` onto max `mn` (≥ a.m).
fn recentre(a: Side, mn: f32) -> Side {
    if (a.s0 == 0.0) {
        return Side(mn, 0.0, 0.0, 0.0);
    }
    let c = a.m - mn;
    let r = exp(c);
    return Side(mn, r * a.s0, r * (a.s1 + c * a.s0), r * a.d);
}

fn merge_side(a: Side, b: Side) -> Side {
    if (b.s0 == 0.0) {
        return a;
    }
    if (a.s0 == 0.0) {
        return b;
    }
    let mn = max(a.m, b.m);
    let x = recentre(a, mn);
    let y = recentre(b, mn);
    return Side(mn, x.s0 + y.s0, x.s1 + y.s1, x.d + y.d);
}

// Adds logit x (the other model's y) to the running sums.
fn fold(a: Side, x: f32, y: f32) -> Side {
    var s = a;
    if (x > s.m) {
        s = recentre(s, x);
    }
    let c = x - s.m;
    let e = exp(c);
    s.s0 += e;
    s.s1 += e * c;
    s.d += e * (x - y);
    return s;
}

// Two sorted top-k lists, A's and B's.
var<private> ta_z: array<f32, KMAX>;
var<private> ta_i: array<u32, KMAX>;
var<private> tb_z: array<f32, KMAX>;
var<private> tb_i: array<u32, KMAX>;

fn better(z: f32, id: u32, z2: f32, id2: u32) -> bool {
    return z > z2 || (z == z2 && id < id2);
}

fn push_a(z: f32, id: u32) {
    let k = p.k;
    if (!better(z, id, ta_z[k - 1u], ta_i[k - 1u])) {
        return;
    }
    var i = k - 1u;
    loop {
        if (i == 0u || !better(z, id, ta_z[i - 1u], ta_i[i - 1u])) {
            break;
        }
        ta_z[i] = ta_z[i - 1u];
        ta_i[i] = ta_i[i - 1u];
        i -= 1u;
    }
    ta_z[i] = z;
    ta_i[i] = id;
}

fn push_b(z: f32, id: u32) {
    let k = p.k;
    if (!better(z, id, tb_z[k - 1u], tb_i[k - 1u])) {
        return;
    }
    var i = k - 1u;
    loop {
        if (i == 0u || !better(z, id, tb_z[i - 1u], tb_i[i - 1u])) {
            break;
        }
        tb_z[i] = tb_z[i - 1u];
        tb_i[i] = tb_i[i - 1u];
        i -= 1u;
    }
    tb_z[i] = z;
    tb_i[i] = id;
}

fn clear_lists() {
    for (var i = 0u; i < KMAX; i++) {
        ta_z[i] = NEG;
        ta_i[i] = NO_ID;
        tb_z[i] = NEG;
        tb_i[i] = NO_ID;
    }
}

// A logit as the model's distribution sees it: soft-capped where the model caps its final logits.
fn capped(z: f32, c: f32) -> f32 {
    return select(z, c * tanh(z / c), c > 0.0);
}

@compute @workgroup_size(64)
fn tile(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row = wid.y;
    if (row >= p.r) {
        return;
    }
    let base = row * p.vocab;
    let t = targets[row];
    let zta = capped(za[base + t], p.cap_a);
    let ztb = capped(zb[base + t], p.cap_b);
    var a = Side(NEG, 0.0, 0.0, 0.0);
    var b = Side(NEG, 0.0, 0.0, 0.0);
    var above_a = 0u;
    var above_b = 0u;
    clear_lists();
    let v0 = wid.x * 64u * S + lid;
    for (var i = 0u; i < S; i++) {
        let v = v0 + 64u * i;
        if (v >= p.vocab) {
            break;
        }
        let x = capped(za[base + v], p.cap_a);
        let y = capped(zb[base + v], p.cap_b);
        a = fold(a, x, y);
        b = fold(b, y, x);
        above_a += u32(x > zta);
        above_b += u32(y > ztb);
        if (x >= ta_z[p.k - 1u]) {
            push_a(x, v);
        }
        if (y >= tb_z[p.k - 1u]) {
            push_b(y, v);
        }
    }
    let stride = REC_HEAD + 4u * p.k;
    let o = (row * p.nrec + wid.x * 64u + lid) * stride;
    part[o] = a.m;
    part[o + 1u] = a.s0;
    part[o + 2u] = a.s1;
    part[o + 3u] = a.d;
    part[o + 4u] = bitcast<f32>(above_a);
    part[o + 5u] = b.m;
    part[o + 6u] = b.s0;
    part[o + 7u] = b.s1;
    part[o + 8u] = b.d;
    part[o + 9u] = bitcast<f32>(above_b);
    for (var i = 0u; i < p.k; i++) {
        part[o + REC_HEAD + 2u * i] = ta_z[i];
        part[o + REC_HEAD + 2u * i + 1u] = bitcast<f32>(ta_i[i]);
        part[o + REC_HEAD + 2u * p.k + 2u * i] = tb_z[i];
        part[o + REC_HEAD + 2u * p.k + 2u * i + 1u] = bitcast<f32>(tb_i[i]);
    }
}

@compute @workgroup_size(64)
fn merge(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.x;
    if (row >= p.r) {
        return;
    }
    let stride = REC_HEAD + 4u * p.k;
    var a = Side(NEG, 0.0, 0.0, 0.0);
    var b = Side(NEG, 0.0, 0.0, 0.0);
    var above_a = 0u;
    var above_b = 0u;
    clear_lists();
    for (var q = 0u; q < p.nrec; q++) {
        let o = (row * p.nrec + q) * stride;
        a = merge_side(a, Side(part[o], part[o + 1u], part[o + 2u], part[o + 3u]));
        above_a += bitcast<u32>(part[o + 4u]);
        b = merge_side(b, Side(part[o + 5u], part[o + 6u], part[o + 7u], part[o + 8u]));
        above_b += bitcast<u32>(part[o + 9u]);
        for (var i = 0u; i < p.k; i++) {
            let id = bitcast<u32>(part[o + REC_HEAD + 2u * i + 1u]);
            if (id == NO_ID) {
                break;
            }
            push_a(part[o + REC_HEAD + 2u * i], id);
        }
        for (var i = 0u; i < p.k; i++) {
            let id = bitcast<u32>(part[o + REC_HEAD + 2u * p.k + 2u * i + 1u]);
            if (id == NO_ID) {
                break;
            }
            push_b(part[o + REC_HEAD + 2u * p.k + 2u * i], id);
        }
    }
    let t = targets[row];
    let os = OUT_HEAD + 4u * p.k;
    let o = row * os;
    merged[o] = a.m;
    merged[o + 1u] = a.s0;
    merged[o + 2u] = a.s1;
    merged[o + 3u] = a.d;
    merged[o + 4u] = bitcast<f32>(above_a);
    merged[o + 5u] = za[row * p.vocab + t];
    merged[o + 6u] = b.m;
    merged[o + 7u] = b.s0;
    merged[o + 8u] = b.s1;
    merged[o + 9u] = b.d;
    merged[o + 10u] = bitcast<f32>(above_b);
    merged[o + 11u] = zb[row * p.vocab + t];
    for (var i = 0u; i < p.k; i++) {
        merged[o + OUT_HEAD + 2u * i] = ta_z[i];
        merged[o + OUT_HEAD + 2u * i + 1u] = bitcast<f32>(ta_i[i]);
        merged[o + OUT_HEAD + 2u * p.k + 2u * i] = tb_z[i];
        merged[o + OUT_HEAD + 2u * p.k + 2u * i + 1u] = bitcast<f32>(tb_i[i]);
    }
}
