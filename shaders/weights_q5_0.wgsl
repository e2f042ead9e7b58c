// Q5_0, 32 elements in 22 bytes: { f16 d; u8 qh[4]; u8 qs[16]; }: nibbles as Q4_0, bit j of the
// little-endian u32 qh is the 5th bit of element j; y = d · (q − 16).
fn wload4(i: u32) -> vec4<f32> {
    let base = (i / 32u) * 22u;
    let o = i % 32u;
    let qh = (wword(base + 2u) >> o) & 0xfu; // 5th bits of elements o .. o+3
    let hi = (qh & 1u) | ((qh & 2u) << 7u) | ((qh & 4u) << 14u) | ((qh & 8u) << 21u);
    let q = ((wword(base + 6u + o % 16u) >> (4u * (o / 16u))) & 0x0f0f0f0fu) | (hi << 4u);
    return (bytes4(q) - 16.0) * wf16(base);
}
