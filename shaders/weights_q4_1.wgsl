// Q4_1, 32 elements in 20 bytes: { f16 d; f16 m; u8 qs[16]; }, nibbles as Q4_0; y = d · nibble + m.
fn wload4(i: u32) -> vec4<f32> {
    let base = (i / 32u) * 20u;
    let o = i % 32u;
    let dm = unpack2x16float(w[base / 4u]);
    let q = (wword(base + 4u + o % 16u) >> (4u * (o / 16u))) & 0x0f0f0f0fu;
    return bytes4(q) * dm.x + dm.y;
}
