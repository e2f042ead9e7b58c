// Rotary position embedding, rotate-half (Hugging Face layout), in place on the fused qkv buffer
// [t, stride]: q heads at columns 0 .. nh·hd, k heads at koff .. koff + nkv·hd. For pair i < hd/2:
//   (x_i, x_{i+hd/2}) ← (x_i cos − x_{i+hd/2} sin, x_{i+hd/2} cos + x_i sin)
// cos/sin come from tables [t, hd/2] computed on the host in f64 (pos · theta^(−2i/hd)): f32 sin/cos of
// angles in the thousands of radians would lose ~1e-4 of precision.
// Grid: (ceil((nh + nkv) · hd/2 / WG), t), t folded as y + 65535·z past the per-dimension limit.

struct Params {
    t: u32,
    stride: u32,
    nh: u32,
    nkv: u32,
    hd: u32,
    koff: u32,
    _p0: u32,
    _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> cos_t: array<f32>;
@group(0) @binding(3) var<storage, read> sin_t: array<f32>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let tok = wid.y + wid.z * 65535u;
    let half = p.hd / 2u;
    let e = wid.x * WG + lid;
    if (tok >= p.t || e >= (p.nh + p.nkv) * half) {
        return;
    }
    let head = e / half;
    let i = e % half;
    var col = head * p.hd;
    if (head >= p.nh) {
        col = p.koff + (head - p.nh) * p.hd;
    }
    let a = tok * p.stride + col + i;
    let b = a + half;
    let c = cos_t[tok * half + i];
    let s = sin_t[tok * half + i];
    let x0 = qkv[a];
    let x1 = qkv[b];
    qkv[a] = x0 * c - x1 * s;
    qkv[b] = x1 * c + x0 * s;
}
