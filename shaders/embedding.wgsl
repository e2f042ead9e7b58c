// Embedding gather (prepended: weights_f32.wgsl or weights_f16.wgsl, binding `w` = one row-chunk of the
// token embedding [rows, h] holding vocabulary rows row0 .. row0+rows).
//   out[t, :] = E[ids[t], :] (+ P[t, :], GPT-2's learned positions)
// A table too large for one binding is split into row chunks, one dispatch per chunk; each token's row
// is written by the one dispatch whose chunk holds its id. Grid: (ceil(h / WG), tokens) with tokens
// folded as y + 65535·z past the per-dimension limit.

struct Params {
    t: u32,
    h: u32,
    row0: u32,
    rows: u32,
    has_pos: u32,
    _p0: u32,
    _p1: u32,
    _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read> pos: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let tok = wid.y + wid.z * 65535u;
    let c = wid.x * WG + lid;
    if (tok >= p.t || c >= p.h) {
        return;
    }
    let id = ids[tok];
    if (id < p.row0 || id >= p.row0 + p.rows) {
        return;
    }
    var v = wload((id - p.row0) * p.h + c);
    if (p.has_pos != 0u) {
        v += pos[tok * p.h + c];
    }
    out[tok * p.h + c] = v;
}
