// F32 weights read as u32 words (a stored F32 tensor; the usual path binds array<f32> instead).
fn wload4(i: u32) -> vec4<f32> {
    return vec4<f32>(bitcast<f32>(w[i]), bitcast<f32>(w[i + 1u]), bitcast<f32>(w[i + 2u]), bitcast<f32>(w[i + 3u]));
}
