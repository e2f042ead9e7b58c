// F16 weights as u32 words (two per word), for adapters without SHADER_F16 (and files' F16 tensors):
// unpack2x16float is an exact conversion. Rows may have any length, so elements are read one by one.
fn wf16_at(i: u32) -> f32 {
    return unpack2x16float(w[i >> 1u])[i & 1u];
}

fn wload4(i: u32) -> vec4<f32> {
    return vec4<f32>(wf16_at(i), wf16_at(i + 1u), wf16_at(i + 2u), wf16_at(i + 3u));
}
