// Q5_1, 32 elements in 24 bytes: { f16 d; f16 m; u8 qh[4]; u8 qs[16]; }, bits as Q5_0; y = d · q + m.
fn wload4(i: u32) -> vec4<f32> {
    let base = (i / 32u) * 24u;
    let o = i % 32u;
    let dm = unpack2x16float(w[base / 4u]);
    let qh = (w[base / 4u + 1u] >> o) & 0xfu;
    let hi = (qh & 1u) | ((qh & 2u) << 7u) | ((qh & 4u) << 14u) | ((qh & 8u) << 21u);
    let q = ((w[base / 4u + 2u + (o % 16u) / 4u] >> (4u * (o / 16u))) & 0x0f0f0f0fu) | (hi << 4u);
    return bytes4(q) * dm.x + dm.y;
}
