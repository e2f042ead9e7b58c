// Q6_K, 256 elements in 210 bytes: { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d; }. Element
// o = 128·h + 32·g + l (g < 4, l < 32): 4 low bits from ql[64h + l + 32·(g % 2)] (nibble g / 2),
// 2 high bits from qh[32h + l] bits 2g .. 2g+1, scale scales[8h + l / 16 + 2g]; y = d · scale · (q − 32).
fn wload4(i: u32) -> vec4<f32> {
    let base = (i / 256u) * 210u;
    let o = i % 256u;
    let h = o / 128u;
    let g = (o % 128u) / 32u;
    let l = o % 32u;
    let lo = (wword(base + 64u * h + l + 32u * (g % 2u)) >> (4u * (g / 2u))) & 0x0f0f0f0fu;
    let hi = (wword(base + 128u + 32u * h + l) >> (2u * g)) & 0x03030303u;
    let sc = f32(extractBits(bitcast<i32>(wbyte(base + 192u + 8u * h + l / 16u + 2u * g)), 0u, 8u));
    return (wf16(base + 208u) * sc) * (bytes4(lo | (hi << 4u)) - 32.0);
}
