// BF16 weights as u32 words (two per word): a bf16 is the top half of an f32 (bits << 16).
fn wbf16_at(i: u32) -> f32 {
    return bitcast<f32>(((w[i >> 1u] >> ((i & 1u) * 16u)) & 0xffffu) << 16u);
}

fn wload4(i: u32) -> vec4<f32> {
    return vec4<f32>(wbf16_at(i), wbf16_at(i + 1u), wbf16_at(i + 2u), wbf16_at(i + 3u));
}
