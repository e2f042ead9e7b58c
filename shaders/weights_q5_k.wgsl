// Q5_K, 256 elements in 176 bytes: { f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]; }: Q4_K
// plus a 5th bit per element, bit j (= o / 32) of qh[o % 32]; y = (d · sc) · q − dmin · m.
fn wload4(i: u32) -> vec4<f32> {
    let base = (i / 256u) * 176u;
    let o = i % 256u;
    let j = o / 32u;
    let dm = unpack2x16float(w[base / 4u]);
    let s = base + 4u;
    var sc: u32;
    var m: u32;
    if (j < 4u) {
        sc = wbyte(s + j) & 63u;
        m = wbyte(s + j + 4u) & 63u;
    } else {
        sc = (wbyte(s + j + 4u) & 0x0fu) | ((wbyte(s + j - 4u) >> 6u) << 4u);
        m = (wbyte(s + j + 4u) >> 4u) | ((wbyte(s + j) >> 6u) << 4u);
    }
    let hi = (w[(base + 16u + o % 32u) / 4u] >> j) & 0x01010101u;
    let q = ((w[(base + 48u + 32u * (o / 64u) + o % 32u) / 4u] >> (4u * (j % 2u))) & 0x0f0f0f0fu) | (hi << 4u);
    return (dm.x * f32(sc)) * bytes4(q) - dm.y * f32(m);
}
