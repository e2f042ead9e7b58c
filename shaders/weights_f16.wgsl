// Weight storage, f16 (needs SHADER_F16): F16 and BF16 tensors under `--dtype auto`, any float tensor
// under `--dtype f16`. `w` is declared by the generated contract (src/gpu/contract.rs) as
// array<vec4<f16>>: one load brings 4 halves, converted to one vec4<f32>; every product and sum is
// f32. Chunks are padded with zeros to whole vec4s (forward::upload_matrix_split).
enable f16;

fn wload(i: u32) -> f32 {
    return f32(w[i >> 2u][i & 3u]);
}

// Elements i .. i+3 of one row. Rows whose length is a multiple of 4 (every real model's) start on a
// vec4, so the core's loads (k a multiple of 4) are single vec4<f16> loads; other rows straddle two.
fn wload4(i: u32) -> vec4<f32> {
    if ((i & 3u) == 0u) {
        return vec4<f32>(w[i >> 2u]);
    }
    return vec4<f32>(wload(i), wload(i + 1u), wload(i + 2u), wload(i + 3u));
}
