// Q4_0, 32 elements in 18 bytes: { f16 d; u8 qs[16]; }; byte j holds element j (low nibble) and
// j + 16 (high nibble); y = d · (nibble − 8).
fn wload4(i: u32) -> vec4<f32> {
    let base = (i / 32u) * 18u;
    let o = i % 32u;
    let q = (wword(base + 2u + o % 16u) >> (4u * (o / 16u))) & 0x0f0f0f0fu;
    return (bytes4(q) - 8.0) * wf16(base);
}
